/* modelkb before/after slider: mouse, touch (pointer events) and keyboard (range input).
   Written for this project; no dependencies. Without it the images stand side by side. */
(function () {
  "use strict";

  function setup(figure) {
    if (figure.dataset.mkbReady) return;
    figure.dataset.mkbReady = "1";
    var frame = figure.querySelector(".mkb-compare__frame");
    var range = figure.querySelector(".mkb-compare__range");
    if (!frame || !range) return;
    range.hidden = false;
    figure.classList.add("mkb-compare--js");

    function show(percent) {
      var p = Math.max(0, Math.min(100, percent));
      frame.style.setProperty("--mkb-pos", p + "%");
      if (String(range.value) !== String(Math.round(p))) range.value = Math.round(p);
    }

    function fromPointer(event) {
      var box = frame.getBoundingClientRect();
      if (box.width > 0) show(((event.clientX - box.left) / box.width) * 100);
    }

    range.addEventListener("input", function () { show(Number(range.value)); });
    frame.addEventListener("pointerdown", function (event) {
      if (event.target === range) return;
      frame.setPointerCapture(event.pointerId);
      fromPointer(event);
      event.preventDefault();
    });
    frame.addEventListener("pointermove", function (event) {
      if (frame.hasPointerCapture(event.pointerId)) fromPointer(event);
    });
    show(Number(range.value));
  }

  function init() {
    document.querySelectorAll("[data-mkb-compare]").forEach(setup);
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
