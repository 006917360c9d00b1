// The keys page: a form with data-confirm (Revoke) asks first; a data-copy button copies the text of the
// element it names (the new key's secret). No inline handlers (Content-Security-Policy).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent.trim();
    function done() { button.textContent = button.getAttribute("data-copied") || "Copied"; }
    function fallback() {
      // Without the Clipboard API (a page over plain http): select the text and copy the selection.
      selectText(source);
      try { if (document.execCommand("copy")) done(); } catch (e) { /* the text stays selected */ }
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else {
      fallback();
    }
  });
})();
