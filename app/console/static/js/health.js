// Health: events written per minute by type, from GET /status.
import { call, showRequest } from "./api.js";
import { chart, color } from "./charts.js";

async function main() {
  const result = await call("GET", "/status");
  showRequest(document.getElementById("status-request"), result);
  if (!result.ok) return;
  const events = result.data.events;
  const minutes = [...new Set(events.map((e) => e.minute))].sort();
  const types = [...new Set(events.map((e) => e.type))].sort();
  chart("events-chart", {
    type: "bar",
    data: {
      labels: minutes.map((m) => m.slice(11, 16)),
      datasets: types.map((type, i) => ({
        label: type,
        data: minutes.map((m) => events.find((e) => e.minute === m && e.type === type)?.count ?? 0),
        backgroundColor: color(i),
      })),
    },
    options: {
      scales: { x: { stacked: true, title: { display: true, text: "minute (UTC)" } }, y: { stacked: true, beginAtZero: true } },
    },
  });
}

main();
