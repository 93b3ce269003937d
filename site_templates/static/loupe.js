// The loupe: a thumbnail opens its image over the grid, full window. ← → walk through the
// images the view shows, on into the next or previous page; Esc or the back button closes.
// The fragment names the open image (#view=<id>), so a reload or a shared link reopens it.
(function () {
  "use strict";
  var kiln = window.kiln;
  if (!kiln || !kiln.gallery) return;

  var dialog, stage, img, line, verdict, info, counter, zoomButton, infoButton, pageLink, prev, next, spoken;
  var zoom = new kiln.Zoom();
  var current = null; // the open image's id
  var returnTo = null; // the tile to give focus back to

  function button(className, label, text, action) {
    var node = kiln.el("button", className, text);
    node.type = "button";
    node.setAttribute("aria-label", label);
    node.title = label;
    node.addEventListener("click", action);
    return node;
  }

  function build() {
    dialog = kiln.el("dialog", "loupe");
    dialog.setAttribute("aria-label", "Image viewer");
    dialog.tabIndex = -1;
    stage = kiln.el("div", "loupe-stage");
    img = kiln.el("img", "loupe-img");
    stage.appendChild(img);

    var top = kiln.el("div", "loupe-top");
    counter = kiln.el("p", "loupe-count");
    var tools = kiln.el("div", "loupe-tools");
    zoomButton = button("loupe-tool", "Zoom to 100 % (Z)", "Fit", function () { zoom.toggle(); });
    infoButton = button("loupe-tool", "Provenance (I)", "Info", toggleInfo);
    infoButton.setAttribute("aria-expanded", "false");
    pageLink = kiln.el("a", "loupe-tool", "Image page");
    pageLink.title = "Everything about this image on its own page";
    var close = button("loupe-tool loupe-close", "Close (Esc)", "✕", function () { hide(); });
    tools.append(zoomButton, infoButton, pageLink, close);
    top.append(counter, tools);

    prev = button("loupe-step loupe-prev", "Previous image (←)", "‹", function () { step(-1); });
    next = button("loupe-step loupe-next", "Next image (→)", "›", function () { step(1); });

    var bar = kiln.el("div", "loupe-bar");
    verdict = kiln.el("div", "loupe-verdict");
    line = kiln.el("p", "loupe-line");
    bar.append(verdict, line);

    // Where the loupe is, for screen readers: the picture itself changes silently.
    spoken = kiln.el("p", "sr-only");
    spoken.setAttribute("aria-live", "polite");
    info = kiln.el("aside", "loupe-info");
    info.hidden = true;
    info.setAttribute("aria-label", "Provenance");

    dialog.append(stage, top, prev, next, bar, info, spoken, kiln.statusLine());
    document.body.appendChild(dialog);
    zoom.add(stage, img, { size: [1, 1] });

    dialog.addEventListener("cancel", function (event) {
      event.preventDefault();
      hide();
    });
    window.addEventListener("resize", function () { if (current) zoom.render(); });
    document.addEventListener("kiln:zoom", function (event) {
      if (event.detail !== zoom) return;
      var zoomed = zoom.scale !== null;
      zoomButton.textContent = zoomed ? zoom.percent() + " %" : "Fit";
      zoomButton.setAttribute("aria-label", zoomed ? "Fit to the window (Z)" : "Zoom to 100 % (Z)");
      zoomButton.title = zoomButton.getAttribute("aria-label");
    });
  }

  function toggleInfo() {
    info.hidden = !info.hidden;
    infoButton.setAttribute("aria-expanded", String(!info.hidden));
    dialog.classList.toggle("has-info", !info.hidden);
    zoom.render();
  }

  function text(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  // One line: the prompt, the seed and what varies in the collection.
  function describe(record) {
    var parts = [];
    if (record.seed !== null && record.seed !== undefined) parts.push("seed " + record.seed);
    record.axes.forEach(function (pair) { parts.push(pair[0] + " " + pair[1]); });
    return parts;
  }

  function showLine(record) {
    line.textContent = "";
    line.appendChild(kiln.el("span", "loupe-prompt", record.prompt || "(no prompt)"));
    describe(record).forEach(function (part) {
      line.appendChild(kiln.el("span", "loupe-fact", part));
    });
  }

  kiln.verdict = function (node, state) {
    node.textContent = "";
    var stars = kiln.el("span", "stars", "★".repeat(state.rating) + "☆".repeat(5 - state.rating));
    stars.setAttribute("aria-label", state.rating ? "Rated " + state.rating + " of 5" : "Not rated");
    node.appendChild(stars);
    if (kiln.statusLabel[state.status]) {
      node.appendChild(kiln.el("span", "badge is-" + state.status, kiln.statusLabel[state.status]));
    }
    state.tags.forEach(function (tag) { node.appendChild(kiln.el("span", "chip", "#" + tag)); });
    if (state.notes) node.appendChild(kiln.el("span", "loupe-note", state.notes));
  };

  function showInfo(record) {
    var facts = record.facts;
    var rows = [
      ["Prompt", record.prompt],
      ["Negative prompt", facts.negative],
      ["Seed", record.seed],
      ["Model", facts.model],
      ["Engine", facts.engine],
      ["Size", record.size[0] + " × " + record.size[1]],
      ["Steps", facts.steps],
      ["Guidance", facts.guidance],
      ["Sampler", facts.sampler]
    ];
    var named = ["prompt", "negative_prompt", "seed", "model", "engine", "size", "width", "height", "steps", "guidance", "sampler"];
    record.axes.forEach(function (pair) {
      if (named.indexOf(pair[0]) < 0) rows.push([pair[0], pair[1]]);
    });
    rows.push(["Created", facts.created], ["Job", facts.job], ["Image", record.id]);
    info.textContent = "";
    info.appendChild(kiln.el("h2", "label", "Provenance"));
    var list = kiln.el("dl", "params");
    rows.forEach(function (row) {
      if (row[1] === undefined || row[1] === null || row[1] === "") return;
      list.append(kiln.el("dt", null, row[0]), kiln.el("dd", null, text(row[1])));
    });
    info.appendChild(list);
    if (record.original) {
      var link = kiln.el("a", "download", "Original · " + record.original[1] + " × " + record.original[2]);
      link.href = record.original[0];
      info.appendChild(link);
    }
    if (facts.params) {
      var raw = kiln.el("details", "raw");
      raw.append(kiln.el("summary", null, "All parameters"), kiln.el("pre", null, JSON.stringify(facts.params, null, 2)));
      info.appendChild(raw);
    }
  }

  function visibleTiles() {
    return kiln.tiles().filter(kiln.visible);
  }

  function refreshState() {
    if (!current) return;
    var state = kiln.stateOf(current);
    if (state) kiln.verdict(verdict, state);
    var tiles = visibleTiles();
    var tile = kiln.tile(current);
    var index = tiles.indexOf(tile);
    counter.textContent = index >= 0 ? index + 1 + " of " + tiles.length : "not in this view";
    prev.disabled = !kiln.neighbour(tile, -1) && !document.querySelector('link[rel="prev"]');
    next.disabled = !kiln.neighbour(tile, 1) && !document.querySelector('link[rel="next"]');
  }

  // Opens (or moves the loupe to) image ``id``; ``how`` is "push" when it comes from the
  // grid, so that the back button closes it again.
  function show(id, how) {
    var record = kiln.records[id];
    var tile = kiln.tile(id);
    if (!record || !tile) return false;
    if (!dialog) build();
    var opening = !dialog.open;
    current = id;
    zoom.panes[0].record = record;
    zoom.panes[0].wanted = null;
    zoom.reset();
    img.removeAttribute("src");
    img.alt = record.prompt || "Image " + id;
    // The thumbnail's blurred placeholder shows until the picture arrives.
    var thumb = tile.querySelector("img");
    img.style.backgroundImage = thumb ? thumb.style.backgroundImage : "";
    if (opening) {
      dialog.showModal();
      dialog.focus();
      document.documentElement.classList.add("has-loupe");
    }
    zoom.render();
    showLine(record);
    showInfo(record);
    pageLink.href = record.page;
    refreshState();
    spoken.textContent = counter.textContent + ": " + (record.prompt || id);
    [1, -1].forEach(function (direction) {
      var near = kiln.neighbour(tile, direction);
      if (near) kiln.preload(kiln.records[near.dataset.id]);
    });
    returnTo = tile;
    kiln.setHash({ view: id, show: kiln.viewText(kiln.view) }, how || "replace");
    return true;
  }

  function hide(fromHistory) {
    if (!dialog || !dialog.open) return;
    dialog.close();
    current = null;
    document.documentElement.classList.remove("has-loupe");
    var tile = returnTo && returnTo.isConnected ? returnTo : null;
    if (tile && !kiln.visible(tile)) tile = kiln.neighbour(tile, 1) || kiln.neighbour(tile, -1);
    if (tile) kiln.focusTile(tile);
    if (!fromHistory) {
      var values = { show: kiln.viewText(kiln.view) };
      if (history.state && history.state.kiln === "loupe") history.back();
      else kiln.setHash(values, "replace");
    }
  }

  // Moves to the next visible image, or to the next page with the loupe open there.
  function step(direction) {
    if (!current) return;
    var tile = kiln.tile(current);
    var target = kiln.neighbour(tile, direction);
    if (target) {
      show(target.dataset.id);
      return;
    }
    // Filtered results are shown a batch at a time: the next batch comes before the next page.
    if (direction > 0 && kiln.more && kiln.more(function () { step(direction); })) return;
    if (!turnPage(direction)) kiln.say(direction > 0 ? "Last image in this view" : "First image in this view");
  }

  function turnPage(direction) {
    var link = document.querySelector(direction > 0 ? 'link[rel="next"]' : 'link[rel="prev"]');
    if (!link) return false;
    var hash = kiln.hashText({ view: direction > 0 ? "first" : "last", show: kiln.viewText(kiln.view) });
    location.href = link.href.split("#")[0] + hash;
    return true;
  }

  // The fragment at load or after the back button: open what it names.
  function follow(fromHistory) {
    var wanted = kiln.hash().view;
    if (!wanted) {
      hide(fromHistory);
      return;
    }
    if (wanted === current) return;
    if (wanted === "first" || wanted === "last") {
      var tiles = visibleTiles();
      var tile = wanted === "first" ? tiles[0] : tiles[tiles.length - 1];
      if (tile) show(tile.dataset.id, "replace");
      else if (!turnPage(wanted === "first" ? 1 : -1)) {
        kiln.setHash({ show: kiln.viewText(kiln.view) }, "replace");
        kiln.say("No more images in this view");
      }
      return;
    }
    // With filters in the fragment the image may be among results still to come.
    if (!show(wanted, "replace") && !kiln.findPending) kiln.say("No image " + wanted + " on this page");
  }

  // Keys while the loupe is on top. Capturing on window runs before keys.js turns pages.
  window.addEventListener("keydown", function (event) {
    if (!dialog || !dialog.open || kiln.top() !== dialog || kiln.typing(event)) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var key = kiln.key(event);
    var handled = true;
    if (key === "ArrowRight") step(1);
    else if (key === "ArrowLeft") step(-1);
    else if (key === "Escape") hide();
    else if (key === "z") zoom.toggle();
    else if (key === "+" || key === "=") zoom.by(1.25);
    else if (key === "-" || key === "_") zoom.by(0.8);
    else if (key === "i") toggleInfo();
    else if (key === "Home" || key === "End") {
      var tiles = visibleTiles();
      if (tiles.length) show(tiles[key === "Home" ? 0 : tiles.length - 1].dataset.id);
    }
    else handled = false;
    if (handled) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);

  // A click on a thumbnail opens the loupe; a click with a modifier still opens the page.
  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    var link = event.target.closest && event.target.closest(".grid .tile[data-id] > a, .xy .tile[data-id] > a");
    if (!link) return;
    if (show(link.parentNode.dataset.id, "push")) event.preventDefault();
  });

  window.addEventListener("popstate", function () { follow(true); });
  window.addEventListener("hashchange", function () { follow(true); });
  document.addEventListener("kiln:state", refreshState);
  document.addEventListener("kiln:view", function () {
    refreshState();
    if (current) kiln.setHash({ view: current, show: kiln.viewText(kiln.view) }, "replace");
  });
  // A rebuilt page: the loupe stays where it is, at its zoom, with the new page's data.
  document.addEventListener("kiln:page", function () {
    if (!current) return;
    var tile = kiln.tile(current);
    if (!tile || !kiln.records[current]) {
      hide();
      return;
    }
    returnTo = tile;
    zoom.panes[0].record = kiln.records[current];
    showLine(kiln.records[current]);
    showInfo(kiln.records[current]);
    refreshState();
  });

  kiln.targets.push(function () {
    if (!dialog || !dialog.open || kiln.top() !== dialog || !current) return null;
    return { id: current, next: function () { step(1); } };
  });
  kiln.loupe = { show: show, hide: hide, step: step, current: function () { return current; } };

  follow(false);
})();
