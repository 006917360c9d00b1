// The keys page: a form with data-confirm (Revoke) asks first; no inline handlers (Content-Security-Policy).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
