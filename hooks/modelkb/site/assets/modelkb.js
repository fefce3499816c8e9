/* modelkb comparison viewer. Written for this project; no dependencies, no network.

   Turns each [data-mkb-viewer] figure (its views side by side without JavaScript) into one
   frame showing two views split by a divider, with synchronised zoom and pan:
   - divider: drag it (mouse, touch, pen), or focus the handle and use the arrow keys,
     Home and End;
   - zoom: pinch, Ctrl + wheel (or the wheel once zoomed in), double-click for 1:1 and back,
     the toolbar buttons, or the keys + - 0 (fit) 1 (1:1) with the frame focused;
   - pan: drag when zoomed in, or the arrow keys with the frame focused;
   - views: choose what each side shows (resize only, model, input, sharp original, the
     heat map of what the model changed).
*/
(function () {
  "use strict";

  var MAX_ZOOM = 8;

  function el(tag, cls, attrs) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function setup(figure) {
    if (figure.dataset.mkbReady) return;
    var views = {};
    var order = [];
    figure.querySelectorAll("[data-view]").forEach(function (v) {
      var img = v.querySelector("img");
      views[v.dataset.view] = {label: v.dataset.label, src: v.dataset.src,
                               w: Number(img.getAttribute("width")),
                               h: Number(img.getAttribute("height"))};
      order.push(v.dataset.view);
    });
    if (!views.output || order.length < 2) return;
    figure.dataset.mkbReady = "1";
    figure.classList.add("mkb-viewer--js");
    var fullW = Number(figure.dataset.fullWidth) || views.output.w;
    var legend = figure.querySelector(".mkb-legend");

    // -- structure ---------------------------------------------------------------------------
    var stage = el("div", "mkb-viewer__stage", {tabindex: "0", role: "group",
      "aria-roledescription": "image comparison",
      "aria-label": "Comparison. Keys: plus and minus zoom, 0 fits, 1 shows actual pixels, " +
                    "arrows pan when zoomed in."});
    var sides = {};
    ["right", "left"].forEach(function (side) {
      var layer = el("div", "mkb-viewer__layer mkb-viewer__layer--" + side);
      var canvas = el("div", "mkb-viewer__canvas");
      var img = el("img", "off-glb", {alt: "", draggable: "false", decoding: "async",
                                     loading: "lazy"});
      canvas.appendChild(img);
      layer.appendChild(canvas);
      var tag = el("span", "mkb-viewer__tag mkb-viewer__tag--" + side, {"aria-hidden": "true"});
      stage.appendChild(layer);
      stage.appendChild(tag);
      sides[side] = {layer: layer, canvas: canvas, img: img, tag: tag, view: null};
    });
    var divider = el("div", "mkb-viewer__divider");
    var handle = el("div", "mkb-viewer__handle", {role: "slider", tabindex: "0",
      "aria-valuemin": "0", "aria-valuemax": "100", "aria-orientation": "horizontal"});
    handle.innerHTML = '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">' +
      '<path d="M9 6l-6 6 6 6M15 6l6 6-6 6" fill="none" stroke="currentColor" ' +
      'stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"/></svg>';
    divider.appendChild(handle);
    stage.appendChild(divider);
    var hint = el("div", "mkb-viewer__hint", {"aria-live": "polite"});
    stage.appendChild(hint);

    var bar = el("div", "mkb-viewer__bar");
    function picker(side, text) {
      var label = el("label", "mkb-viewer__pick");
      var span = el("span");
      span.textContent = text;
      var select = el("select", "", {"data-side": side});
      order.forEach(function (key) {
        var option = el("option", "", {value: key});
        option.textContent = views[key].label;
        select.appendChild(option);
      });
      label.appendChild(span);
      label.appendChild(select);
      bar.appendChild(label);
      return select;
    }
    var pickLeft = picker("left", "Left");
    var pickRight = picker("right", "Right");
    var zoomGroup = el("div", "mkb-viewer__zoom", {role: "group", "aria-label": "Zoom"});
    function button(text, title, action) {
      var b = el("button", "mkb-viewer__btn", {type: "button", title: title,
                                                "aria-label": title, "data-action": action});
      b.textContent = text;
      zoomGroup.appendChild(b);
      return b;
    }
    button("\u2212", "Zoom out", "out");
    var fitButton = button("Fit", "Fit the photo to the frame", "fit");
    var oneButton = button("1:1", "Actual pixels (one image pixel per screen point)", "one");
    button("+", "Zoom in", "in");
    var readout = el("output", "mkb-viewer__readout", {"aria-live": "polite"});
    zoomGroup.appendChild(readout);
    bar.appendChild(zoomGroup);

    var host = figure.querySelector(".mkb-viewer__views");
    host.parentNode.insertBefore(stage, host);
    host.parentNode.insertBefore(bar, host);

    // -- state ---------------------------------------------------------------------------------
    var pos = 50;            // divider, % of the frame's width
    var zoom = 1;            // 1 = the photo fits the frame
    var tx = 0, ty = 0;      // pan, CSS px (canvas origin relative to the frame)

    function frame() { return stage.getBoundingClientRect(); }
    function oneToOne() { var w = frame().width; return w > 0 ? fullW / w : 1; }
    function maxZoom() { return Math.max(MAX_ZOOM, oneToOne() * 4); }

    function clampPan() {
      var box = frame();
      tx = Math.min(0, Math.max(box.width - box.width * zoom, tx));
      ty = Math.min(0, Math.max(box.height - box.height * zoom, ty));
    }

    function paint() {
      clampPan();
      var t = "translate(" + tx + "px," + ty + "px) scale(" + zoom + ")";
      sides.left.canvas.style.transform = t;
      sides.right.canvas.style.transform = t;
      stage.style.setProperty("--mkb-pos", pos + "%");
      handle.setAttribute("aria-valuenow", String(Math.round(pos)));
      handle.setAttribute("aria-valuetext", Math.round(pos) + "% " +
        views[sides.left.view].label + ", " + Math.round(100 - pos) + "% " +
        views[sides.right.view].label);
      var ratio = zoom / oneToOne();
      readout.value = readout.textContent = Math.round(ratio * 100) + "%";
      figure.dataset.zoom = zoom.toFixed(3);
      stage.classList.toggle("is-zoomed", zoom > 1.001);
      stage.classList.toggle("is-pixels", ratio >= 0.999);
      fitButton.setAttribute("aria-pressed", zoom <= 1.001 ? "true" : "false");
      oneButton.setAttribute("aria-pressed", Math.abs(ratio - 1) < 0.01 ? "true" : "false");
    }

    function zoomTo(next, px, py) {
      var box = frame();
      if (px === undefined) { px = box.width / 2; py = box.height / 2; }
      next = Math.max(1, Math.min(maxZoom(), next));
      tx = px - (px - tx) * (next / zoom);
      ty = py - (py - ty) * (next / zoom);
      zoom = next;
      paint();
    }

    function show(side, key) {
      var s = sides[side];
      s.view = key;
      var v = views[key];
      if (s.img.getAttribute("src") !== v.src) s.img.setAttribute("src", v.src);
      s.img.setAttribute("width", v.w);
      s.img.setAttribute("height", v.h);
      s.img.alt = v.label;
      s.tag.textContent = v.label;
      (side === "left" ? pickLeft : pickRight).value = key;
      figure.dataset[side] = key;
      if (legend) {
        legend.hidden = sides.left.view !== "diff" && sides.right.view !== "diff";
      }
      if (sides.left.view && sides.right.view) paint();
    }

    function setPos(p) { pos = Math.max(0, Math.min(100, p)); paint(); }

    var hintTimer = null;
    function flash(text) {
      hint.textContent = text;
      stage.classList.add("has-hint");
      clearTimeout(hintTimer);
      hintTimer = setTimeout(function () { stage.classList.remove("has-hint"); }, 1400);
    }

    // -- views ---------------------------------------------------------------------------------
    pickLeft.addEventListener("change", function () { show("left", pickLeft.value); });
    pickRight.addEventListener("change", function () { show("right", pickRight.value); });
    zoomGroup.addEventListener("click", function (event) {
      var action = event.target.closest("button") && event.target.closest("button").dataset.action;
      if (action === "in") zoomTo(zoom * 1.5);
      else if (action === "out") zoomTo(zoom / 1.5);
      else if (action === "fit") zoomTo(1);
      else if (action === "one") zoomTo(oneToOne());
    });

    // -- pointers: divider, pan, pinch ---------------------------------------------------------
    var pointers = {};
    var mode = null;  // "divider", "pan" or "pinch"
    var last = null;  // previous pan point, or pinch {dist, x, y}

    function local(event) {
      var box = frame();
      return {x: event.clientX - box.left, y: event.clientY - box.top, w: box.width};
    }
    function pinchInfo() {
      var ids = Object.keys(pointers);
      var a = pointers[ids[0]], b = pointers[ids[1]];
      return {dist: Math.hypot(a.x - b.x, a.y - b.y) || 1, x: (a.x + b.x) / 2,
              y: (a.y + b.y) / 2};
    }

    stage.addEventListener("pointerdown", function (event) {
      if (event.button !== undefined && event.button > 0) return;
      var p = local(event);
      pointers[event.pointerId] = p;
      stage.setPointerCapture(event.pointerId);
      var count = Object.keys(pointers).length;
      if (count === 2) {
        mode = "pinch";
        last = pinchInfo();
      } else if (count === 1) {
        var onHandle = event.target.closest && event.target.closest(".mkb-viewer__handle");
        mode = onHandle || zoom <= 1.001 ? "divider" : "pan";
        last = p;
        if (mode === "divider" && !onHandle) setPos(p.x / p.w * 100);
      }
      event.preventDefault();
    });
    stage.addEventListener("pointermove", function (event) {
      if (!(event.pointerId in pointers)) return;
      var p = local(event);
      pointers[event.pointerId] = p;
      if (mode === "divider") {
        setPos(p.x / p.w * 100);
      } else if (mode === "pan") {
        tx += p.x - last.x;
        ty += p.y - last.y;
        last = p;
        paint();
      } else if (mode === "pinch" && Object.keys(pointers).length >= 2) {
        var now = pinchInfo();
        tx += now.x - last.x;
        ty += now.y - last.y;
        zoomTo(zoom * now.dist / last.dist, now.x, now.y);
        last = now;
      }
    });
    function release(event) {
      delete pointers[event.pointerId];
      var left = Object.keys(pointers);
      if (left.length === 1) { mode = zoom > 1.001 ? "pan" : null; last = pointers[left[0]]; }
      if (left.length === 0) { mode = null; }
    }
    stage.addEventListener("pointerup", release);
    stage.addEventListener("pointercancel", release);

    stage.addEventListener("dblclick", function (event) {
      var p = local(event);
      if (Math.abs(zoom / oneToOne() - 1) < 0.01 || zoom > 1.001) zoomTo(1);
      else zoomTo(oneToOne(), p.x, event.clientY - frame().top);
      event.preventDefault();
    });

    stage.addEventListener("wheel", function (event) {
      if (!(event.ctrlKey || event.metaKey) && zoom <= 1.001) {
        flash("Ctrl + scroll to zoom; double-click for 1:1");
        return;  // the page scrolls as usual
      }
      event.preventDefault();
      var p = local(event);
      var step = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
      zoomTo(zoom * Math.exp(-step * 0.0025), p.x, event.clientY - frame().top);
    }, {passive: false});

    // -- keyboard --------------------------------------------------------------------------------
    handle.addEventListener("keydown", function (event) {
      var big = event.shiftKey ? 10 : 2;
      var moves = {ArrowLeft: -big, ArrowDown: -big, ArrowRight: big, ArrowUp: big};
      if (event.key in moves) setPos(pos + moves[event.key]);
      else if (event.key === "Home") setPos(0);
      else if (event.key === "End") setPos(100);
      else if (event.key === "PageDown") setPos(pos - 10);
      else if (event.key === "PageUp") setPos(pos + 10);
      else return;
      event.preventDefault();
      event.stopPropagation();
    });
    stage.addEventListener("keydown", function (event) {
      var box = frame();
      var step = (event.shiftKey ? 0.4 : 0.1) * box.width;
      var pans = {ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step],
                  ArrowDown: [0, -step]};
      if (event.key === "+" || event.key === "=") zoomTo(zoom * 1.5);
      else if (event.key === "-" || event.key === "_") zoomTo(zoom / 1.5);
      else if (event.key === "0") zoomTo(1);
      else if (event.key === "1") zoomTo(oneToOne());
      else if (event.key in pans && zoom > 1.001) {
        tx += pans[event.key][0];
        ty += pans[event.key][1];
        paint();
      } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        setPos(pos + (event.key === "ArrowLeft" ? -2 : 2));
      } else return;
      event.preventDefault();
    });

    window.addEventListener("resize", function () { paint(); });
    show("left", views[figure.dataset.left] ? figure.dataset.left : order[0]);
    show("right", views[figure.dataset.right] ? figure.dataset.right : order[1]);
    paint();
  }

  function init() {
    document.querySelectorAll("[data-mkb-viewer]").forEach(setup);
  }

  // Material's instant navigation swaps pages without reloading: re-run on each page.
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(init);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
