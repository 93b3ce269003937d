// Compare: S marks two to four images of the page, C shows them side by side at the same
// zoom and pan (zooming or dragging one moves them all), Esc closes. The marks survive a
// reload in this tab.
(function () {
  "use strict";
  var kiln = window.kiln;
  if (!kiln || !kiln.gallery) return;

  var MAX = 4;
  var KEY = "kiln:compare:" + location.pathname;
  var chosen = [];
  var dialog, panes, tray, trayText, zoomButton;
  var zoom = new kiln.Zoom();
  var active = 0;
  var shownIds = [];

  try { chosen = JSON.parse(sessionStorage.getItem(KEY) || "[]"); } catch (e) { chosen = []; }

  function save() {
    chosen = chosen.filter(function (id) { return kiln.records[id]; });
    sessionStorage.setItem(KEY, JSON.stringify(chosen));
  }

  function mark() {
    save();
    kiln.tiles().forEach(function (tile) {
      var index = chosen.indexOf(tile.dataset.id);
      tile.classList.toggle("is-compared", index >= 0);
      if (index >= 0) tile.dataset.compare = String(index + 1);
      else delete tile.dataset.compare;
    });
    if (!tray) {
      tray = kiln.el("div", "compare-tray");
      tray.setAttribute("role", "region");
      tray.setAttribute("aria-label", "Compare");
      trayText = kiln.el("span", "compare-count");
      var open = kiln.el("button", "view", "Compare (C)");
      open.type = "button";
      open.addEventListener("click", show);
      var clear = kiln.el("button", "view", "Clear");
      clear.type = "button";
      clear.addEventListener("click", function () {
        chosen = [];
        mark();
        kiln.say("Nothing marked to compare");
      });
      tray.append(trayText, open, clear);
      document.body.appendChild(tray);
    }
    tray.hidden = chosen.length === 0;
    trayText.textContent = chosen.length + " of " + MAX + " marked to compare";
  }

  function toggle(id) {
    var index = chosen.indexOf(id);
    if (index >= 0) {
      chosen.splice(index, 1);
      kiln.say("Unmarked; " + chosen.length + " to compare");
    } else if (chosen.length >= MAX) {
      kiln.say("Compare shows at most " + MAX + " images; press S on one to unmark it", true);
      return;
    } else {
      chosen.push(id);
      kiln.say("Marked " + chosen.length + " to compare" + (chosen.length > 1 ? "; C compares" : ""));
    }
    mark();
  }

  function build() {
    dialog = kiln.el("dialog", "compare");
    var top = kiln.el("div", "loupe-top");
    top.appendChild(kiln.el("p", "loupe-count", "Compare"));
    var tools = kiln.el("div", "loupe-tools");
    zoomButton = kiln.el("button", "loupe-tool", "Fit");
    zoomButton.type = "button";
    zoomButton.setAttribute("aria-label", "Zoom to 100 % (Z)");
    zoomButton.addEventListener("click", function () { zoom.toggle(); });
    var close = kiln.el("button", "loupe-tool loupe-close", "✕");
    close.type = "button";
    close.setAttribute("aria-label", "Close (Esc)");
    close.addEventListener("click", hide);
    tools.append(zoomButton, close);
    top.appendChild(tools);
    panes = kiln.el("div", "compare-panes");
    dialog.append(panes, top, kiln.statusLine());
    document.body.appendChild(dialog);
    dialog.addEventListener("cancel", function (event) {
      event.preventDefault();
      hide();
    });
    window.addEventListener("resize", function () { if (dialog.open) zoom.render(); });
    document.addEventListener("kiln:zoom", function (event) {
      if (event.detail !== zoom) return;
      zoomButton.textContent = zoom.scale === null ? "Fit" : zoom.percent() + " %";
      zoomButton.setAttribute("aria-label", zoom.scale === null ? "Zoom to 100 % (Z)" : "Fit (Z)");
    });
  }

  function caption(figure, id) {
    var record = kiln.records[id];
    var state = kiln.stateOf(id);
    var text = figure.querySelector("figcaption");
    text.textContent = "";
    var verdict = kiln.el("div", "loupe-verdict");
    if (state) kiln.verdict(verdict, state);
    var facts = [];
    if (record.seed !== null && record.seed !== undefined) facts.push("seed " + record.seed);
    record.axes.forEach(function (pair) { facts.push(pair[0] + " " + pair[1]); });
    text.append(verdict, kiln.el("p", "compare-facts", facts.join(" · ") || record.prompt));
  }

  function activate(index) {
    active = (index + shownIds.length) % shownIds.length;
    Array.prototype.forEach.call(panes.children, function (figure, i) {
      figure.classList.toggle("is-active", i === active);
      figure.setAttribute("aria-current", i === active ? "true" : "false");
    });
  }

  function show() {
    save();
    if (chosen.length < 2) {
      kiln.say("Mark two to four images with S, then press C", true);
      return;
    }
    if (!dialog) build();
    shownIds = chosen.slice();
    zoom.clear();
    panes.textContent = "";
    panes.dataset.count = String(shownIds.length);
    dialog.setAttribute("aria-label", "Compare " + shownIds.length + " images");
    dialog.showModal();
    dialog.tabIndex = -1;
    dialog.focus();
    shownIds.forEach(function (id, i) {
      var record = kiln.records[id];
      var figure = kiln.el("figure", "compare-pane");
      var box = kiln.el("div", "loupe-stage compare-box");
      var img = kiln.el("img", "loupe-img");
      img.alt = record.prompt || "Image " + id;
      box.appendChild(img);
      figure.append(box, kiln.el("figcaption"));
      figure.addEventListener("pointerdown", function () { activate(i); });
      panes.appendChild(figure);
      caption(figure, id);
      zoom.add(box, img, record);
    });
    zoom.render();
    activate(0);
  }

  function hide() {
    if (dialog && dialog.open) dialog.close();
  }

  window.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || kiln.typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
    var key = kiln.key(event);
    var top = kiln.top();
    if (dialog && top === dialog) {
      var handled = true;
      if (key === "Escape") hide();
      else if (key === "z") zoom.toggle();
      else if (key === "+" || key === "=") zoom.by(1.25);
      else if (key === "-" || key === "_") zoom.by(0.8);
      else if (key === "ArrowRight") activate(active + 1);
      else if (key === "ArrowLeft") activate(active - 1);
      else handled = false;
      if (handled) {
        event.preventDefault();
        event.stopPropagation();
      }
      return;
    }
    if (top && !top.classList.contains("loupe")) return;
    if (key === "s" && !event.shiftKey) {
      var target = kiln.target();
      if (!target) return;
      event.preventDefault();
      toggle(target.id);
    } else if (key === "c" && !event.shiftKey) {
      event.preventDefault();
      show();
    }
  }, true);

  document.addEventListener("kiln:state", function (event) {
    if (!dialog || !dialog.open) return;
    var index = shownIds.indexOf(event.detail.id);
    if (index >= 0) caption(panes.children[index], event.detail.id);
  });
  document.addEventListener("kiln:page", mark);

  // In compare, keys for culling act on the highlighted image; Shift moves the highlight on.
  kiln.targets.unshift(function () {
    if (!dialog || !dialog.open || kiln.top() !== dialog) return null;
    return { id: shownIds[active], next: function () { activate(active + 1); } };
  });
  kiln.compare = { toggle: toggle, show: show, hide: hide, chosen: function () { return chosen.slice(); } };
  mark();
})();
