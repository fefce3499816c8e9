/* modelkb comparison viewer. Written for this project; no dependencies, no network.

   Turns each [data-mkb-viewer] figure (its views side by side without JavaScript) into one
   frame showing two views, with its controls inside the frame:
   - modes: a wipe (the two views split by a divider) or side by side (two panes showing the
     same region of the photo); zoom and pan always move both views together;
   - opening: with data-open="one" and data-focus="x,y,w,h" (pixels of the full-size output,
     recorded when the pictures were made) a frame wide enough opens at 1:1 centred on that
     region; a narrow one (a phone) opens at Fit with the region outlined, and a tap on the
     outline shows it at 1:1. The lead viewer's pictures load first (eager, high priority);
     data-mode="side" opens side by side where the frame is wide enough for two panes;
   - divider (wipe): drag it (mouse, pen, or a sideways touch drag), or focus the handle and
     use the arrow keys, Home and End. A vertical swipe on a touch screen only scrolls the
     page: the frame never claims it (touch-action: pan-y) and the divider does not move;
   - zoom: pinch, Ctrl + wheel, double-click for 1:1 and back, the toolbar buttons, or the
     keys + - 0 (fit) 1 (1:1) with the frame focused; a plain wheel scrolls the page;
   - pan: drag when zoomed in (mouse, pen; on touch a sideways drag or two fingers), or the
     arrow keys with the frame focused;
   - views: choose what each side shows (resize only, model, input, sharp original, the
     heat map of what the model changed);
   - sharing: "Link to this view" holds the page's address with the photo's anchor and the
     view in the fragment (#photo-ID?view=LEFT,RIGHT&mode=side&z=SCALE&c=X,Y, the centre as
     fractions of the photo); clicking it copies it. Opening such an address restores that
     view in the first viewer after the anchor and scrolls there.
   The view state is (scale, centre): CSS pixels per output pixel and the output pixel at the
   middle of each pane, so both panes show the same region whatever the mode.
*/
(function () {
  "use strict";

  var MAX_ZOOM = 8;      // relative to fit, at least 4x the 1:1 scale
  var SIDE_MIN = 600;    // frame width (CSS px) from which data-mode="side" opens side by side
  var TOUCH_SLOP = 8;    // px a touch moves before its direction is decided

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
    var lead = figure.classList.contains("mkb-viewer--lead");
    figure.dataset.mkbReady = "1";
    figure.classList.add("mkb-viewer--js");
    var fullW = Number(figure.dataset.fullWidth) || views.output.w;
    var fullH = Number(figure.dataset.fullHeight) || views.output.h;
    var focus = (figure.dataset.focus || "").split(",").map(Number);
    if (focus.length !== 4 || focus.some(isNaN)) focus = null;
    var legend = figure.querySelector(".mkb-legend");

    // -- structure ---------------------------------------------------------------------------
    var frameBox = el("div", "mkb-viewer__frame");
    var stage = el("div", "mkb-viewer__stage", {tabindex: "0", role: "group",
      "aria-roledescription": "image comparison",
      "aria-label": "Comparison. Keys: plus and minus zoom, 0 fits, 1 shows actual pixels, " +
                    "arrows pan when zoomed in."});
    frameBox.appendChild(stage);
    var sides = {};
    ["right", "left"].forEach(function (side) {
      var layer = el("div", "mkb-viewer__layer mkb-viewer__layer--" + side);
      var canvas = el("div", "mkb-viewer__canvas");
      canvas.style.width = fullW + "px";
      canvas.style.height = fullH + "px";
      var img = el("img", "off-glb", {alt: "", draggable: "false", decoding: "async",
                                     loading: lead ? "eager" : "lazy"});
      if (lead) img.setAttribute("fetchpriority", "high");
      canvas.appendChild(img);
      if (focus) {
        var box = el("div", "mkb-viewer__focus", {"aria-hidden": "true"});
        box.style.left = focus[0] + "px";
        box.style.top = focus[1] + "px";
        box.style.width = focus[2] + "px";
        box.style.height = focus[3] + "px";
        canvas.appendChild(box);
      }
      layer.appendChild(canvas);
      var tag = el("span", "mkb-viewer__tag mkb-viewer__tag--" + side, {"aria-hidden": "true"});
      stage.appendChild(layer);
      stage.appendChild(tag);
      sides[side] = {layer: layer, canvas: canvas, img: img, tag: tag, view: null};
    });
    var divider = el("div", "mkb-viewer__divider");
    var handle = el("div", "mkb-viewer__handle", {role: "slider", tabindex: "0",
      "aria-label": "Divider between the two views",
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
      var select = el("select", "", {"data-side": side, "aria-label": text + " view"});
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
    // A button's accessible name starts with its visible text (WCAG 2.5.3); the symbols
    // (minus, plus) are named in words.
    function button(group, text, title, action) {
      var b = el("button", "mkb-viewer__btn", {type: "button", title: title,
                                                "aria-label": title, "data-action": action});
      if (/[A-Za-z0-9]/.test(text) && title.indexOf(text) !== 0) {
        b.setAttribute("aria-label", text + ": " + title);
      }
      b.textContent = text;
      group.appendChild(b);
      return b;
    }
    var modeGroup = el("div", "mkb-viewer__modes", {role: "group", "aria-label": "Layout"});
    var wipeButton = button(modeGroup, "Wipe", "Wipe: one frame split by a divider", "wipe");
    var sideButton = button(modeGroup, "Side by side",
                            "Side by side: the same region in two panes", "side");
    bar.appendChild(modeGroup);
    var zoomGroup = el("div", "mkb-viewer__zoom", {role: "group", "aria-label": "Zoom"});
    button(zoomGroup, "\u2212", "Zoom out", "out");
    var fitButton = button(zoomGroup, "Fit", "Fit the photo to the frame", "fit");
    var oneButton = button(zoomGroup, "1:1", "Actual pixels (one image pixel per screen point)",
                           "one");
    button(zoomGroup, "+", "Zoom in", "in");
    var readout = el("output", "mkb-viewer__readout", {"aria-live": "polite"});
    zoomGroup.appendChild(readout);
    bar.appendChild(zoomGroup);
    var shareId = figure.dataset.share || "";
    var shareLink = el("a", "mkb-viewer__share", {href: "#",
      title: "The address of this page at this photo, with these views, layout and zoom"});
    shareLink.textContent = "Link to this view";
    if (shareId) bar.appendChild(shareLink);
    frameBox.appendChild(bar);

    var host = figure.querySelector(".mkb-viewer__views");
    host.parentNode.insertBefore(frameBox, host);

    // -- state ---------------------------------------------------------------------------------
    var pos = 50;                // divider, % of the frame's width
    var mode = "wipe";           // "wipe" or "side"
    var scale = 0;               // CSS px per output pixel (0: not laid out yet)
    var cx = fullW / 2, cy = fullH / 2;  // output pixel at the middle of each pane
    var narrow = frame().width < SIDE_MIN;
    var pending = figure.dataset.open === "one" && focus && !narrow ? "focus" : "fit";
    var fitted = true;           // whether the photo fitted the frame when last painted
    var shared = null;           // the view a shared address asked for: {scale, x, y}

    function frame() { return stage.getBoundingClientRect(); }
    function pane() {  // the size of one pane (both panes are the same size)
      var box = sides.left.layer.getBoundingClientRect();
      return {w: box.width, h: box.height};
    }
    function fitScale() {
      var p = pane();
      return p.w > 0 && p.h > 0 ? Math.min(p.w / fullW, p.h / fullH) : 0;
    }
    function maxScale() { return Math.max(fitScale() * MAX_ZOOM, 4); }

    function clamp() {
      var p = pane();
      var fit = fitScale();
      scale = Math.max(fit, Math.min(maxScale(), scale));
      var halfW = p.w / 2 / scale, halfH = p.h / 2 / scale;
      cx = fullW * scale <= p.w ? fullW / 2 : Math.max(halfW, Math.min(fullW - halfW, cx));
      cy = fullH * scale <= p.h ? fullH / 2 : Math.max(halfH, Math.min(fullH - halfH, cy));
    }

    function place() {  // apply a pending opening once the frame has a size
      if (!pending || fitScale() <= 0) return;
      if (pending === "shared") {
        scale = shared.scale;
        cx = shared.x * fullW;
        cy = shared.y * fullH;
      } else if (pending === "focus") {
        scale = 1;
        cx = focus[0] + focus[2] / 2;
        cy = focus[1] + focus[3] / 2;
      } else {
        scale = fitScale();
      }
      pending = null;
    }

    function paint() {
      place();
      if (!scale) return;
      clamp();
      var p = pane();
      var t = "translate(" + (p.w / 2 - cx * scale) + "px," + (p.h / 2 - cy * scale) +
              "px) scale(" + scale + ")";
      sides.left.canvas.style.transform = t;
      sides.right.canvas.style.transform = t;
      stage.style.setProperty("--mkb-focus-border", (2 / scale).toFixed(3) + "px");
      stage.style.setProperty("--mkb-pos", pos + "%");
      handle.setAttribute("aria-valuenow", String(Math.round(pos)));
      handle.setAttribute("aria-valuetext", Math.round(pos) + "% " +
        views[sides.left.view].label + ", " + Math.round(100 - pos) + "% " +
        views[sides.right.view].label);
      var zoom = scale / fitScale();
      readout.value = readout.textContent = Math.round(scale * 100) + "%";
      figure.dataset.zoom = zoom.toFixed(3);
      figure.dataset.scale = scale.toFixed(3);
      figure.dataset.center = Math.round(cx) + "," + Math.round(cy);
      figure.dataset.mode = mode;
      fitted = zoom <= 1.001;
      stage.classList.toggle("is-zoomed", zoom > 1.001);
      stage.classList.toggle("is-pixels", scale >= 0.999);
      stage.classList.toggle("is-side", mode === "side");
      fitButton.setAttribute("aria-pressed", zoom <= 1.001 ? "true" : "false");
      oneButton.setAttribute("aria-pressed", Math.abs(scale - 1) < 0.01 ? "true" : "false");
      wipeButton.setAttribute("aria-pressed", mode === "wipe" ? "true" : "false");
      sideButton.setAttribute("aria-pressed", mode === "side" ? "true" : "false");
      if (shareId) shareLink.href = pageAddress() + "#" + shareId + "?" + shareState();
    }

    function shareState() {
      return "view=" + sides.left.view + "," + sides.right.view + "&mode=" + mode +
        "&z=" + Number(scale.toFixed(4)) + "&c=" + Number((cx / fullW).toFixed(4)) + "," +
        Number((cy / fullH).toFixed(4));
    }

    // The view a shared address asks for (null: none for this viewer, or not readable).
    function sharedView() {
      var m = /^#([A-Za-z0-9_-]+)\?(.+)$/.exec(window.location.hash);
      if (!shareId || !m || m[1] !== shareId || viewerAfter(m[1]) !== figure) return null;
      var q = new URLSearchParams(m[2]);
      var pair = (q.get("view") || "").split(",");
      var c = (q.get("c") || "").split(",").map(Number);
      var z = Number(q.get("z"));
      return {left: views[pair[0]] ? pair[0] : null, right: views[pair[1]] ? pair[1] : null,
              mode: q.get("mode") === "side" ? "side" : q.get("mode") === "wipe" ? "wipe" : null,
              scale: isFinite(z) && z > 0 ? z : null,
              x: c.length === 2 && c[0] >= 0 && c[0] <= 1 ? c[0] : 0.5,
              y: c.length === 2 && c[1] >= 0 && c[1] <= 1 ? c[1] : 0.5};
    }

    function applyShared() {
      var wanted = sharedView();
      if (!wanted) return false;
      if (wanted.left) show("left", wanted.left);
      if (wanted.right) show("right", wanted.right);
      if (wanted.mode) mode = wanted.mode;
      stage.classList.toggle("is-side", mode === "side");
      if (wanted.scale) { shared = wanted; pending = "shared"; }
      paint();
      figure.scrollIntoView({block: "center"});  // the photo in view, under the header
      return true;
    }

    // Zoom to ``next`` (CSS px per output pixel) keeping the point (px, py) of the frame still;
    // without a point, the centre of the view (of each pane, side by side) stays still.
    function zoomTo(next, px, py) {
      var box = frame();
      var p = pane();
      if (px === undefined) { px = p.w / 2; py = p.h / 2; }
      if (mode === "side" && px > p.w) px -= box.width - p.w;  // the right pane's own x
      var ix = cx + (px - p.w / 2) / scale, iy = cy + (py - p.h / 2) / scale;
      scale = Math.max(fitScale(), Math.min(maxScale(), next));
      cx = ix - (px - p.w / 2) / scale;
      cy = iy - (py - p.h / 2) / scale;
      paint();
    }
    function zoomBy(factor, px, py) { zoomTo(scale * factor, px, py); }
    function panBy(dx, dy) { cx -= dx / scale; cy -= dy / scale; paint(); }
    function zoomed() { return scale > fitScale() * 1.001; }

    function setMode(next) {  // same centre and scale; a fitted photo fits the new panes
      mode = next;
      figure.dataset.mode = mode;
      stage.classList.toggle("is-side", mode === "side");  // before measuring the panes
      if (fitted && !pending) scale = fitScale();
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

    // -- toolbar -------------------------------------------------------------------------------
    pickLeft.addEventListener("change", function () { show("left", pickLeft.value); });
    pickRight.addEventListener("change", function () { show("right", pickRight.value); });
    shareLink.addEventListener("click", function (event) {
      event.preventDefault();
      copy(shareLink.href).then(function () { flash("Link to this view copied"); },
                                function () { flash("Copy refused: right-click the link"); });
    });
    bar.addEventListener("click", function (event) {
      var b = event.target.closest && event.target.closest("button");
      var action = b && b.dataset.action;
      if (action === "in") zoomBy(1.5);
      else if (action === "out") zoomBy(1 / 1.5);
      else if (action === "fit") zoomTo(fitScale());
      else if (action === "one") zoomTo(1);
      else if (action === "wipe" || action === "side") setMode(action);
    });

    // -- pointers: divider, pan, pinch ---------------------------------------------------------
    var pointers = {};
    var drag = null;   // "divider", "pan", "pinch", "undecided" (a touch not yet moved)
    var last = null;   // previous pan point, or pinch {dist, x, y}
    var start = null;  // where an undecided touch began

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
      var count = Object.keys(pointers).length;
      var onHandle = event.target.closest && event.target.closest(".mkb-viewer__handle");
      if (count === 2) {
        drag = "pinch";
        last = pinchInfo();
      } else if (count === 1 && event.pointerType === "touch") {
        // Wait for the direction: vertical is the page's scroll (touch-action: pan-y).
        drag = "undecided";
        start = {x: p.x, y: p.y, handle: !!onHandle};
        last = p;
        return;
      } else if (count === 1) {
        drag = onHandle || (mode === "wipe" && !zoomed()) ? "divider" : "pan";
        last = p;
        if (drag === "divider" && !onHandle) setPos(p.x / p.w * 100);
      }
      stage.setPointerCapture(event.pointerId);
      event.preventDefault();
    });
    stage.addEventListener("pointermove", function (event) {
      if (!(event.pointerId in pointers)) return;
      var p = local(event);
      pointers[event.pointerId] = p;
      if (drag === "undecided") {
        var dx = p.x - start.x, dy = p.y - start.y;
        if (Math.max(Math.abs(dx), Math.abs(dy)) < TOUCH_SLOP) return;
        if (Math.abs(dy) >= Math.abs(dx)) { drag = null; return; }  // the page scrolls
        drag = mode === "wipe" && (start.handle || !zoomed()) ? "divider" : "pan";
        stage.setPointerCapture(event.pointerId);
      }
      if (drag === "divider") {
        setPos(p.x / p.w * 100);
      } else if (drag === "pan") {
        panBy(p.x - last.x, p.y - last.y);
        last = p;
      } else if (drag === "pinch" && Object.keys(pointers).length >= 2) {
        var now = pinchInfo();
        panBy(now.x - last.x, now.y - last.y);
        zoomBy(now.dist / last.dist, now.x, now.y);
        last = now;
      }
    });
    function release(event) {
      if (drag === "undecided" && event.type === "pointerup" && focus && !zoomed()) {
        tapped(local(event));  // a tap that did not move: on the outlined region, 1:1 there
      }
      delete pointers[event.pointerId];
      var left = Object.keys(pointers);
      if (left.length === 1 && drag === "pinch") { drag = "pan"; last = pointers[left[0]]; }
      if (left.length === 0) { drag = null; }
    }
    function tapped(p) {
      var box = frame(), size = pane();
      var x = mode === "side" && p.x > size.w ? p.x - (box.width - size.w) : p.x;
      var ix = cx + (x - size.w / 2) / scale, iy = cy + (p.y - size.h / 2) / scale;
      var slop = 12 / scale;  // a finger is not a pixel
      if (ix < focus[0] - slop || ix > focus[0] + focus[2] + slop ||
          iy < focus[1] - slop || iy > focus[1] + focus[3] + slop) return;
      scale = 1;
      cx = focus[0] + focus[2] / 2;
      cy = focus[1] + focus[3] / 2;
      paint();
    }
    stage.addEventListener("pointerup", release);
    stage.addEventListener("pointercancel", release);

    stage.addEventListener("dblclick", function (event) {
      var p = local(event);
      if (Math.abs(scale - 1) < 0.01 || zoomed()) zoomTo(fitScale());
      else zoomTo(1, p.x, p.y);
      event.preventDefault();
    });

    stage.addEventListener("wheel", function (event) {
      if (!(event.ctrlKey || event.metaKey)) {
        flash("Ctrl + scroll to zoom; double-click for 1:1");
        return;  // the page scrolls as usual
      }
      event.preventDefault();
      var p = local(event);
      var step = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
      zoomBy(Math.exp(-step * 0.0025), p.x, p.y);
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
      var step = (event.shiftKey ? 0.4 : 0.1) * pane().w;
      var pans = {ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step],
                  ArrowDown: [0, -step]};
      if (event.key === "+" || event.key === "=") zoomBy(1.5);
      else if (event.key === "-" || event.key === "_") zoomBy(1 / 1.5);
      else if (event.key === "0") zoomTo(fitScale());
      else if (event.key === "1") zoomTo(1);
      else if (event.key in pans && zoomed()) panBy(pans[event.key][0], pans[event.key][1]);
      else if (mode === "wipe" && (event.key === "ArrowLeft" || event.key === "ArrowRight")) {
        setPos(pos + (event.key === "ArrowLeft" ? -2 : 2));
      } else return;
      event.preventDefault();
    });

    // The frame's size changes with the window (and is 0 while hidden): keep fitting when
    // the photo fitted, else keep the scale and the centre.
    function resized() {
      if (!pending && fitted) scale = fitScale();
      paint();
    }
    if (window.ResizeObserver) new ResizeObserver(resized).observe(stage);
    else window.addEventListener("resize", resized);

    if (figure.dataset.mode === "side" && frame().width >= SIDE_MIN) mode = "side";
    stage.classList.toggle("is-side", mode === "side");
    show("left", views[figure.dataset.left] ? figure.dataset.left : order[0]);
    show("right", views[figure.dataset.right] ? figure.dataset.right : order[1]);
    figure.mkbApplyShared = applyShared;
    if (!applyShared()) paint();
    if (narrow && focus && figure.dataset.open === "one") {
      flash("Tap the outlined region to see it at 1:1");
    }
  }

  // The first comparison viewer after the element with the id ``id`` (null: none).
  function viewerAfter(id) {
    var anchor = document.getElementById(id);
    if (!anchor) return null;
    var all = document.querySelectorAll("[data-mkb-viewer]");
    for (var i = 0; i < all.length; i++) {
      if (anchor === all[i] || anchor.compareDocumentPosition(all[i]) &
          Node.DOCUMENT_POSITION_FOLLOWING) return all[i];
    }
    return null;
  }

  // The address of this page as published (its canonical link), without a fragment.
  function pageAddress() {
    var link = document.querySelector('link[rel="canonical"]');
    return ((link && link.href) || window.location.href).split("#")[0];
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    var area = document.createElement("textarea");
    area.value = text;
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  window.addEventListener("hashchange", function () {
    var m = /^#([A-Za-z0-9_-]+)\?/.exec(window.location.hash);
    var figure = m && viewerAfter(m[1]);
    if (figure && figure.mkbApplyShared) figure.mkbApplyShared();
  });

  function init() {
    document.querySelectorAll("[data-mkb-viewer]").forEach(setup);
    // Material's search is a dialog without a name; screen readers announce it by this one.
    var search = document.querySelector(".md-search[role=dialog]:not([aria-label])");
    if (search) search.setAttribute("aria-label", "Search");
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
