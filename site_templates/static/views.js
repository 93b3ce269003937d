// Views for culling: show all the page's images, or only the unrated, picked, rejected, or
// those rated at least N stars. V cycles forward, Shift+V back. The view is kept in the
// fragment (#show=unrated) and carried to the other pages.
(function () {
  "use strict";
  var kiln = window.kiln;
  if (!kiln || !kiln.gallery) return;

  var bar, buttons = {}, minimum, shown, empty;

  function build() {
    var head = document.querySelector(".grid-head");
    var grid = document.querySelector(".grid");
    if (!head || !grid) return;
    if (bar) bar.remove();
    if (empty) empty.remove();
    bar = kiln.el("div", "views");
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Show");
    buttons = {};
    kiln.VIEWS.forEach(function (view) {
      var node = kiln.el("button", "view", view.label);
      node.type = "button";
      node.title = "Show " + view.hint + " (V cycles)";
      node.addEventListener("click", function () {
        set({ name: view.name, min: kiln.view.min });
      });
      buttons[view.name] = node;
      bar.appendChild(node);
    });
    minimum = kiln.el("select", "view-min");
    minimum.setAttribute("aria-label", "Minimum stars");
    for (var n = 1; n <= 5; n++) {
      var option = kiln.el("option", null, String(n));
      option.value = String(n);
      minimum.appendChild(option);
    }
    minimum.addEventListener("change", function () {
      set({ name: "stars", min: +minimum.value });
    });
    buttons.stars.setAttribute("aria-label", "Rated at least");
    bar.insertBefore(minimum, buttons.stars.nextSibling);
    shown = kiln.el("span", "view-count");
    bar.appendChild(shown);
    head.parentNode.insertBefore(bar, head.nextSibling);
    empty = kiln.el("p", "view-empty");
    empty.hidden = true;
    grid.parentNode.insertBefore(empty, grid.nextSibling);
  }

  // Shows the tiles the view matches; the tile that had focus keeps it, or hands it on.
  function apply() {
    if (!bar) return;
    var focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest(".tile[data-id]") : null;
    var tiles = kiln.tiles();
    var count = 0;
    tiles.forEach(function (tile) {
      var visible = kiln.visible(tile);
      tile.hidden = !visible;
      if (visible) count++;
    });
    Object.keys(buttons).forEach(function (name) {
      buttons[name].setAttribute("aria-pressed", String(name === kiln.view.name));
    });
    minimum.value = String(kiln.view.min);
    shown.textContent = kiln.view.name === "all" ? "" : count + " of " + tiles.length + " on this page";
    empty.hidden = count > 0;
    empty.textContent = count ? "" : "No image on this page in this view." + (document.querySelector('link[rel="next"]') ? " Try the next page." : "");
    if (focused && focused.hidden && !kiln.top()) {
      var next = kiln.neighbour(focused, 1) || kiln.neighbour(focused, -1);
      if (next) kiln.focusTile(next);
    }
    carry();
  }

  // Links to the other pages of the collection keep the view.
  function carry() {
    var fragment = kiln.hashText({ show: kiln.viewText(kiln.view) });
    var links = document.querySelectorAll('.pager a, link[rel="prev"], link[rel="next"]');
    Array.prototype.forEach.call(links, function (link) {
      link.href = link.href.split("#")[0] + fragment;
    });
  }

  function set(view) {
    kiln.view = view;
    apply();
    var values = kiln.hash();
    values.show = kiln.viewText(view);
    kiln.setHash(values, "replace");
    var label = view.name === "stars" ? "rated " + view.min + " stars or more" : view.name === "all" ? "all images" : view.name + " images";
    kiln.say("Showing " + label);
    document.dispatchEvent(new CustomEvent("kiln:view", { detail: view }));
  }

  function cycle(step) {
    var names = kiln.VIEWS.map(function (v) { return v.name; });
    var index = (names.indexOf(kiln.view.name) + step + names.length) % names.length;
    set({ name: names[index], min: kiln.view.min });
  }

  window.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || kiln.typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
    var top = kiln.top();
    if (top && !top.classList.contains("loupe")) return;
    if (kiln.key(event) !== "v") return;
    event.preventDefault();
    cycle(event.shiftKey ? -1 : 1);
  }, true);

  document.addEventListener("kiln:state", apply);
  document.addEventListener("kiln:page", function () {
    build();
    apply();
  });
  window.addEventListener("hashchange", function () {
    var view = kiln.parseView(kiln.hash().show);
    if (kiln.viewText(view) !== kiln.viewText(kiln.view)) {
      kiln.view = view;
      apply();
      document.dispatchEvent(new CustomEvent("kiln:view", { detail: view }));
    }
  });

  kiln.views = { set: set, apply: apply };
  build();
  apply();
})();
