// Chart.js (vendored, window.Chart) with the console's defaults.
import { palette } from "./api.js";

const Chart = window.Chart;
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.font.family = "system-ui, sans-serif";

export function chart(id, config) {
  const canvas = document.getElementById(id);
  if (!canvas) return null;
  const made = new Chart(canvas, config);
  canvas.dataset.drawn = "yes";
  return made;
}

export function color(i) {
  return palette[i % palette.length];
}

// A heat map of `rows` (arrays of numbers) on a canvas: rows top to bottom, a column per
// label, a diverging scale centred on 0 (blue below, red above).
export function heatmap(id, rows, labels, rowLabel) {
  const canvas = document.getElementById(id);
  if (!canvas || !rows.length) return;
  const ctx = canvas.getContext("2d");
  const left = 70;
  const bottom = 70;
  const width = (canvas.width - left - 50) / labels.length;
  const height = (canvas.height - bottom - 10) / rows.length;
  const extreme = Math.max(...rows.flat().map(Math.abs), 1e-9);
  ctx.font = "11px system-ui, sans-serif";
  rows.forEach((row, r) => {
    row.forEach((value, c) => {
      const t = Math.min(1, Math.abs(value) / extreme);
      const shade = Math.round(255 * (1 - t));
      ctx.fillStyle = value >= 0 ? `rgb(255,${shade},${shade})` : `rgb(${shade},${shade},255)`;
      ctx.fillRect(left + c * width, 10 + r * height, Math.ceil(width), Math.ceil(height));
    });
    if (r % Math.max(1, Math.ceil(12 / height)) === 0) {  // a label every 12 px at most
      ctx.fillStyle = "#333";
      ctx.fillText(`${rowLabel} ${r}`, 4, 10 + (r + 0.7) * height);
    }
  });
  ctx.save();
  labels.forEach((label, c) => {
    ctx.save();
    ctx.translate(left + (c + 0.5) * width, canvas.height - bottom + 6);
    ctx.rotate(Math.PI / 4);
    ctx.fillStyle = "#333";
    ctx.fillText(label, 0, 0);
    ctx.restore();
  });
  ctx.restore();
  canvas.dataset.drawn = "yes";
}
