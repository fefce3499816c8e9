/* modelkb publishing: "copy link" buttons on answer section headings and a
   "Copy as Markdown" button for the answer's forum-ready export. Written for this
   project; no dependencies, no requests except the page's own Markdown export. */
(function () {
  "use strict";

  var SECTIONS = ["task", "workflow", "references"];

  function canonical() {
    var link = document.querySelector('link[rel="canonical"]');
    var href = link ? link.href : "";
    return (href || window.location.href).split("#")[0];
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function feedback(button, label, done) {
    var status = button.querySelector(".mkb-copy__status");
    status.textContent = done;
    button.classList.add("mkb-copy--done");
    window.setTimeout(function () {
      status.textContent = label;
      button.classList.remove("mkb-copy--done");
    }, 1800);
  }

  function makeButton(kind, label, title) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "mkb-copy mkb-copy--" + kind;
    button.title = title;
    var status = document.createElement("span");
    status.className = "mkb-copy__status";
    status.setAttribute("aria-live", "polite");
    status.textContent = label;
    button.appendChild(status);
    return button;
  }

  function sectionButtons(article) {
    SECTIONS.forEach(function (id) {
      var heading = article.querySelector("h2#" + id);
      if (!heading || heading.querySelector(".mkb-copy")) return;
      var button = makeButton("link", "copy link", "Copy a link to this section");
      button.setAttribute("aria-label", "copy link to the section " +
        heading.textContent.replace("¶", "").trim());
      button.dataset.mkbUrl = canonical() + "#" + id;
      button.addEventListener("click", function () {
        copy(button.dataset.mkbUrl).then(
          function () { feedback(button, "copy link", "link copied"); },
          function () { feedback(button, "copy link", "copy failed"); });
      });
      heading.appendChild(button);
    });
  }

  function markdownButton(article) {
    var meta = document.querySelector('meta[name="mkb:markdown"]');
    var title = article.querySelector("h1");
    if (!meta || !title || article.querySelector(".mkb-copy--markdown")) return;
    var url = new URL(meta.content, window.location.href).href;
    var text = null;
    var pending = fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    }).then(function (body) { text = body; return body; });
    pending.catch(function () { /* reported when the button is used */ });

    var bar = article.querySelector("p[data-mkb-export]");  // reserved by the page
    var reserved = !!bar;
    if (!reserved) {
      bar = document.createElement("p");
      bar.className = "mkb-export";
    }
    var button = makeButton("markdown", "Copy as Markdown",
      "Copy this answer as Markdown, with absolute links, ready to paste into a forum");
    var link = document.createElement("a");
    link.href = url;
    link.textContent = "view the Markdown";
    link.className = "mkb-export__link";
    button.addEventListener("click", function () {
      var job = text !== null ? copy(text) : pending.then(copy);
      job.then(function () { feedback(button, "Copy as Markdown", "Markdown copied"); },
               function () { feedback(button, "Copy as Markdown", "copy failed"); });
    });
    bar.appendChild(button);
    bar.appendChild(document.createTextNode(" "));
    bar.appendChild(link);
    if (!reserved) title.insertAdjacentElement("afterend", bar);
  }

  function init() {
    var article = document.querySelector("article.md-content__inner");
    if (!article || !article.querySelector("h2#task")) return;
    sectionButtons(article);
    markdownButton(article);
  }

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(init);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
