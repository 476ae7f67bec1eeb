/* motcua pages: progressive enhancement only — every page works without this file.
   1. On narrow screens the main menu folds behind the "Danh mục" button.
   2. A form's error summary takes the focus so screen readers announce it. */
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");

  var toggle = document.querySelector(".nav-toggle");
  var nav = document.getElementById("site-nav");
  if (toggle && nav) {
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      nav.classList.toggle("is-open", open);
    });
  }

  var summary = document.querySelector("[data-autofocus]");
  if (summary) {
    summary.focus();
  }
})();
