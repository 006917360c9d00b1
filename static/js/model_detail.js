// A model's page: the price-history step chart (input and output price per 1M tokens over time).
(function () {
  "use strict";
  const canvas = document.getElementById("price-chart");
  const source = document.getElementById("price-history");
  if (!canvas || !source || typeof Chart === "undefined") return;
  const history = JSON.parse(source.textContent);
  const points = (list) => list.map((p) => ({ x: p.x, y: p.y === null ? null : Number(p.y) }));
  const day = (ms) => new Date(ms).toISOString().slice(0, 10);
  new Chart(canvas, {
    type: "line",
    data: {
      datasets: [
        { label: "Input", data: points(history.input), stepped: true, borderColor: "#2f5fd0", backgroundColor: "#2f5fd0", pointRadius: 3 },
        { label: "Output", data: points(history.output), stepped: true, borderColor: "#b45309", backgroundColor: "#b45309", pointRadius: 3 },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      parsing: true,
      scales: {
        x: { type: "linear", ticks: { callback: (value) => day(value), maxTicksLimit: 8 } },
        y: { beginAtZero: true, title: { display: true, text: history.unit } },
      },
      plugins: {
        tooltip: {
          callbacks: {
            title: (items) => (items.length ? day(items[0].parsed.x) : ""),
            label: (item) => `${item.dataset.label}: $${history[item.datasetIndex === 0 ? "input" : "output"][item.dataIndex].y} / 1M`,
          },
        },
      },
    },
  });
})();
