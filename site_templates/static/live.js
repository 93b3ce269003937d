// Live updates from `kiln serve`: culling done elsewhere (another tab, the command line)
// shows on this page's thumbnails and in its loupe, and a rebuild of this page replaces its
// grid in place, keeping the scroll position, the open loupe, the view and the marks for
// compare. When the page cannot be patched it reloads and comes back where it was.
(function () {
  "use strict";
  var kiln = window.kiln;
  if (!kiln || !kiln.token || !window.EventSource) return;

  // This page's path relative to the build folder, as `build` events name pages.
  function ownPath() {
    var path = decodeURIComponent(location.pathname).replace(/^\/+/, "");
    if (path === "" || path.slice(-1) === "/") path += "index.html";
    return path;
  }

  function reload() {
    sessionStorage.setItem("kiln:scroll:" + location.pathname, String(window.scrollY));
    location.reload();
  }

  function assets(doc) {
    return Array.prototype.map.call(doc.querySelectorAll('link[rel="stylesheet"], script[src]'), function (node) {
      return node.getAttribute("href") || node.getAttribute("src");
    }).join(" ");
  }

  // The latest state each image had in the curation events, numbered as they came.
  var heard = {};
  var tick = 0;

  // Swaps in the new page's main content and head links; false if it cannot. Images written
  // to since the fetch began (``sent`` is the count then) keep the state the page shows, and
  // those the events spoke of since (after event ``since``) what they said: the page may
  // have been written before either.
  function patch(html, sent, since) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var main = document.querySelector("main");
    var fresh = doc.querySelector("main");
    if (!kiln.gallery || !main || !fresh || !doc.getElementById("kiln-images") || assets(doc) !== assets(document)) {
      return false;
    }
    var scroll = window.scrollY;
    var focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest(".tile[data-id]") : null;
    var newer = kiln.tiles().filter(function (tile) {
      var id = tile.dataset.id;
      return kiln.pending[id] || (kiln.sent[id] || 0) !== (sent[id] || 0);
    }).map(kiln.state);
    main.replaceChildren.apply(main, Array.prototype.slice.call(fresh.childNodes));
    ["prev", "next"].forEach(function (rel) {
      var old = document.querySelector('link[rel="' + rel + '"]');
      var now = doc.querySelector('link[rel="' + rel + '"]');
      if (old) old.remove();
      if (now) document.head.appendChild(document.importNode(now, true));
    });
    document.title = doc.title;
    kiln.load();
    kiln.tiles().forEach(kiln.paint);
    newer.forEach(kiln.setState);
    Object.keys(heard).forEach(function (id) {
      if (heard[id].tick > since) kiln.fromServer(heard[id].image);
    });
    document.dispatchEvent(new CustomEvent("kiln:page"));
    if (focused && !kiln.top()) kiln.focusTile(kiln.tile(focused.dataset.id));
    window.scrollTo(0, scroll);
    return true;
  }

  // The state of every image on the page now: the HTML of a rebuild may be older than the
  // curation events that arrived while it was fetched, and events sent while the stream
  // was down are lost.
  function catchUp() {
    var ids = kiln.tiles().map(function (tile) { return tile.dataset.id; });
    if (!ids.length) return;
    var sent = Object.assign({}, kiln.sent);
    fetch("/_kiln/api/images?ids=" + encodeURIComponent(ids.join(",")), { cache: "no-store", credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { images: [] }; })
      .then(function (data) {
        (data.images || []).forEach(function (image) { kiln.fromServer(image, sent); });
      })
      .catch(function () {});
  }

  function rebuilt() {
    var sent = Object.assign({}, kiln.sent);
    var since = tick;
    fetch(location.pathname, { cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        if (patch(html, sent, since)) catchUp();
        else reload();
      })
      .catch(reload);
  }

  var events = new EventSource("/_kiln/events");
  var connected = false;
  // The page may have been written before the latest changes were: catch up at once, and
  // again whenever the stream comes back.
  events.addEventListener("open", function () {
    if (connected) catchUp();
    connected = true;
  });
  catchUp();
  events.addEventListener("curation", function (event) {
    var data = JSON.parse(event.data);
    (data.images || []).forEach(function (image) {
      heard[image.id] = { tick: ++tick, image: image };
      kiln.fromServer(image);
    });
  });
  events.addEventListener("build", function (event) {
    var data = JSON.parse(event.data);
    if ((data.pages || []).indexOf(ownPath()) >= 0) rebuilt();
  });
  window.addEventListener("pagehide", function () { events.close(); });
  kiln.live = { events: events };
})();
