// Progressive enhancement only: every page works without JavaScript.
(function () {
  "use strict";
  // Confirm destructive actions on forms marked data-confirm.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
})();
