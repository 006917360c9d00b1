// The status page's latency history: one line per upstream (gaps where a probe failed). Data from json_script.
(function () {
  "use strict";
  var canvas = document.getElementById("status-chart");
  var source = document.getElementById("status-chart-data");
  if (!canvas || !source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var palette = ["#2f5fd0", "#1f7a4d", "#a15c00", "#b42318", "#6941c6", "#0e7490", "#8a8f98"];
  var times = {};
  data.forEach(function (upstream) {
    upstream.history.forEach(function (point) { times[point.t] = true; });
  });
  var labels = Object.keys(times).sort();
  var chart = new Chart(canvas, {
    type: "line",
    data: {
      labels: labels.map(function (t) { return t.slice(5, 16).replace("T", " "); }),
      datasets: data.map(function (upstream, i) {
        var byTime = {};
        upstream.history.forEach(function (point) { byTime[point.t] = point.ms; });
        return {
          label: upstream.name,
          data: labels.map(function (t) { return t in byTime ? byTime[t] : null; }),
          borderColor: palette[i % palette.length],
          backgroundColor: palette[i % palette.length],
          pointRadius: 1,
          spanGaps: false,
        };
      }),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { y: { beginAtZero: true, title: { display: true, text: "ms (UTC times)" } } },
    },
  });
  canvas.dataset.drawn = String(chart.data.datasets.length);
})();
