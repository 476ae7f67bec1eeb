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

/* officer: the receipt's "print" button (hidden without JavaScript, where the browser's own print works) */
(function () {
  "use strict";
  var buttons = document.querySelectorAll("[data-print]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].hidden = false;
    buttons[i].addEventListener("click", function () {
      window.print();
    });
  }
})();

/* citizen */
/* The citizen portal's forms (every page works without this). 1. The receiving-unit list filters as
   you type (diacritics optional). 2. E-form fields say what is wrong when you leave them (`data-validate`),
   files over the size limit are refused before upload. 3. A form marked `data-submit-once` is sent once.
   4. The receipt's print button (`data-cz-print`). */
(function () {
  "use strict";
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d").replace(/Đ/g, "d").toLowerCase();
  }

  var filters = document.querySelectorAll("input[data-filters]");
  Array.prototype.forEach.call(filters, function (input) {
    var select = document.getElementById(input.getAttribute("data-filters"));
    if (!select) return;
    var box = input.closest(".cz-unit-filter");
    if (box) box.hidden = false;
    input.addEventListener("input", function () {
      var words = fold(input.value).split(/\s+/).filter(Boolean);
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.value) return;
        var name = " " + fold(option.text);
        option.hidden = !option.selected && !words.every(function (w) { return name.indexOf(" " + w) >= 0 || name.indexOf(w) >= 0; });
      });
    });
  });

  function message(form, el) {
    var v = el.validity;
    if (v.valueMissing) return form.getAttribute("data-msg-required");
    if (v.typeMismatch || v.badInput) return form.getAttribute("data-msg-type");
    if (v.patternMismatch) return form.getAttribute("data-msg-pattern");
    if (v.tooShort) return form.getAttribute("data-msg-short");
    if (v.tooLong) return form.getAttribute("data-msg-long");
    if (v.rangeUnderflow || v.rangeOverflow || v.stepMismatch) return form.getAttribute("data-msg-range");
    return "";
  }

  function show(el, text) {
    var box = el.closest(".field");
    if (!box) return;
    var id = el.id + "-error";
    var error = document.getElementById(id);
    var described = (el.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (text) {
      if (!error) {
        error = document.createElement("p");
        error.className = "field__error";
        error.id = id;
        el.parentNode.insertBefore(error, el.closest(".cz-choice") || el);
      }
      error.textContent = text;
      box.classList.add("field--error");
      el.setAttribute("aria-invalid", "true");
      if (described.indexOf(id) < 0) described.push(id);
    } else {
      if (error) error.parentNode.removeChild(error);
      box.classList.remove("field--error");
      el.removeAttribute("aria-invalid");
      described = described.filter(function (d) { return d !== id; });
    }
    if (described.length) el.setAttribute("aria-describedby", described.join(" "));
    else el.removeAttribute("aria-describedby");
  }

  var forms = document.querySelectorAll("form[data-validate]");
  Array.prototype.forEach.call(forms, function (form) {
    var limit = parseInt(form.getAttribute("data-max-file-bytes") || "0", 10);
    function check(event) {
      var el = event.target;
      if (!el.willValidate || el.type === "radio" || el.type === "hidden") return;
      if (el.type === "file") {
        var big = Array.prototype.some.call(el.files || [], function (f) { return limit && f.size > limit; });
        if (big) el.value = "";
        show(el, big ? form.getAttribute("data-msg-file-size") : "");
        return;
      }
      if (event.type === "focusout" && !el.hasAttribute("data-touched")) return;  // only fields you typed in
      show(el, el.value === "" && !el.required ? "" : message(form, el));
    }
    var total = parseInt(form.getAttribute("data-max-request-bytes") || "0", 10);
    form.addEventListener("submit", function (event) {  // files that would make the request too large
      var inputs = form.querySelectorAll("input[type=file]");
      var sum = 0;
      Array.prototype.forEach.call(inputs, function (input) {
        Array.prototype.forEach.call(input.files || [], function (f) { sum += f.size; });
      });
      if (total && sum > total && inputs.length) {
        event.preventDefault();
        show(inputs[0], form.getAttribute("data-msg-request-size"));
        inputs[0].focus();
      }
    });
    form.addEventListener("input", function (event) { event.target.setAttribute("data-touched", "1"); });
    form.addEventListener("focusout", check);
    form.addEventListener("change", check);
  });

  var once = document.querySelectorAll("form[data-submit-once]");
  Array.prototype.forEach.call(once, function (form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-sent")) {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-sent", "1");
    });
  });

  var prints = document.querySelectorAll("[data-cz-print]");
  Array.prototype.forEach.call(prints, function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
