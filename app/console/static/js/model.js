// One model version: learning curve, feature importances and the convolution's response,
// drawn from GET /models/{version}; promote.
import { call, explain, showError, showRequest } from "./api.js";
import { chart, color, heatmap } from "./charts.js";
import { wireWrites } from "./writes.js";

function curve(training) {
  const epochs = training.epochs;
  // the ranking metrics people read a curve for (not counts, coverage or diversity)
  const metrics = Object.keys(epochs[0] || {}).filter((k) => /^val_(ndcg|auc|mrr)/.test(k));
  chart("curve-chart", {
    type: "line",
    data: {
      labels: epochs.map((e) => e.epoch),
      datasets: [
        { label: "training loss", data: epochs.map((e) => e.loss), borderColor: color(0), backgroundColor: color(0), yAxisID: "loss" },
        ...metrics.map((m, i) => ({
          label: m.slice(4),
          data: epochs.map((e) => e[m]),
          borderColor: color(i + 1),
          backgroundColor: color(i + 1),
          yAxisID: "metric",
        })),
      ],
    },
    options: {
      scales: {
        x: { title: { display: true, text: "epoch" } },
        loss: { position: "left", title: { display: true, text: "loss" } },
        metric: { position: "right", title: { display: true, text: "validation" }, grid: { drawOnChartArea: false } },
      },
    },
  });
}

function importance(explain) {
  const entries = Object.entries(explain.importance || {});
  const key = Object.keys(entries[0]?.[1] || {}).find((k) => k.startsWith("ndcg") && k.endsWith("_drop"));
  if (!key) return;
  entries.sort((a, b) => b[1][key] - a[1][key]);
  chart("importance-chart", {
    type: "bar",
    data: {
      labels: entries.map(([name]) => name),
      datasets: [{ label: key.replace("_drop", " drop"), data: entries.map(([, v]) => v[key]), backgroundColor: color(0) }],
    },
    options: { indexAxis: "y", plugins: { legend: { display: false } } },
  });
}

async function main() {
  const version = document.getElementById("model").dataset.version;
  const result = await call("GET", `/models/${encodeURIComponent(version)}`);
  showRequest(document.getElementById("detail-request"), result);
  if (!result.ok) {
    showError(document.getElementById("write-error"), explain(result));
    return;
  }
  const detail = result.data;
  if (detail.training) curve(detail.training);
  if (detail.explain) {
    importance(detail.explain);
    const conv = detail.explain.conv_response;
    if (conv) heatmap("conv-heatmap", conv.filters, conv.positions, "filter");
  }
}

wireWrites();
main();
