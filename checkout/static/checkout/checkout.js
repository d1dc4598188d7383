/* The hosted page, made better with JavaScript: inline validation, card brand, one submit at a
 * time, and live status while the processor answers. Without it the page works by plain form posts.
 * Loaded from the gateway itself (CSP script-src 'self'); no inline handlers, no third parties.
 * Nothing here stores, sends elsewhere or logs what the customer types. */
(function () {
  "use strict";

  var BRANDS = [
    { name: "Visa", re: /^4/, lengths: [13, 16, 19], cvc: 3 },
    { name: "Mastercard", re: /^(5[1-5]|2(2[2-9][1-9]|2[3-9]|[3-6]|7[01]|720))/, lengths: [16], cvc: 3 },
    { name: "American Express", re: /^3[47]/, lengths: [15], cvc: 4 },
    { name: "Discover", re: /^(6011|65|64[4-9])/, lengths: [16, 19], cvc: 3 },
    { name: "Diners Club", re: /^3(0[0-5]|[689])/, lengths: [14, 16, 19], cvc: 3 },
    { name: "JCB", re: /^35/, lengths: [16, 19], cvc: 3 },
    { name: "UnionPay", re: /^62/, lengths: [16, 17, 18, 19], cvc: 3 }
  ];

  function digits(value) { return (value || "").replace(/\D/g, ""); }
  function brandOf(number) {
    for (var i = 0; i < BRANDS.length; i++) { if (BRANDS[i].re.test(number)) { return BRANDS[i]; } }
    return null;
  }
  function luhn(number) {
    var sum = 0, double = false;
    for (var i = number.length - 1; i >= 0; i--) {
      var d = number.charCodeAt(i) - 48;
      if (double) { d *= 2; if (d > 9) { d -= 9; } }
      sum += d; double = !double;
    }
    return number.length > 0 && sum % 10 === 0;
  }

  function setError(input, message) {
    var error = document.getElementById(input.id + "-error");
    if (!error) { return; }
    if (message) {
      error.textContent = message;
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", error.id);
    } else {
      error.textContent = "";
      error.hidden = true;
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    }
  }

  var checks = {
    "card-number": function (value) {
      var n = digits(value);
      if (!n) { return "Enter your card number."; }
      var brand = brandOf(n);
      if (!brand) { return "This card brand is not supported."; }
      if (brand.lengths.indexOf(n.length) < 0 || !luhn(n)) { return "Your card number is not valid."; }
      return "";
    },
    "card-expiry": function (value) {
      var m = /^\s*(\d{1,2})\s*\/?\s*(\d{2}|\d{4})\s*$/.exec(value || "");
      if (!value || !value.trim()) { return "Enter the expiry date (MM / YY)."; }
      if (!m) { return "Enter the expiry date as MM / YY."; }
      var month = parseInt(m[1], 10), year = parseInt(m[2], 10);
      if (year < 100) { year += 2000; }
      if (month < 1 || month > 12) { return "The expiry date is not valid."; }
      var now = new Date();
      if (year < now.getFullYear() || (year === now.getFullYear() && month < now.getMonth() + 1)) {
        return "Your card has expired.";
      }
      return "";
    },
    "card-cvc": function (value) {
      var cvc = digits(value), numberInput = document.getElementById("card-number");
      var brand = brandOf(digits(numberInput ? numberInput.value : ""));
      var length = brand ? brand.cvc : 3;
      if (!cvc) { return "Enter the security code."; }
      if (cvc.length !== length || cvc !== value.trim()) { return "The security code must be " + length + " digits."; }
      return "";
    },
    "card-name": function (value) { return value && value.trim() ? "" : "Enter the name on the card."; }
  };

  function validate(form) {
    var first = null;
    Object.keys(checks).forEach(function (id) {
      var input = form.querySelector("#" + id);
      if (!input) { return; }
      var message = checks[id](input.value);
      setError(input, message);
      if (message && !first) { first = input; }
    });
    return first;
  }

  function formatNumber(input) {
    var n = digits(input.value).slice(0, 19), brand = brandOf(n), out;
    if (brand && brand.name === "American Express") {
      out = [n.slice(0, 4), n.slice(4, 10), n.slice(10, 15)].filter(Boolean).join(" ");
    } else {
      out = n.replace(/(.{4})/g, "$1 ").trim();
    }
    if (out !== input.value) { input.value = out; }
    var label = document.getElementById("card-brand");
    if (label) { label.textContent = brand && n.length >= 2 ? brand.name : ""; }
  }

  function formatExpiry(input, event) {
    var d = digits(input.value).slice(0, 4);
    if (event && event.inputType && event.inputType.indexOf("delete") === 0) { return; }
    if (d.length === 1 && d > "1") { d = "0" + d; }
    input.value = d.length >= 2 ? d.slice(0, 2) + " / " + d.slice(2) : d;
  }

  var submitting = false;
  function lockForms() {
    submitting = true;
    var buttons = document.querySelectorAll("form.pay-form button[type=submit]");
    for (var i = 0; i < buttons.length; i++) { buttons[i].setAttribute("aria-disabled", "true"); }
    var status = document.getElementById("status");
    if (status) { status.textContent = "Processing your payment…"; }
  }

  function setupCardForm() {
    var form = document.getElementById("card-form");
    if (!form) { return; }
    var number = document.getElementById("card-number"), expiry = document.getElementById("card-expiry");
    if (number) {
      number.addEventListener("input", function () { formatNumber(number); });
      formatNumber(number);
    }
    if (expiry) { expiry.addEventListener("input", function (e) { formatExpiry(expiry, e); }); }
    Object.keys(checks).forEach(function (id) {
      var input = document.getElementById(id);
      if (!input) { return; }
      input.addEventListener("blur", function () {
        if (input.value) { setError(input, checks[id](input.value)); }
      });
      input.addEventListener("input", function () {
        if (input.getAttribute("aria-invalid") === "true" && !checks[id](input.value)) { setError(input, ""); }
      });
    });
    form.addEventListener("submit", function (event) {
      if (submitting) { event.preventDefault(); return; }
      var first = validate(form);
      if (first) { event.preventDefault(); first.focus(); return; }
      lockForms();
    });
  }

  function setupOtherForms() {
    var forms = document.querySelectorAll("form.pay-form:not(#card-form)");
    for (var i = 0; i < forms.length; i++) {
      forms[i].addEventListener("submit", function (event) {
        if (submitting) { event.preventDefault(); return; }
        lockForms();
      });
    }
  }

  function poll(root) {
    var url = root.getAttribute("data-status-url"), delay = parseInt(root.getAttribute("data-poll-ms"), 10) || 0;
    if (!url || delay <= 0) { return; }
    var status = document.getElementById("status"), tries = 0;
    function tick() {
      tries += 1;
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) {
          if (body && body.next) { window.location.assign(body.next); return; }
          if (body && status && body.state === "processing") { status.textContent = "Processing your payment…"; }
          schedule();
        })
        .catch(schedule);
    }
    function schedule() { window.setTimeout(tick, tries > 30 ? Math.min(delay * 5, 10000) : delay); }
    schedule();
  }

  function focusFirstProblem() {
    var target = document.querySelector("[aria-invalid=true]") || document.getElementById("alert");
    if (target && document.activeElement !== target) { target.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("checkout");
    setupCardForm();
    setupOtherForms();
    focusFirstProblem();
    if (root) { poll(root); }
  });
  window.addEventListener("pageshow", function (event) { if (event.persisted) { window.location.reload(); } });
})();
