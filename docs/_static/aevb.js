// The site's small behaviours (issue 24).  A table wider than the page scrolls sideways
// (aevb.css): a line above each such table says so, and the table is marked for the shadow at
// its edge, again whenever the window changes size, so the hint is there exactly when the table
// does not fit.
(function () {
  "use strict";
  var HINT = "aevb-scroll-hint";
  function mark() {
    document.querySelectorAll(".bd-article table").forEach(function (table) {
      var box = table.parentElement;
      var scrolls = table.scrollWidth > table.clientWidth + 1 || box.scrollWidth > box.clientWidth + 1;
      var before = table.previousElementSibling;
      var hint = before && before.classList.contains(HINT) ? before : null;
      if (scrolls && !hint) {
        hint = document.createElement("p");
        hint.className = HINT;
        hint.textContent = "This table is wider than the page: scroll it sideways to see every column \u2192";
        table.parentNode.insertBefore(hint, table);
      } else if (!scrolls && hint) {
        hint.remove();
      }
      table.classList.toggle("aevb-scrolls", scrolls);
    });
  }
  // A notebook's figures are drawn wider than the column and shown smaller: each opens at full
  // size on a click (the site's other figures get this link from Sphinx).
  function linkFigures() {
    document.querySelectorAll(".bd-article div.cell_output img").forEach(function (img) {
      if (img.closest("a")) { return; }
      var link = document.createElement("a");
      link.href = img.getAttribute("src");
      link.className = "aevb-enlarge";
      link.title = "open the figure at full size";
      img.parentNode.insertBefore(link, img);
      link.appendChild(img);
    });
  }
  document.addEventListener("DOMContentLoaded", linkFigures);
  window.addEventListener("load", mark);
  window.addEventListener("resize", mark);
})();
