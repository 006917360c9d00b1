// The spend chart: spend per hour or day, stacked by the top models. Data comes from json_script; a
// tooltip shows money as every page does (static/js/money.js).
import { axisMoney, money } from "./money.js";

function spendChart() {
  var canvas = document.getElementById("spend-chart");
  var source = document.getElementById("spend-chart-data");
  if (!canvas || !source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var palette = ["#2f5fd0", "#1f7a4d", "#a15c00", "#b42318", "#6941c6", "#0e7490", "#8a8f98"];
  var chart = new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: data.datasets.map(function (set, i) {
        return {
          label: set.label,
          data: set.data.map(Number),
          backgroundColor: palette[i % palette.length],
          stack: "spend",
        };
      }),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { stacked: true },
        y: { stacked: true, title: { display: true, text: "USD per " + data.unit }, ticks: { callback: axisMoney } },
      },
      plugins: {
        tooltip: {
          callbacks: {
            label: function (item) {
              return item.dataset.label + ": " + money(data.datasets[item.datasetIndex].data[item.dataIndex]);
            },
          },
        },
      },
    },
  });
  canvas.dataset.drawn = String(chart.data.labels.length);
  canvas.dataset.series = String(chart.data.datasets.length);

  // Choosing a preset range reloads the page at once (the range lives in the URL).
  var form = document.getElementById("range-form");
  if (form) {
    form.addEventListener("change", function (event) {
      if (event.target.name === "range" && event.target.value !== "custom") form.submit();
      if (event.target.type === "date") {
        var custom = form.querySelector("input[name=range][value=custom]");
        if (custom) custom.checked = true;
      }
    });
  }
}
spendChart();
