// The status page's latency history: one line per upstream, a gap and a red cross (at 0 ms) where a probe
// failed. Times are UTC; the chart set-up is static/js/charts.js.
import { axisTitle, chartInput, cssColour, draw, seriesColour } from "./charts.js";

function statusChart() {
  const input = chartInput("status-chart", "status-chart-data");
  if (!input) return;
  const { canvas, data } = input;
  const labels = [...new Set(data.flatMap((upstream) => upstream.history.map((point) => point.t)))].sort();
  const failed = cssColour("--bad", "#b42318");
  const lines = data.map((upstream, i) => {
    const byTime = new Map(upstream.history.map((point) => [point.t, point.ms]));
    return {
      label: upstream.name,
      data: labels.map((t) => (byTime.has(t) ? byTime.get(t) : null)),
      borderColor: seriesColour(i),
      backgroundColor: seriesColour(i),
      pointRadius: 1,
      spanGaps: false,
    };
  });
  const failures = data
    .map((upstream) => {
      const down = new Set(upstream.history.filter((point) => !point.ok).map((point) => point.t));
      return {
        label: `${upstream.name}: failed probe`,
        data: labels.map((t) => (down.has(t) ? 0 : null)),
        showLine: false,
        pointStyle: "crossRot",
        pointRadius: 6,
        pointBorderWidth: 2,
        borderColor: failed,
        backgroundColor: failed,
        failures: down.size,
      };
    })
    .filter((set) => set.failures > 0);
  draw(canvas, {
    type: "line",
    data: { labels: labels.map((t) => t.slice(5, 16).replace("T", " ")), datasets: lines.concat(failures) },
    options: {
      scales: {
        x: { title: axisTitle("Probe time (UTC)") },
        y: { beginAtZero: true, title: axisTitle("Latency (ms)") },
      },
    },
  });
  canvas.dataset.drawn = String(lines.length);
  canvas.dataset.failed = String(failures.reduce((n, set) => n + set.failures, 0));
}
statusChart();
