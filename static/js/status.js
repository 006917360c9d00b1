// The status page's latency history: one line per upstream, a gap and a red cross (at 0 ms) where a probe
// failed. Data from json_script; times are UTC.
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
  var failed = getComputedStyle(document.documentElement).getPropertyValue("--bad").trim() || "#b42318";
  var lines = data.map(function (upstream, i) {
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
  });
  var failures = data
    .map(function (upstream) {
      var down = {};
      upstream.history.forEach(function (point) { if (!point.ok) down[point.t] = true; });
      return {
        label: upstream.name + ": failed probe",
        data: labels.map(function (t) { return down[t] ? 0 : null; }),
        showLine: false,
        pointStyle: "crossRot",
        pointRadius: 6,
        pointBorderWidth: 2,
        borderColor: failed,
        backgroundColor: failed,
        failures: Object.keys(down).length,
      };
    })
    .filter(function (set) { return set.failures > 0; });
  var chart = new Chart(canvas, {
    type: "line",
    data: {
      labels: labels.map(function (t) { return t.slice(5, 16).replace("T", " "); }),
      datasets: lines.concat(failures),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { title: { display: true, text: "Probe time (UTC)" } },
        y: { beginAtZero: true, title: { display: true, text: "Latency (ms)" } },
      },
    },
  });
  canvas.dataset.drawn = String(lines.length);
  canvas.dataset.failed = String(failures.reduce(function (n, set) { return n + set.failures; }, 0));
})();
