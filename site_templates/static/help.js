// ? lists the keys this page answers to.
(function () {
  "use strict";
  var kiln = window.kiln;
  if (!kiln || !kiln.gallery) return;

  var KEYS = [
    ["Enter, click", "open the focused thumbnail in the loupe"],
    ["← →", "previous and next image (in the loupe), else previous and next page"],
    ["Esc", "close the loupe, compare or this list"],
    ["Z, click", "fit the window or 100 %"],
    ["+ −, wheel", "zoom in and out; drag to pan"],
    ["I", "the image's provenance"],
    ["V, Shift+V", "next and previous view: all, unrated, picked, rejected, ★ ≥ N"],
    ["S", "mark the image for compare (two to four)"],
    ["C", "compare the marked images side by side"]
  ];
  var CULLING = [
    ["1 – 5, 0", "rate, or clear the rating"],
    ["P, X, U", "pick, reject, clear the pick or reject"],
    ["T", "add (+tag or tag) or remove (-tag) tags"],
    ["N", "edit the note"],
    ["Shift + any of these", "apply it, then move to the next image"],
    ["Ctrl+Z, ⌘Z", "undo the last change"]
  ];
  var dialog;

  function show() {
    if (!dialog) {
      dialog = kiln.el("dialog", "ask keys-help");
      dialog.setAttribute("aria-label", "Keys");
      var table = kiln.el("table");
      table.appendChild(kiln.el("caption", "ask-title", kiln.token ? "Keys" : "Keys (culling keys work under kiln serve)"));
      KEYS.concat(kiln.token ? CULLING : []).forEach(function (row) {
        var tr = kiln.el("tr");
        var th = kiln.el("th", null, row[0]);
        th.scope = "row";
        tr.append(th, kiln.el("td", null, row[1]));
        table.appendChild(tr);
      });
      var form = kiln.el("form");
      form.method = "dialog";
      var close = kiln.el("button", "view is-primary", "Close");
      form.append(table, close);
      dialog.appendChild(form);
      document.body.appendChild(dialog);
    }
    dialog.showModal();
  }

  window.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || kiln.typing(event) || event.key !== "?" || kiln.top()) return;
    event.preventDefault();
    show();
  });
  kiln.help = show;
})();
