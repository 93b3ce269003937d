// What the other scripts share: the page's images and their culling state, the view that
// filters them, the URL fragment that remembers both, keys, and a status line.
// Gallery pages carry their images' data in <script id="kiln-images">; other pages have none.
(function () {
  "use strict";
  var kiln = (window.kiln = window.kiln || {});
  var meta = document.querySelector('meta[name="kiln-serve"]');

  // Set only when `kiln serve` sent the page: culling and live updates need it.
  kiln.token = meta ? meta.getAttribute("content") : null;
  kiln.records = {};
  kiln.gallery = false;

  kiln.load = function () {
    var node = document.getElementById("kiln-images");
    kiln.records = {};
    kiln.gallery = !!node;
    if (!node) return;
    JSON.parse(node.textContent).forEach(function (record) {
      kiln.records[record.id] = record;
    });
  };

  kiln.tiles = function () {
    return Array.prototype.slice.call(document.querySelectorAll(".grid .tile[data-id], .xy .tile[data-id]"));
  };

  kiln.tile = function (id) {
    return kiln.tiles().filter(function (tile) { return tile.dataset.id === id; })[0] || null;
  };

  kiln.state = function (tile) {
    var tags;
    try { tags = JSON.parse(tile.dataset.tags || "[]"); } catch (e) { tags = []; }
    return {
      id: tile.dataset.id,
      rating: parseInt(tile.dataset.rating, 10) || 0,
      status: tile.dataset.status || "",
      tags: tags,
      notes: tile.dataset.notes || ""
    };
  };

  kiln.stateOf = function (id) {
    var tile = kiln.tile(id);
    return tile ? kiln.state(tile) : null;
  };

  // Takes an image's state as the server reports it, on the tile and everywhere it is shown.
  kiln.setState = function (image) {
    var tile = kiln.tile(image.id);
    if (!tile) return;
    tile.dataset.rating = String(image.rating || 0);
    tile.dataset.status = image.status || "";
    tile.dataset.tags = JSON.stringify(image.tags || []);
    tile.dataset.notes = image.notes || "";
    kiln.paint(tile);
    document.dispatchEvent(new CustomEvent("kiln:state", { detail: kiln.state(tile) }));
  };

  // Writes this page sent per image, and those not answered yet. News from elsewhere about
  // an image with a write in flight, or that was asked for before a write was sent, is
  // older than what the page shows; the write's own answer brings the truth.
  kiln.sent = {};
  kiln.pending = {};

  kiln.fromServer = function (image, sentBefore) {
    if (kiln.pending[image.id]) return;
    if (sentBefore && (kiln.sent[image.id] || 0) !== (sentBefore[image.id] || 0)) return;
    kiln.setState(image);
  };

  kiln.statusLabel = { selected: "Picked", rejected: "Rejected" };

  kiln.paint = function (tile) {
    var state = kiln.state(tile);
    tile.classList.toggle("is-selected", state.status === "selected");
    tile.classList.toggle("is-rejected", state.status === "rejected");
    var marks = tile.querySelector(".tile-marks");
    if (!marks) return;
    marks.textContent = "";
    if (kiln.statusLabel[state.status]) {
      marks.appendChild(kiln.el("span", "badge is-" + state.status, kiln.statusLabel[state.status]));
    }
    if (state.rating) {
      var stars = kiln.el("span", "tile-rating", "★".repeat(state.rating));
      stars.title = "Rated " + state.rating + " of 5";
      stars.setAttribute("aria-label", stars.title);
      marks.appendChild(stars);
    }
  };

  kiln.el = function (tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  };

  // ---- views: which tiles are shown ------------------------------------------------------

  kiln.VIEWS = [
    { name: "all", label: "All", hint: "every image" },
    { name: "unrated", label: "Unrated", hint: "no stars, neither picked nor rejected" },
    { name: "picked", label: "Picked", hint: "picked images" },
    { name: "rejected", label: "Rejected", hint: "rejected images" },
    { name: "stars", label: "★ ≥", hint: "rated at least this many stars" }
  ];

  // The one test of whether an image belongs in a view; a search or a fuller filter only
  // has to add cases here.
  kiln.matches = function (state, view) {
    switch (view.name) {
      case "unrated": return !state.rating && !state.status;
      case "picked": return state.status === "selected";
      case "rejected": return state.status === "rejected";
      case "stars": return state.rating >= view.min;
      default: return true;
    }
  };

  kiln.view = { name: "all", min: 3 };

  kiln.parseView = function (text) {
    var match = /^stars([1-5])$/.exec(text || "");
    if (match) return { name: "stars", min: +match[1] };
    var known = kiln.VIEWS.some(function (v) { return v.name === text && v.name !== "stars"; });
    return { name: known ? text : "all", min: kiln.view.min };
  };

  kiln.viewText = function (view) {
    if (view.name === "stars") return "stars" + view.min;
    return view.name === "all" ? "" : view.name;
  };

  kiln.visible = function (tile) {
    return kiln.matches(kiln.state(tile), kiln.view);
  };

  // ---- the URL fragment: #view=<open image>&show=<view>&<filters and search> --------------

  kiln.hash = function () {
    var params = new URLSearchParams(location.hash.replace(/^#/, ""));
    return { view: params.get("view") || "", show: params.get("show") || "" };
  };

  // The fragment's other keys: the filters and search (find.js), carried through every write
  // of the view or the open image. Until find.js is loaded they are kept as they are.
  kiln.findParams = function () {
    var params = new URLSearchParams(location.hash.replace(/^#/, ""));
    params.delete("view");
    params.delete("show");
    return Array.from(params.entries());
  };

  kiln.hashText = function (values) {
    var params = new URLSearchParams();
    if (values.view) params.set("view", values.view);
    if (values.show) params.set("show", values.show);
    kiln.findParams().forEach(function (pair) { params.append(pair[0], pair[1]); });
    var text = params.toString();
    return text ? "#" + text : "";
  };

  // Writes the fragment; "push" makes a history entry the back button returns from.
  kiln.setHash = function (values, how) {
    var url = location.href.split("#")[0] + kiln.hashText(values);
    if (url === location.href) return;
    var push = how === "push";
    try {
      history[push ? "pushState" : "replaceState"](push ? { kiln: "loupe" } : history.state, "", url);
    } catch (e) {
      // Some browsers refuse the history API on file:// pages; the fragment still works.
      if (push) location.hash = kiln.hashText(values) || "#";
      else location.replace(url);
    }
  };

  // ---- keys and focus -----------------------------------------------------------------------

  kiln.typing = function (event) {
    var target = event.target;
    return !!target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  };

  // The key as the layout-independent position for digits (so Shift+3 is "3", not "#" or
  // "£"), and as the letter typed otherwise.
  kiln.key = function (event) {
    var digit = /^(?:Digit|Numpad)([0-9])$/.exec(event.code || "");
    if (digit) return digit[1];
    if (event.code === "NumpadAdd") return "+";
    if (event.code === "NumpadSubtract") return "-";
    return event.key && event.key.length === 1 ? event.key.toLowerCase() : event.key;
  };

  // The open dialog on top, if any: keys belong to it.
  kiln.top = function () {
    var open = document.querySelectorAll("dialog[open]");
    return open.length ? open[open.length - 1] : null;
  };

  // The image keys act on: the one open in a viewer, else the focused thumbnail.
  kiln.targets = [];
  kiln.target = function () {
    for (var i = 0; i < kiln.targets.length; i++) {
      var found = kiln.targets[i]();
      if (found) return found;
    }
    var tile = document.activeElement && document.activeElement.closest ? document.activeElement.closest(".tile[data-id]") : null;
    if (tile && !kiln.top()) {
      return { id: tile.dataset.id, next: function () { kiln.focusStep(tile, 1); } };
    }
    return null;
  };

  kiln.focusTile = function (tile) {
    var link = tile && tile.querySelector("a");
    if (link) {
      link.focus({ preventScroll: true });
      link.scrollIntoView({ block: "nearest" });
    }
  };

  // The visible tile ``step`` places after (or before) ``tile`` in the grid.
  kiln.neighbour = function (tile, step) {
    var tiles = kiln.tiles();
    for (var i = tiles.indexOf(tile) + step; i >= 0 && i < tiles.length; i += step) {
      if (kiln.visible(tiles[i])) return tiles[i];
    }
    return null;
  };

  kiln.focusStep = function (tile, step) {
    var next = kiln.neighbour(tile, step);
    if (next) kiln.focusTile(next);
    else kiln.say(step > 0 ? "Last image on this page" : "First image on this page");
  };

  // ---- the status line ----------------------------------------------------------------------

  var timer = null;
  kiln.say = function (message, isError) {
    var top = kiln.top();
    var line = (top && top.querySelector(".kiln-status")) || document.getElementById("kiln-status");
    line.textContent = message;
    line.classList.toggle("is-error", !!isError);
    line.classList.add("is-shown");
    clearTimeout(timer);
    timer = setTimeout(function () { line.classList.remove("is-shown"); }, isError ? 8000 : 2500);
  };

  kiln.statusLine = function () {
    var line = kiln.el("p", "kiln-status");
    line.setAttribute("role", "status");
    return line;
  };

  // ---- search and filters: find.js, loaded when first wanted -------------------------------

  var finder = document.querySelector("form.finder");
  var findQueue = [];
  kiln.whenFind = function (action) {
    if (kiln.find) return action(kiln.find);
    findQueue.push(action);
    if (findQueue.length > 1 || !finder) return;
    var node = document.createElement("script");
    node.src = finder.dataset.script;
    document.head.appendChild(node);
  };
  kiln.findReady = function (find) {
    kiln.find = find;
    findQueue.splice(0).forEach(function (action) { action(find); });
  };

  function bootFind() {
    if (!finder) return;
    var input = finder.querySelector("input");
    input.addEventListener("focus", function () { kiln.whenFind(function () {}); });
    input.addEventListener("input", function () {
      kiln.whenFind(function (find) { find.typed(); });
    });
    finder.addEventListener("submit", function (event) {
      event.preventDefault();
      kiln.whenFind(function (find) { find.submit(); });
    });
    Array.prototype.forEach.call(document.querySelectorAll(".find-toggle"), function (button) {
      button.hidden = !finder.dataset.set;
      button.addEventListener("click", function () {
        kiln.whenFind(function (find) { find.toggle(); });
      });
    });
    // A fragment with filters or a search (a bookmark, a reload) brings the finder at once.
    kiln.findPending = kiln.findParams().length > 0 || /[?&]q=/.test(location.search);
    if (kiln.findPending && finder.dataset.set) kiln.whenFind(function () {});
    else kiln.findPending = false;
  }

  kiln.load();
  bootFind();
  document.documentElement.classList.toggle("kiln-serve", !!kiln.token);
  // A live region is only heard if it exists before it speaks.
  var line = kiln.statusLine();
  line.id = "kiln-status";
  document.body.appendChild(line);
  kiln.view = kiln.parseView(kiln.hash().show);

  // A page reloaded by live.js comes back where it was.
  var scroll = sessionStorage.getItem("kiln:scroll:" + location.pathname);
  if (scroll !== null) {
    sessionStorage.removeItem("kiln:scroll:" + location.pathname);
    window.scrollTo(0, +scroll);
  }
})();
