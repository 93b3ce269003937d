// Zoom and pan shared by one or more panes: the loupe has one, compare up to four, and all
// of them show the same zoom and the same pan. A scale of null means "fit the pane";
// otherwise it is screen pixels per image pixel, and (ox, oy) is how far, in image pixels,
// the point at the centre of the panes is from the centre of their images.
(function () {
  "use strict";
  var kiln = window.kiln;
  var MAX = 8;
  var STEP = 1.25;

  function Zoom() {
    this.scale = null;
    this.ox = 0;
    this.oy = 0;
    this.panes = [];
  }

  // ``box`` holds ``img``; ``record`` is the image's entry from #kiln-images.
  Zoom.prototype.add = function (box, img, record) {
    var zoom = this;
    var pane = { box: box, img: img, record: record };
    this.panes.push(pane);
    img.draggable = false;
    img.decoding = "async";
    var drag = null;
    box.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      drag = { x: event.clientX, y: event.clientY, moved: false, id: event.pointerId };
      box.setPointerCapture(event.pointerId);
    });
    box.addEventListener("pointermove", function (event) {
      if (!drag || drag.id !== event.pointerId) return;
      var dx = event.clientX - drag.x;
      var dy = event.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      drag.moved = true;
      box.classList.add("is-dragging");
      drag.x = event.clientX;
      drag.y = event.clientY;
      zoom.pan(pane, dx, dy);
    });
    function end(event) {
      if (!drag || drag.id !== event.pointerId) return;
      var clicked = !drag.moved && event.type === "pointerup";
      drag = null;
      box.classList.remove("is-dragging");
      if (clicked) zoom.toggle(pane, event.clientX, event.clientY);
    }
    box.addEventListener("pointerup", end);
    box.addEventListener("pointercancel", end);
    box.addEventListener("wheel", function (event) {
      event.preventDefault();
      zoom.by(event.deltaY < 0 ? STEP : 1 / STEP, pane, event.clientX, event.clientY);
    }, { passive: false });
    this.render();
    return pane;
  };

  Zoom.prototype.clear = function () {
    this.panes = [];
    this.reset();
  };

  Zoom.prototype.reset = function () {
    this.scale = null;
    this.ox = this.oy = 0;
  };

  function sizeOf(record) {
    if (record.original) return [record.original[1], record.original[2]];
    if (record.web) return [record.web[1], record.web[2]];
    return record.size;
  }

  function fit(pane) {
    var size = sizeOf(pane.record);
    return Math.min(pane.box.clientWidth / size[0], pane.box.clientHeight / size[1]);
  }

  // One image pixel on one screen pixel.
  Zoom.prototype.actual = function () {
    return 1 / (window.devicePixelRatio || 1);
  };

  Zoom.prototype.current = function (pane) {
    pane = pane || this.panes[0];
    return this.scale === null ? fit(pane) : this.scale;
  };

  Zoom.prototype.percent = function () {
    return this.panes.length ? Math.round((100 * this.current()) / this.actual()) : 100;
  };

  // The image point under the screen point (x, y) of a pane, from the image's centre.
  function pointAt(zoom, pane, x, y) {
    var rect = pane.box.getBoundingClientRect();
    var size = sizeOf(pane.record);
    var scale = zoom.current(pane);
    var left = parseFloat(pane.img.dataset.x) || 0;
    var top = parseFloat(pane.img.dataset.y) || 0;
    return [(x - rect.left - left) / scale - size[0] / 2, (y - rect.top - top) / scale - size[1] / 2];
  }

  // Sets the scale, keeping the image point under (x, y) where it is (the centre by default).
  Zoom.prototype.set = function (scale, pane, x, y) {
    pane = pane || this.panes[0];
    if (!pane) return;
    var rect = pane.box.getBoundingClientRect();
    if (x === undefined) {
      x = rect.left + rect.width / 2;
      y = rect.top + rect.height / 2;
    }
    var point = pointAt(this, pane, x, y);
    this.scale = scale !== null && scale <= fit(pane) + 1e-9 && scale < this.actual() ? null : scale;
    if (this.scale === null) {
      this.ox = this.oy = 0;
    } else {
      this.ox = point[0] - (x - rect.left - rect.width / 2) / this.scale;
      this.oy = point[1] - (y - rect.top - rect.height / 2) / this.scale;
    }
    this.render();
  };

  Zoom.prototype.toggle = function (pane, x, y) {
    this.set(this.scale === null ? this.actual() : null, pane, x, y);
  };

  Zoom.prototype.by = function (factor, pane, x, y) {
    pane = pane || this.panes[0];
    if (!pane) return;
    var scale = Math.min(MAX, Math.max(this.current(pane) * factor, 0.02));
    this.set(scale <= fit(pane) ? null : scale, pane, x, y);
  };

  Zoom.prototype.pan = function (pane, dx, dy) {
    if (this.scale === null) return;
    this.ox -= dx / this.scale;
    this.oy -= dy / this.scale;
    this.render();
  };

  // Keeps the first pane's image covering its box where it can, then places every pane.
  Zoom.prototype.render = function () {
    var zoom = this;
    var first = this.panes[0];
    if (first && this.scale !== null) {
      var size = sizeOf(first.record);
      var roomX = Math.max(0, (size[0] * this.scale - first.box.clientWidth) / (2 * this.scale));
      var roomY = Math.max(0, (size[1] * this.scale - first.box.clientHeight) / (2 * this.scale));
      this.ox = Math.min(roomX, Math.max(-roomX, this.ox));
      this.oy = Math.min(roomY, Math.max(-roomY, this.oy));
    }
    this.panes.forEach(function (pane) { place(zoom, pane); });
    document.dispatchEvent(new CustomEvent("kiln:zoom", { detail: this }));
  };

  function place(zoom, pane) {
    var size = sizeOf(pane.record);
    var scale = zoom.current(pane);
    var w = size[0] * scale;
    var h = size[1] * scale;
    var boxW = pane.box.clientWidth;
    var boxH = pane.box.clientHeight;
    var x = w <= boxW ? (boxW - w) / 2 : boxW / 2 - (size[0] / 2 + zoom.ox) * scale;
    var y = h <= boxH ? (boxH - h) / 2 : boxH / 2 - (size[1] / 2 + zoom.oy) * scale;
    pane.img.style.width = w + "px";
    pane.img.style.height = h + "px";
    pane.img.style.transform = "translate(" + x + "px," + y + "px)";
    pane.img.dataset.x = x;
    pane.img.dataset.y = y;
    pane.box.classList.toggle("is-zoomed", zoom.scale !== null);
    source(zoom, pane, w);
  }

  // The web copy while it is sharp enough; the original at 100 % and beyond, or when the
  // image is shown larger than its web copy, swapped in once it has arrived so the picture
  // never blanks.
  function source(zoom, pane, width) {
    var record = pane.record;
    var web = record.web;
    var original = record.original;
    var dpr = window.devicePixelRatio || 1;
    var sharper = original && (!web || original[1] > web[1]);
    var full = original && (!web || zoom.scale !== null && zoom.scale >= zoom.actual() - 1e-9 || sharper && width * dpr > web[1] * 1.01);
    var wanted = full ? original[0] : web ? web[0] : null;
    if (!wanted || pane.wanted === wanted) return;
    pane.wanted = wanted;
    pane.box.classList.toggle("is-original", !!full);
    if (!pane.img.getAttribute("src")) {
      pane.img.src = wanted;
      return;
    }
    var loader = new Image();
    loader.onload = function () {
      if (pane.wanted === wanted) pane.img.src = wanted;
    };
    loader.src = wanted;
  }

  kiln.Zoom = Zoom;
  kiln.sizeOf = sizeOf;
  kiln.preload = function (record) {
    if (record && record.web) new Image().src = record.web[0];
  };
})();
