// The spend chart: spend per hour or day, stacked by the top models. A tooltip shows money as every page
// does (static/js/money.js); the chart set-up is static/js/charts.js.
import { chartInput, draw, moneyAxis, seriesColour } from "./charts.js";
import { money } from "./money.js";

function spendChart() {
  const input = chartInput("spend-chart", "spend-chart-data");
  if (!input) return;
  const { canvas, data } = input;
  const amounts = (item) => data.datasets[item.datasetIndex].data; // decimal strings
  const chart = draw(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: data.datasets.map((set, i) => ({
        label: set.label,
        data: set.data.map(Number),
        backgroundColor: seriesColour(i),
        stack: "spend",
      })),
    },
    options: {
      scales: { x: { stacked: true }, y: moneyAxis(`USD per ${data.unit}`, { stacked: true }) },
      plugins: {
        tooltip: {
          callbacks: {
            label: (item) => `${item.dataset.label}: ${money(amounts(item)[item.dataIndex])}`,
          },
        },
      },
    },
  });
  canvas.dataset.drawn = String(chart.data.labels.length);
  canvas.dataset.series = String(chart.data.datasets.length);

  // Choosing a preset range reloads the page at once (the range lives in the URL).
  const form = document.getElementById("range-form");
  if (form) {
    form.addEventListener("change", (event) => {
      if (event.target.name === "range" && event.target.value !== "custom") form.submit();
      if (event.target.type === "date") {
        const custom = form.querySelector("input[name=range][value=custom]");
        if (custom) custom.checked = true;
      }
    });
  }
}
spendChart();
