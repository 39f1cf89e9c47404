// The console's writes: stop an experiment, promote a model. Each needs the API key when
// the service has one; the request and the answer are shown on the page.
import { call, explain, showError, showRequest } from "./api.js";

async function write(path, done) {
  const result = await call("POST", path);
  showRequest(document.getElementById("write-request") || document.getElementById("stop-request"), result);
  const error = document.getElementById("write-error") || document.getElementById("stop-error");
  if (!result.ok) {
    showError(error, explain(result));
    return;
  }
  showError(error, "");
  done(result.data);
}

export function wireWrites() {
  for (const button of document.querySelectorAll("button.stop")) {
    button.addEventListener("click", () =>
      write(`/experiments/${encodeURIComponent(button.dataset.name)}/stop`, () => location.reload()),
    );
  }
  for (const button of document.querySelectorAll("button.promote")) {
    button.addEventListener("click", () =>
      write(`/models/${encodeURIComponent(button.dataset.version)}/promote`, (row) => {
        const ok = document.getElementById("write-ok");
        ok.textContent = `${row.version} is in production now.`;
        ok.hidden = false;
        button.disabled = true;
      }),
    );
  }
}
