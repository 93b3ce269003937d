// Filters, sorting and search over a whole collection (or the library on search.html), with no
// server. kiln.js loads this on first use. The data is in small files under find/ (see
// kiln/site/filters.py and search.py), each a script calling kiln.found(name, data), so it
// loads from file:// too; only the columns the filters use and the chunks of images shown
// are fetched. The state is in the fragment (#rating=4&model=x&q=harbour), and results
// replace the page's grid, so the loupe and views walk them as they walk a page.
(function () {
  "use strict";
  var kiln = window.kiln;
  var form = document.querySelector("form.finder");
  if (!kiln || !form || kiln.find) return;
  var input = form.querySelector("input");
  var base = new URL(form.dataset.root || "./", location.href).href;
  var set = form.dataset.set;
  var BATCH = 100;
  var SORTS = [["", "Gallery order"], ["newest", "Newest"], ["oldest", "Oldest"], ["rating", "Best rated"], ["seed", "Seed"], ["prompt", "Prompt"]];
  var STATUSES = [["picked", "picked"], ["rejected", "rejected"], ["unrated", "unrated"]];

  // ---- data files --------------------------------------------------------------------------

  var files = {};
  kiln.found = function (name, data) {
    var file = files[name];
    if (file) file.resolve(data);
  };

  function load(name, version) {
    if (files[name]) return files[name].promise;
    var file = {};
    file.promise = new Promise(function (resolve, reject) {
      file.resolve = resolve;
      var node = document.createElement("script");
      node.src = base + "find/" + name + ".js?v=" + encodeURIComponent(version);
      node.onerror = function () {
        delete files[name];
        reject(new Error("could not load " + name));
      };
      node.onload = function () { node.remove(); };
      document.head.appendChild(node);
    });
    files[name] = file;
    return file.promise;
  }

  // A data set's meta is loaded fresh once per page view (the build may have changed it);
  // its other files by the digests it names.
  var fresh = String(Date.now());
  function meta(folder) { return load(folder + "/meta", fresh); }
  // A column with a value per image comes in blocks (rating-0, rating-1, ...): they are
  // loaded together and joined.
  function part(folder, info, name) {
    if (name in info.files) return load(folder + "/" + name, info.files[name]);
    if (!(name + "-0" in info.files)) return Promise.resolve(null);
    var names = [];
    for (var k = 0; k * info.block < info.count; k++) names.push(name + "-" + k);
    return Promise.all(names.map(function (block) { return load(folder + "/" + block, info.files[block]); })).then(function (parts) {
      return [].concat.apply([], parts);
    });
  }

  // ---- state -------------------------------------------------------------------------------

  var info = null; // this page's data set meta
  var state = { q: "", sort: "", filters: {} };
  var FIXED = ["rating", "status", "tag", "from", "to"];

  // The fragment key of a field: its name, or an axis's own name ("steps") unless taken.
  function keyOf(field) {
    if (!field.axis) return field.name;
    var taken = FIXED.concat(["q", "sort", "view", "show", "model", "engine", "recipe", "size"]);
    return taken.indexOf(field.axis) < 0 ? field.axis : "axis-" + field.axis;
  }

  function readFragment() {
    var params = new URLSearchParams(location.hash.replace(/^#/, ""));
    var query = new URLSearchParams(location.search);
    var next = { q: params.get("q") || query.get("q") || "", sort: params.get("sort") || "", filters: {} };
    params.forEach(function (value, key) {
      if (["q", "sort", "view", "show"].indexOf(key) < 0 && value) next.filters[key] = value;
    });
    return next;
  }

  function params() {
    var pairs = [];
    if (state.q) pairs.push(["q", state.q]);
    if (state.sort) pairs.push(["sort", state.sort]);
    Object.keys(state.filters).sort().forEach(function (key) {
      if (state.filters[key]) pairs.push([key, state.filters[key]]);
    });
    return pairs;
  }

  function active() {
    return !!(state.q || state.sort || Object.keys(state.filters).length);
  }

  function writeFragment() {
    var values = kiln.hash();
    if (!active() || !kiln.loupe || !kiln.loupe.current()) values.view = "";
    kiln.setHash(values, "replace");
  }

  // ---- search ------------------------------------------------------------------------------

  var WORD = /[\p{L}\p{N}]+/gu;
  function words(text) { return (text.toLowerCase().match(WORD) || []); }
  function shardOf(word) {
    return Array.from(word).slice(0, 2).map(function (c) {
      return /[a-z0-9]/.test(c) ? c : "~" + c.codePointAt(0).toString(16);
    }).join("");
  }

  function decode(list, count, marks) {
    if (typeof list === "string") {
      var bytes = atob(list.slice(1));
      for (var b = 0; b < bytes.length && b * 8 < count; b++) {
        var byte = bytes.charCodeAt(b);
        for (var k = 0; byte && k < 8; k++) if (byte & (1 << k)) marks[b * 8 + k] = 1;
      }
      return;
    }
    var at = 0;
    for (var i = 0; i < list.length; i++) {
      at += list[i];
      marks[at] = 1;
    }
  }

  // The library numbers of the images that have every word of ``text`` (by prefix).
  function search(text) {
    var wanted = words(text);
    if (!wanted.length) return Promise.resolve(null);
    return meta("_search").then(function (index) {
      return Promise.all(wanted.map(function (word) { return part("_search", index, shardOf(word)); })).then(function (shards) {
        var hits = null;
        wanted.forEach(function (word, i) {
          var marks = new Uint8Array(index.count);
          var shard = shards[i] || {};
          Object.keys(shard).forEach(function (term) {
            if (term === word || (word.length > 1 && term.lastIndexOf(word, 0) === 0)) decode(shard[term], index.count, marks);
          });
          if (hits) for (var n = 0; n < hits.length; n++) hits[n] &= marks[n];
          else hits = marks;
        });
        return hits;
      });
    });
  }

  // ---- filtering ---------------------------------------------------------------------------

  function dayOf(text) {
    var time = Date.parse(text + "T00:00:00Z");
    return isNaN(time) ? null : Math.floor(time / 86400000);
  }

  // Values in the fragment the data set has no image with (an old bookmark, a typo) are
  // dropped from the state and named, rather than silently matching nothing.
  var ignored = [];
  function dropUnknown() {
    ignored = [];
    var f = state.filters;
    var known = {
      rating: info.ratings.map(function (n, i) { return String(i + 1); }),
      status: STATUSES.map(function (s) { return s[0]; }),
      tag: info.tags.map(function (pair) { return pair[0]; })
    };
    Object.keys(f).forEach(function (key) {
      var field = fieldFor(key);
      var ok = key === "from" || key === "to" ? dayOf(f[key]) !== null
        : field ? field.values.some(function (pair) { return pair[0] === f[key]; })
        : key in known && known[key].indexOf(f[key]) >= 0;
      if (ok) return;
      ignored.push(key + "=" + f[key]);
      delete f[key];
    });
    if (state.sort && !SORTS.some(function (pair) { return pair[0] === state.sort; })) {
      ignored.push("sort=" + state.sort);
      state.sort = "";
    }
    if (ignored.length) writeFragment();
  }

  function fieldFor(key) {
    return info.fields.filter(function (field) { return keyOf(field) === key; })[0] || null;
  }

  // The columns a chooser's own test reads, and which its counts are tallied from.
  function columnsOf(key) {
    if (key === "rating") return ["rating"];
    if (key === "status") return ["status", "rating"];
    if (key === "tag") return ["tags"];
    if (key === "from" || key === "to") return ["day"];
    var field = fieldFor(key);
    return field ? [field.axis ? "axes" : field.name] : [];
  }

  function columnOf(col, field) { return (field.axis ? (col.axes || {})[field.axis] : col[field.name]) || null; }

  // The active filters and the search as tests of an image, each named by the chooser it
  // belongs to (the search, and the dates, which have no counts, by their own keys).
  function tests(col, hits) {
    var f = state.filters;
    var list = [];
    function test(key, ok) { list.push({ key: key, ok: ok }); }
    if (f.rating) {
      var min = +f.rating;
      test("rating", function (i) { return col.rating[i] >= min; });
    }
    if (f.status === "unrated") test("status", function (i) { return !col.status[i] && !col.rating[i]; });
    else if (f.status) test("status", function (i) { return col.status[i] === f.status; });
    if (f.tag) {
      var tagged = new Uint8Array(info.count);
      ((col.tags || {})[f.tag] || []).forEach(function (i) { tagged[i] = 1; });
      test("tag", function (i) { return tagged[i] === 1; });
    }
    if (f.from) {
      var from = dayOf(f.from);
      test("from", function (i) { return col.day[i] >= from; });
    }
    if (f.to) {
      var to = dayOf(f.to);
      test("to", function (i) { return col.day[i] <= to; });
    }
    if (hits) test("q", set === "_library" ? function (i) { return hits[i] === 1; } : function (i) { return hits[col.g[i]] === 1; });
    Object.keys(f).map(fieldFor).filter(Boolean).forEach(function (field) {
      var wanted = -1;
      field.values.forEach(function (pair, i) { if (pair[0] === f[keyOf(field)]) wanted = i; });
      var codes = columnOf(col, field);
      test(keyOf(field), function (i) { return !!codes && codes[i] === wanted; });
    });
    return list;
  }

  var NONE = -1, SEVERAL = -2;

  // The images (indexes in the data set) the state selects, in the order it asks for, and
  // for each image the one test it failed (NONE, or SEVERAL): what the counts narrow by.
  function select() {
    var needs = [];
    function need(name) { if (needs.indexOf(name) < 0) needs.push(name); }
    Object.keys(state.filters).forEach(function (key) { columnsOf(key).forEach(need); });
    if (state.q || state.sort === "newest" || state.sort === "oldest" || state.sort === "rating") need("g");
    if (state.sort === "rating") need("rating");
    if (state.sort === "seed") need("order-seed");
    if (state.sort === "prompt") need("order-prompt");
    return Promise.all([columns(needs), search(state.q)]).then(function (loaded) {
      var col = loaded[0];
      var checks = tests(col, loaded[1]);
      var failed = new Int8Array(info.count);
      var picked = [];
      for (var i = 0; i < info.count; i++) {
        var miss = NONE;
        for (var c = 0; c < checks.length; c++) {
          if (checks[c].ok(i)) continue;
          if (miss !== NONE) { miss = SEVERAL; break; }
          miss = c;
        }
        failed[i] = miss;
        if (miss === NONE) picked.push(i);
      }
      var order = state.sort;
      if (order === "newest") picked.sort(function (a, b) { return col.g[b] - col.g[a]; });
      else if (order === "oldest") picked.sort(function (a, b) { return col.g[a] - col.g[b]; });
      else if (order === "rating") picked.sort(function (a, b) { return col.rating[b] - col.rating[a] || col.g[b] - col.g[a]; });
      else if (order === "seed" || order === "prompt") {
        var rank = new Uint32Array(info.count);
        col["order-" + order].forEach(function (index, position) { rank[index] = position; });
        picked.sort(function (a, b) { return rank[a] - rank[b]; });
      }
      return { picked: picked, failed: failed, keys: checks.map(function (check) { return check.key; }) };
    });
  }

  // Columns by name, loaded (once: the files stay loaded) as a name → data map.
  function columns(names) {
    return Promise.all(names.map(function (name) { return part(set, info, name); })).then(function (loaded) {
      var col = {};
      names.forEach(function (name, i) { col[name] = loaded[i]; });
      return col;
    });
  }

  // ---- showing results ---------------------------------------------------------------------

  var grid = document.querySelector(".grid");
  var saved = null; // the page as built: its tiles, records and page links
  var results = [];
  var shown = 0;
  var summary, panel, moreButton, generation = 0;

  function items(indexes) {
    var chunks = {};
    indexes.forEach(function (i) { chunks[Math.floor(i / info.chunk)] = true; });
    var numbers = Object.keys(chunks);
    return Promise.all(numbers.map(function (n) { return part(set, info, "items-" + n); })).then(function (loaded) {
      var byChunk = {};
      numbers.forEach(function (n, k) { byChunk[n] = loaded[k] || []; });
      return indexes.map(function (i) { return byChunk[Math.floor(i / info.chunk)][i % info.chunk]; });
    });
  }

  function link(path) { return new URL(path, base).href; }

  function record(item) {
    var copy = Object.assign({}, item, { page: link(item.page), facts: item.facts || {}, axes: item.axes || [] });
    ["web", "original", "thumb"].forEach(function (key) {
      if (item[key]) copy[key] = [link(item[key][0]), item[key][1], item[key][2]];
    });
    return copy;
  }

  function tile(item) {
    var node = kiln.el("li", "tile");
    node.dataset.id = item.id;
    node.dataset.rating = String(item.rating || 0);
    node.dataset.status = item.status || "";
    node.dataset.tags = JSON.stringify(item.tags || []);
    node.dataset.notes = item.notes || "";
    var anchor = kiln.el("a");
    anchor.href = item.page;
    if (item.thumb) {
      var img = kiln.el("img");
      img.src = item.thumb[0];
      img.width = item.thumb[1];
      img.height = item.thumb[2];
      img.alt = (item.prompt || "").slice(0, 160);
      img.loading = "lazy";
      img.decoding = "async";
      anchor.appendChild(img);
    } else {
      anchor.appendChild(kiln.el("span", "missing", item.id));
    }
    var about = kiln.el("span", "tile-info");
    about.appendChild(kiln.el("span", "tile-prompt", (item.prompt || "").slice(0, 140)));
    var facts = (item.axes || []).map(function (pair) { return pair[0] + " " + String(pair[1]).slice(0, 24); });
    if (facts.length) about.appendChild(kiln.el("span", "tile-meta", facts.join(" · ")));
    anchor.append(about, kiln.el("span", "tile-marks"));
    node.appendChild(anchor);
    kiln.paint(node);
    return node;
  }

  function pageLinks(on) {
    Array.prototype.forEach.call(document.querySelectorAll(".pager"), function (pager) { pager.hidden = !on; });
    if (on) saved.links.forEach(function (node) { document.head.appendChild(node); });
    else saved.links.forEach(function (node) { node.remove(); });
  }

  function keepPage() {
    if (saved) return;
    saved = {
      tiles: Array.prototype.slice.call(grid.children),
      records: kiln.records,
      links: Array.prototype.slice.call(document.querySelectorAll('link[rel="prev"], link[rel="next"]'))
    };
  }

  function restorePage() {
    if (!saved) return;
    grid.replaceChildren.apply(grid, saved.tiles);
    kiln.records = saved.records;
    pageLinks(true);
    saved = null;
    results = [];
    shown = 0;
    if (moreButton) moreButton.hidden = true;
    say("");
    document.dispatchEvent(new CustomEvent("kiln:page"));
  }

  function say(text) {
    if (!summary) return;
    var note = ignored.length ? "Not in this set, so ignored: " + ignored.join(", ") + "." : "";
    summary.textContent = text && note ? text.replace(/\.?$/, ". ") + note : text || note;
  }

  // Appends the next batch of results; ``then`` runs once they are in the grid. A batch asked
  // for while one is on its way (a second click, the loupe walking on) waits for it, so each
  // takes the results after the last: two would otherwise append the same ones.
  var appending = null;
  function showMore(then) {
    var mine = generation;
    var next = (appending || Promise.resolve()).then(function () {
      var batch = results.slice(shown, shown + BATCH);
      if (mine !== generation || !batch.length) return;
      return items(batch).then(function (found) {
        if (mine !== generation) return;
        found.forEach(function (item) {
          if (!item) return;
          var r = record(item);
          kiln.records[r.id] = r;
          grid.appendChild(tile(r));
        });
        shown += batch.length;
        moreButton.hidden = shown >= results.length;
        document.dispatchEvent(new CustomEvent("kiln:page"));
        if (then) then();
      });
    });
    appending = next.catch(function () {});
    return next;
  }

  kiln.more = function (then) {
    if (!saved || shown >= results.length) return false;
    showMore(then);
    return true;
  };

  function number(n) { return n.toLocaleString("en"); }

  function apply() {
    var mine = ++generation;
    if (info) dropUnknown();
    syncPanel();
    passes = null;
    countsAre("pending");
    if (!active()) {
      passes = { generation: mine, keys: [], failed: null };
      narrow();
      restorePage();
      say(set === "_library" ? "Type a word in the search box, or choose filters." : "");
      return Promise.resolve();
    }
    say("Searching…");
    return select().then(function (selected) {
      if (mine !== generation) return;
      passes = { generation: mine, keys: selected.keys, failed: selected.failed };
      var picked = selected.picked;
      keepPage();
      pageLinks(false);
      results = picked;
      shown = 0;
      appending = null;
      grid.replaceChildren();
      kiln.records = {};
      var what = picked.length === 1 ? "1 image" : number(picked.length) + " images";
      say(what + " of " + number(info.count) + " match" + (picked.length === 1 ? "es" : ""));
      // The counts once the results are in: their columns must not hold the first thumbnails up.
      return showMore().then(narrow);
    }).catch(function (error) {
      if (mine !== generation) return;
      say("Could not load the filter data: " + error.message);
      countsAre("failed");
    });
  }

  // ---- counts that narrow ------------------------------------------------------------------

  // Each chooser counts its values among the images the search and every *other* active
  // filter let through: its own choice does not narrow its counts, so each value says what
  // choosing it instead would give. The meta's counts (of the whole set) stand until the
  // narrowed ones are in. A chooser's column is loaded only when another filter or the search
  // is active and the panel is open, after the results are shown, so at 100,000 images a
  // search typed with the panel closed fetches nothing more than before.
  var facets = []; // { key, select, values: [[value, count in the whole set]], label, tally }
  var passes = null; // the shown results' tests: { generation, keys, failed }
  var countedAt = -1; // the generation the counts are of

  function countsAre(what) {
    if (!panel) return;
    panel.dataset.counts = what;
    if (what === "pending") panel.setAttribute("aria-busy", "true");
    else panel.removeAttribute("aria-busy");
  }

  function showCounts(facet, counts) {
    facet.values.forEach(function (pair, j) {
      var node = facet.select.options[j + 1];
      var text = facet.label(pair[0], counts ? counts[j] : pair[1]);
      if (node.textContent !== text) node.textContent = text;
    });
  }

  function narrow() {
    if (!panel || !passes || passes.generation !== generation || countedAt === generation) return;
    var keys = passes.keys;
    var narrowed = facets.filter(function (facet) {
      return keys.some(function (key) { return key !== facet.key; });
    });
    facets.forEach(function (facet) { if (narrowed.indexOf(facet) < 0) showCounts(facet, null); });
    if (!narrowed.length) {
      countedAt = generation;
      countsAre("whole");
      return;
    }
    if (panel.hidden) return; // toggle() asks again when it opens
    var mine = generation;
    var needs = [];
    narrowed.forEach(function (facet) {
      columnsOf(facet.key).forEach(function (name) { if (needs.indexOf(name) < 0) needs.push(name); });
    });
    var failed = passes.failed;
    return columns(needs).then(function (col) {
      if (mine !== generation) return;
      narrowed.forEach(function (facet) {
        var own = keys.indexOf(facet.key);
        if (own < 0) own = NONE;
        showCounts(facet, facet.tally(col, function (i) { return failed[i] === NONE || failed[i] === own; }));
      });
      countedAt = mine;
      countsAre("narrowed");
    }).catch(function () {
      if (mine === generation) countsAre("failed");
    });
  }

  // Per value of a chooser, how many of the images ``passes(i)`` lets through have it.
  function tallyCodes(codes, size, passes) {
    var counts = new Array(size).fill(0);
    if (!codes) return counts;
    for (var i = 0; i < info.count; i++) if (passes(i)) counts[codes[i]]++;
    return counts;
  }

  function tallyRatings(col, passes) {
    var stars = [0, 0, 0, 0, 0, 0];
    for (var i = 0; i < info.count; i++) if (passes(i)) stars[Math.min(col.rating[i] || 0, 5)]++;
    // "★ ≥ n" counts every image rated n or more.
    return [1, 2, 3, 4, 5].map(function (n) { return stars.slice(n).reduce(function (a, b) { return a + b; }, 0); });
  }

  function tallyStatuses(col, passes) {
    var counts = { picked: 0, rejected: 0, unrated: 0 };
    for (var i = 0; i < info.count; i++) {
      if (!passes(i)) continue;
      var status = col.status[i];
      if (status === "picked" || status === "rejected") counts[status]++;
      else if (!col.rating[i]) counts.unrated++;
    }
    return STATUSES.map(function (s) { return counts[s[0]]; });
  }

  function tallyTags(col, passes) {
    var tags = col.tags || {};
    return info.tags.map(function (pair) {
      var n = 0;
      (tags[pair[0]] || []).forEach(function (i) { if (passes(i)) n++; });
      return n;
    });
  }

  // ---- the panel ---------------------------------------------------------------------------

  var controls = {};

  function option(select, value, text) {
    var node = kiln.el("option", null, text);
    node.value = value;
    select.appendChild(node);
  }

  function chooser(key, label, choices) {
    var wrap = kiln.el("label", "find-field");
    wrap.appendChild(kiln.el("span", "find-label", label));
    var select = kiln.el("select");
    select.name = key;
    option(select, "", "any");
    choices.forEach(function (choice) { option(select, choice[0], choice[1]); });
    select.addEventListener("change", function () {
      if (key === "sort") state.sort = select.value;
      else if (select.value) state.filters[key] = select.value;
      else delete state.filters[key];
      changed();
    });
    wrap.appendChild(select);
    controls[key] = select;
    panel.appendChild(wrap);
    return select;
  }

  // A chooser whose values are counted: ``values`` pairs each value with its whole-set count.
  function countedChooser(key, label, values, text, tally) {
    var select = chooser(key, label, values.map(function (pair) { return [pair[0], text(pair[0], pair[1])]; }));
    select.setAttribute("aria-describedby", "find-counts");
    facets.push({ key: key, select: select, values: values, label: text, tally: tally });
  }

  function dateField(key, label) {
    var wrap = kiln.el("label", "find-field");
    wrap.appendChild(kiln.el("span", "find-label", label));
    var field = kiln.el("input");
    field.type = "date";
    field.name = key;
    if (info.days) {
      field.min = new Date(info.days[0] * 86400000).toISOString().slice(0, 10);
      field.max = new Date(info.days[1] * 86400000).toISOString().slice(0, 10);
    }
    field.addEventListener("change", function () {
      if (field.value) state.filters[key] = field.value;
      else delete state.filters[key];
      changed();
    });
    wrap.appendChild(field);
    controls[key] = field;
    panel.appendChild(wrap);
  }

  function counted(value, count) { return (value === "" ? "(none)" : value) + " (" + number(count) + ")"; }

  function buildPanel() {
    var head = document.querySelector(".grid-head");
    panel = kiln.el("div", "find-panel");
    panel.id = "find-panel";
    panel.setAttribute("role", "group");
    panel.setAttribute("aria-label", "Filter and sort");
    panel.hidden = true;
    var sort = SORTS.slice(1);
    chooser("sort", "Sort", sort);
    controls.sort.options[0].textContent = SORTS[0][1];
    var note = kiln.el("p", "sr-only", "Each count is of the images that match the search and the other filters.");
    note.id = "find-counts";
    panel.appendChild(note);
    countedChooser("rating", "Rating", info.ratings.map(function (n, i) { return [String(i + 1), n]; }),
      function (value, n) { return "★ ≥ " + value + " (" + number(n) + ")"; }, tallyRatings);
    countedChooser("status", "Status", STATUSES.map(function (s) { return [s[0], info.statuses[s[0]]]; }), counted, tallyStatuses);
    info.fields.forEach(function (field) {
      countedChooser(keyOf(field), field.label, field.values, counted, function (col, passes) {
        return tallyCodes(columnOf(col, field), field.values.length, passes);
      });
    });
    if (info.tags.length) countedChooser("tag", "Tag", info.tags, counted, tallyTags);
    dateField("from", "From");
    dateField("to", "To");
    var clear = kiln.el("button", "find-clear", "Clear");
    clear.type = "button";
    clear.addEventListener("click", function () {
      state = { q: "", sort: "", filters: {} };
      input.value = "";
      changed();
    });
    panel.appendChild(clear);
    summary = kiln.el("p", "find-summary");
    summary.setAttribute("role", "status");
    moreButton = kiln.el("button", "find-more", "Show more");
    moreButton.type = "button";
    moreButton.hidden = true;
    moreButton.addEventListener("click", function () { showMore(); });
    head.parentNode.insertBefore(panel, head.nextSibling);
    panel.parentNode.insertBefore(summary, panel.nextSibling);
    grid.parentNode.insertBefore(moreButton, grid.nextSibling);
    Array.prototype.forEach.call(document.querySelectorAll(".find-toggle"), function (button) {
      button.setAttribute("aria-controls", panel.id);
    });
  }

  function syncPanel() {
    if (input.value !== state.q && document.activeElement !== input) input.value = state.q;
    if (!panel) return;
    Object.keys(controls).forEach(function (key) {
      var wanted = key === "sort" ? state.sort : state.filters[key] || "";
      controls[key].value = wanted;
    });
    if (Object.keys(state.filters).length || state.sort) toggle(true);
  }

  function toggle(open) {
    if (!panel) return;
    panel.hidden = open === undefined ? !panel.hidden : !open;
    Array.prototype.forEach.call(document.querySelectorAll(".find-toggle"), function (button) {
      button.setAttribute("aria-expanded", String(!panel.hidden));
    });
    if (!panel.hidden) narrow();
  }

  function changed() {
    writeFragment();
    apply();
  }

  // ---- wiring ------------------------------------------------------------------------------

  // Results follow the typing on pages with a data set, once it pauses.
  var typing = null;
  function typed() {
    if (!set) return;
    clearTimeout(typing);
    typing = setTimeout(function () {
      state.q = input.value.trim();
      changed();
    }, 200);
  }

  function submit() {
    var text = input.value.trim();
    if (!set) {
      location.href = base + "search.html" + (text ? "#q=" + encodeURIComponent(text) : "");
      return;
    }
    clearTimeout(typing);
    state.q = text;
    changed();
  }

  window.addEventListener("hashchange", function () {
    var next = readFragment();
    if (JSON.stringify(next) === JSON.stringify(state)) return;
    state = next;
    // Until the data set's meta is in there is nothing to filter: start() applies the state
    // as it is by then.
    if (info) apply();
  });

  kiln.findParams = params;

  function start() {
    state = readFragment();
    if (state.q) input.value = state.q; // else keep what was typed while this script loaded
    if (!set) return Promise.resolve();
    return meta(set).then(function (data) {
      info = data;
      buildPanel();
      return apply();
    }).then(function () {
      var wanted = kiln.hash().view;
      kiln.findPending = false;
      if (wanted && kiln.loupe && !kiln.loupe.current() && kiln.records[wanted]) kiln.loupe.show(wanted, "replace");
    });
  }

  var ready = start();
  kiln.findReady({
    submit: function () { ready.then(submit); },
    typed: function () { ready.then(typed); },
    toggle: function () { ready.then(function () { toggle(); }); },
    ready: ready
  });
})();
