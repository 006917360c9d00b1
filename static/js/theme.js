// Light or dark: the visitor's choice, remembered in localStorage, else the system's (prefers-color-scheme).
// Loaded blocking in <head> (a static file: the Content-Security-Policy allows no inline script), so
// data-theme is set before the page paints: no flash of the light theme. Charts (Chart.js) take their
// text and grid colours from the palette, and redraw when the theme changes.
(function () {
  "use strict";
  var KEY = "tokenledger-theme";
  var root = document.documentElement;
  var system = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function stored() {
    try {
      var value = localStorage.getItem(KEY);
      return value === "dark" || value === "light" ? value : null;
    } catch (e) {
      return null; // storage refused (privacy mode): follow the system
    }
  }
  function current() {
    return stored() || (system && system.matches ? "dark" : "light");
  }
  // Charts drawn already keep the colours they resolved: set them on each chart's own options, and redraw.
  function paintCharts() {
    if (!window.Chart) return;
    var style = getComputedStyle(root);
    var text = style.getPropertyValue("--muted").trim();
    var line = style.getPropertyValue("--line").trim();
    window.Chart.defaults.color = text;
    window.Chart.defaults.borderColor = line;
    Object.values(window.Chart.instances || {}).forEach(function (chart) {
      var options = chart.config.options;
      Object.values(options.scales || {}).forEach(function (scale) {
        scale.ticks = Object.assign(scale.ticks || {}, { color: text });
        scale.grid = Object.assign(scale.grid || {}, { color: line });
        scale.title = Object.assign(scale.title || {}, { color: text });
      });
      options.plugins = options.plugins || {};
      options.plugins.legend = options.plugins.legend || {};
      options.plugins.legend.labels = Object.assign(options.plugins.legend.labels || {}, { color: text });
      chart.update("none");
    });
  }
  function apply() {
    var choice = stored();
    if (choice) root.setAttribute("data-theme", choice);
    else root.removeAttribute("data-theme");
    var button = document.getElementById("theme-toggle");
    if (button) {
      var dark = current() === "dark";
      button.textContent = dark ? "☀" : "☾";
      button.setAttribute("aria-label", dark ? "Use the light theme" : "Use the dark theme");
      button.setAttribute("aria-pressed", dark ? "true" : "false");
    }
    paintCharts();
  }

  apply(); // before the body is parsed
  if (system && system.addEventListener) system.addEventListener("change", apply);
  document.addEventListener("DOMContentLoaded", function () {
    apply();
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    button.addEventListener("click", function () {
      try {
        localStorage.setItem(KEY, current() === "dark" ? "light" : "dark");
      } catch (e) {
        root.setAttribute("data-theme", current() === "dark" ? "light" : "dark");
        return;
      }
      apply();
    });
  });
})();
