// The admin's periodic-task form (django-celery-beat): the chosen crontab in words under its help text.
// django-celery-beat does this in an inline script, which our Content-Security-Policy blocks.
(function () {
  "use strict";
  var source = document.getElementById("readable-crontabs");
  var select = document.getElementById("id_crontab");
  if (!source || !select) return;
  var readable = JSON.parse(source.textContent);
  var help = document.querySelector(".field-crontab .help div") || document.querySelector(".field-crontab .help");
  var original = help ? help.textContent : "";
  var row = document.querySelector(".field-crontab_translation");
  if (row) row.style.display = "none";  // shown as the help text's last line instead
  function translate() {
    if (!help) return;
    help.textContent = original;
    var words = readable[select.value];
    if (words) {
      help.appendChild(document.createElement("br"));
      help.appendChild(document.createTextNode("Translation: " + words));
    }
  }
  select.addEventListener("change", translate);
  translate();
})();
