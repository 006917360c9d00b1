// The set-up every chart shares (an ES module, no build step). Chart.js itself is loaded, deferred, by
// templates/_chart.html just before the page's chart script, which imports this:
// - chartInput: the canvas and its json_script data, or null (no chart on the page, or Chart.js missing);
// - draw: a chart in the theme's text and grid colours (theme.js repaints them on a toggle), sized by its
//   .chart-box, without animation;
// - seriesColour, cssColour: one palette for series, the stylesheet's colours by name;
// - axisTitle, moneyAxis: an axis title; a y axis in dollars as every page shows money (money.js).
import { axisMoney } from "./money.js";

const SERIES = ["#2f5fd0", "#1f7a4d", "#a15c00", "#b42318", "#6941c6", "#0e7490", "#8a8f98"];

export function cssColour(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export const seriesColour = (index) => SERIES[index % SERIES.length];

export function chartInput(canvasId, dataId) {
  const canvas = document.getElementById(canvasId);
  const source = document.getElementById(dataId);
  if (!canvas || !source || typeof Chart === "undefined") return null;
  return { canvas, data: JSON.parse(source.textContent) };
}

export const axisTitle = (text) => ({ display: true, text });

export function moneyAxis(title, options = {}) {
  return { ...options, title: axisTitle(title), ticks: { ...options.ticks, callback: axisMoney } };
}

export function draw(canvas, config) {
  Chart.defaults.color = cssColour("--muted", "#5d6778");
  Chart.defaults.borderColor = cssColour("--line", "#dfe3ea");
  const options = { responsive: true, maintainAspectRatio: false, animation: false, ...config.options };
  return new Chart(canvas, { ...config, options });
}
