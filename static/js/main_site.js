// Public forms, progressive enhancement only: every form works without this script.
(function () {
  "use strict";
  var KEY = "sf_attribution";
  var TAGS = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];

  // First touch wins: the campaign, referrer and landing page of the visit's first page are
  // kept for the session, so a form on a later page still credits them.
  function firstTouch() {
    var stored = null;
    try { stored = JSON.parse(window.sessionStorage.getItem(KEY) || "null"); } catch (e) { stored = null; }
    if (stored) { return stored; }
    var params = new URLSearchParams(window.location.search);
    var touch = { landing_page: window.location.pathname + window.location.search, referrer: "" };
    TAGS.forEach(function (t) { touch[t] = params.get(t) || ""; });
    // Only another site counts as a referrer.
    if (document.referrer) {
      try {
        if (new URL(document.referrer).origin !== window.location.origin) { touch.referrer = document.referrer; }
      } catch (e) { /* not a URL: ignore */ }
    }
    try { window.sessionStorage.setItem(KEY, JSON.stringify(touch)); } catch (e) { /* private mode */ }
    return touch;
  }

  var touch = firstTouch();
  document.querySelectorAll("input[data-attribution]").forEach(function (input) {
    var value = touch[input.getAttribute("data-attribution")];
    if (value && !input.value) { input.value = value.slice(0, 2000); }
    if (value && input.name === "landing_page") { input.value = value.slice(0, 2000); }
  });

  // After a failed post the page shows the errors: move focus there for screen readers.
  var summary = document.getElementById("form-errors");
  if (summary) { summary.focus(); }

  // One click sends one form.
  document.querySelectorAll("form.lead-form, form.contact-form").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) { button.setAttribute("aria-busy", "true"); button.disabled = true; }
    });
  });
})();
