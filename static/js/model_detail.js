// A model's page: the price-history step chart (input and output price per 1M tokens over time, on a time
// axis that spans the data), and "Refresh providers" with its progress and result next to the button.
import { axisTitle, chartInput, cssColour, draw, moneyAxis } from "./charts.js";
import { money } from "./money.js";

const DAY = 24 * 60 * 60 * 1000;

function priceChart() {
  const chart = chartInput("price-chart", "price-history");
  if (!chart) return;
  const { canvas, data: history } = chart;
  // The adapter formats in the browser's time zone: shift each instant so its labels read UTC, as the
  // versions table does.
  const utc = (ms) => ms + new Date(ms).getTimezoneOffset() * 60000;
  const points = (list) => list.map((p) => ({ x: utc(p.x), y: p.y === null ? null : Number(p.y) }));
  const xs = history.input.map((p) => utc(p.x));
  if (!xs.length) return;
  // The axis fits the data; a single instant gets a day either side (never an axis of years).
  let min = Math.min(...xs);
  let max = Math.max(...xs);
  if (max - min < DAY / 24) {
    min -= DAY;
    max += DAY;
  }
  // Whole hours, days or months: two versions on one day get hour labels, never the same day twice.
  const span = max - min;
  const unit = span <= 3 * DAY ? "hour" : span <= 180 * DAY ? "day" : "month";
  const line = (label, list, colour) => ({
    label,
    data: points(list),
    stepped: "before",
    borderColor: colour,
    backgroundColor: colour,
    pointRadius: 3,
  });
  const price = (item) => history[item.datasetIndex === 0 ? "input" : "output"][item.dataIndex].y;
  draw(canvas, {
    type: "line",
    data: {
      datasets: [
        line("Input", history.input, cssColour("--accent", "#2f5fd0")),
        line("Output", history.output, cssColour("--warn", "#b45309")),
      ],
    },
    options: {
      scales: {
        x: {
          type: "time",
          min,
          max,
          time: {
            unit,
            tooltipFormat: "yyyy-MM-dd HH:mm",
            displayFormats: { hour: "MMM d HH:mm", day: "MMM d", month: "MMM yyyy" },
          },
          ticks: { maxTicksLimit: 8, autoSkip: true, maxRotation: 0 },
          title: axisTitle("Date (UTC)"),
        },
        y: moneyAxis(history.unit, { beginAtZero: true }),
      },
      plugins: {
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${money(price(item))} / 1M` } },
      },
    },
  });
}

function refreshProviders() {
  const form = document.getElementById("providers-refresh");
  const status = document.getElementById("providers-refresh-status");
  if (!form || !status || !window.fetch) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    status.textContent = "Refreshing providers from OpenRouter…";
    status.classList.remove("error");
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const result = await response.json();
      if (result.ok) {
        // The table as the server now renders it.
        const page = await fetch(window.location.href, { credentials: "same-origin" });
        const html = new DOMParser().parseFromString(await page.text(), "text/html");
        const fresh = html.getElementById("providers-body");
        const body = document.getElementById("providers-body");
        if (fresh && body) body.replaceWith(fresh);
      }
      status.textContent = result.message;
      status.classList.toggle("error", !result.ok);
    } catch (err) {
      status.textContent = "Providers not refreshed: " + err.message;
      status.classList.add("error");
    } finally {
      button.disabled = false;
    }
  });
}

priceChart();
refreshProviders();
