// One experiment: its report as charts (rates with their 95% intervals, click rate per
// position), from GET /experiments/{name}/report; stop and promote.
import { call, explain, fmt, showError, showRequest } from "./api.js";
import { chart, color } from "./charts.js";
import { wireWrites } from "./writes.js";

// Draws each bar's interval (dataset.intervals[i] = [low, high]) as an error bar.
const errorBars = {
  id: "errorBars",
  afterDatasetsDraw(instance) {
    const { ctx, scales } = instance;
    instance.data.datasets.forEach((dataset, d) => {
      const meta = instance.getDatasetMeta(d);
      if (meta.hidden || !dataset.intervals) return;
      meta.data.forEach((bar, i) => {
        const [low, high] = dataset.intervals[i] || [];
        if (low === null || low === undefined) return;
        const top = scales.y.getPixelForValue(high);
        const foot = scales.y.getPixelForValue(low);
        ctx.save();
        ctx.strokeStyle = "#222";
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(bar.x, top);
        ctx.lineTo(bar.x, foot);
        ctx.moveTo(bar.x - 5, top);
        ctx.lineTo(bar.x + 5, top);
        ctx.moveTo(bar.x - 5, foot);
        ctx.lineTo(bar.x + 5, foot);
        ctx.stroke();
        ctx.restore();
      });
    });
  },
};

function rates(report) {
  const names = report.variants.map((v) => v.name);
  const dataset = (label, key, i) => ({
    label,
    data: report.variants.map((v) => v[key].value ?? 0),
    intervals: report.variants.map((v) => [v[key].ci_low, v[key].ci_high]),
    backgroundColor: color(i),
  });
  chart("rates-chart", {
    type: "bar",
    data: { labels: names, datasets: [dataset("CTR", "ctr", 0), dataset("apply rate", "apply_rate", 1)] },
    options: {
      scales: { y: { beginAtZero: true, ticks: { callback: (v) => fmt.pct(v, 0) } } },
      plugins: {
        tooltip: {
          callbacks: {
            label: (item) => {
              const [low, high] = item.dataset.intervals[item.dataIndex];
              return `${item.dataset.label}: ${fmt.pct(item.raw, 2)} [${fmt.pct(low, 2)}, ${fmt.pct(high, 2)}]`;
            },
          },
        },
      },
    },
    plugins: [errorBars],
  });
}

function positions(report) {
  const deepest = Math.max(0, ...report.variants.flatMap((v) => v.position_ctr.map((p) => p.position)));
  const labels = Array.from({ length: deepest }, (_, i) => i + 1);
  chart("positions-chart", {
    type: "line",
    data: {
      labels,
      datasets: report.variants.map((v, i) => ({
        label: v.name,
        data: labels.map((p) => v.position_ctr.find((x) => x.position === p)?.rate ?? null),
        borderColor: color(i),
        backgroundColor: color(i),
      })),
    },
    options: {
      scales: {
        x: { title: { display: true, text: "position in the slate" } },
        y: { beginAtZero: true, ticks: { callback: (v) => fmt.pct(v, 0) } },
      },
    },
  });
}

async function main() {
  const name = document.getElementById("experiment").dataset.name;
  const result = await call("GET", `/experiments/${encodeURIComponent(name)}/report`);
  showRequest(document.getElementById("report-request"), result);
  if (!result.ok) {
    showError(document.getElementById("write-error"), explain(result));
    return;
  }
  rates(result.data);
  positions(result.data);
}

wireWrites();
main();
