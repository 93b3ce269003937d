// The grid page's axis selector: X across, Y down and a third axis as pages. It moves the
// tiles the server laid out (by gallery.grid) into the layout chosen, so the loupe walks the
// page shown; the choice is kept in the query string (?x=steps&y=seed&z=sampler&page=2),
// apart from the fragment the loupe uses.
(function () {
  "use strict";
  var node = document.getElementById("kiln-grid");
  var form = document.querySelector(".xy-axes");
  var table = document.querySelector("table.xy");
  var caption = document.querySelector(".xy-caption");
  if (!node || !form || !table) return;
  var data = JSON.parse(node.textContent);
  if (!data.axes.length) return;
  var tiles = {};
  Array.prototype.forEach.call(table.querySelectorAll(".tile[data-id]"), function (tile) {
    tiles[tile.dataset.id] = tile;
  });
  var state = read();

  function read() {
    var params = new URLSearchParams(location.search);
    var has = function (axis) { return data.axes.indexOf(axis) >= 0; };
    var x = has(params.get("x")) ? params.get("x") : has(data.x) ? data.x : data.axes[0];
    var y = params.has("y") ? params.get("y") : data.y || "";
    if (!has(y) || y === x) y = "";
    var z = params.get("z") || "";
    if (!has(z) || z === x || z === y) z = "";
    var page = parseInt(params.get("page"), 10) || 1;
    if (!z || page < 1 || page > data.labels[z].length) page = 1;
    return { x: x, y: y, z: z, page: page };
  }

  function write() {
    var params = new URLSearchParams();
    params.set("x", state.x);
    if (state.y) params.set("y", state.y);
    if (state.z) { params.set("z", state.z); params.set("page", String(state.page)); }
    history.replaceState(history.state, "", "?" + params.toString() + location.hash);
  }

  function element(tag, attributes, text) {
    var el = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (key) { el.setAttribute(key, attributes[key]); });
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function select(name, label, options, value, onChange) {
    var wrap = element("label", { class: "xy-axis" });
    wrap.appendChild(element("span", {}, label));
    var box = element("select", { name: name });
    options.forEach(function (option) {
      var item = element("option", { value: option[0] }, option[1]);
      if (option[0] === value) item.selected = true;
      box.appendChild(item);
    });
    box.addEventListener("change", function () { onChange(box.value); });
    wrap.appendChild(box);
    return wrap;
  }

  function choose(which, axis) {
    // An axis taken by another role swaps with it, so no axis is ever used twice.
    var roles = ["x", "y", "z"];
    roles.forEach(function (role) {
      if (role !== which && axis && state[role] === axis) state[role] = state[which];
    });
    state[which] = axis;
    if (!state.x) state.x = data.axes.filter(function (a) { return a !== state.y && a !== state.z; })[0];
    if (which === "z" || !state.z) state.page = 1;
    render();
  }

  function controls() {
    var axes = data.axes.map(function (axis) { return [axis, axis + " (" + data.labels[axis].length + ")"]; });
    var none = [["", "none"]];
    form.textContent = "";
    form.appendChild(select("x", "Across", axes, state.x, function (v) { choose("x", v); }));
    form.appendChild(select("y", "Down", none.concat(axes), state.y, function (v) { choose("y", v); }));
    form.appendChild(select("z", "Pages", none.concat(axes), state.z, function (v) { choose("z", v); }));
    if (state.z) {
      var pages = data.labels[state.z].map(function (label, i) { return [String(i + 1), label]; });
      form.appendChild(select("page", state.z, pages, String(state.page), function (v) {
        state.page = parseInt(v, 10) || 1;
        render();
      }));
    }
    form.hidden = false;
  }

  function render() {
    var xi = data.axes.indexOf(state.x) + 1;
    var yi = state.y ? data.axes.indexOf(state.y) + 1 : 0;
    var zi = state.z ? data.axes.indexOf(state.z) + 1 : 0;
    var columns = data.labels[state.x];
    var rows = state.y ? data.labels[state.y] : [null];
    var head = element("thead");
    var top = element("tr");
    if (state.y) top.appendChild(element("th", { scope: "col", class: "xy-corner" }, state.y + " \\ " + state.x));
    columns.forEach(function (label) { top.appendChild(element("th", { scope: "col" }, label)); });
    head.appendChild(top);
    var body = element("tbody");
    var cells = rows.map(function (label) {
      var tr = element("tr");
      if (state.y) tr.appendChild(element("th", { scope: "row" }, label));
      body.appendChild(tr);
      return columns.map(function () { return tr.appendChild(element("td")); });
    });
    var aside = document.createDocumentFragment();
    var per = 1;
    data.cells.forEach(function (cell) {
      var tile = tiles[cell[0]];
      if (!tile) return;
      if (zi && cell[zi] !== state.page - 1) aside.appendChild(tile);
      else {
        var td = cells[yi ? cell[yi] : 0][cell[xi]];
        td.appendChild(tile);
        per = Math.max(per, td.children.length);
      }
    });
    table.style.setProperty("--columns", String(columns.length));
    table.style.setProperty("--per", String(per));
    table.textContent = "";
    table.appendChild(head);
    table.appendChild(body);
    if (caption) {
      caption.textContent = state.x + " across" + (state.y ? ", " + state.y + " down" : "") +
        (state.z ? "; " + state.z + " " + data.labels[state.z][state.page - 1] + " (" + state.page + " of " + data.labels[state.z].length + ")" : "") + ".";
    }
    controls();
    write();
    document.dispatchEvent(new CustomEvent("kiln:page"));
  }

  render();
})();
