// Calls to the service's own JSON API, each shown as the curl command that does the same.
const KEY = "jobrec.apiKey";
export const root = document.body.dataset.root || "";

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setApiKey(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

function quote(text) {
  return "'" + text.replaceAll("'", "'\\''") + "'";
}

// The curl command of a request; the key is never printed, only the variable naming it.
export function curl(method, path, body, keyed) {
  const parts = ["curl -sS"];
  if (method !== "GET") parts.push("-X " + method);
  parts.push(quote(location.origin + root + path));
  if (body !== undefined) parts.push("-H 'Content-Type: application/json'");
  if (keyed) parts.push('-H "X-API-Key: $JOBREC_API_KEY"');
  if (body !== undefined) parts.push("-d " + quote(JSON.stringify(body)));
  return parts.join(" \\\n  ");
}

// fetch with the key when one is kept; resolves to {status, ok, data, curl}.
export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(root + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { status: response.status, ok: response.ok, data, curl: curl(method, path, body, !!key) };
}

// What an error answer means for a person (a 401 says where the key goes).
export function explain(result) {
  const error = result.data && result.data.error;
  const message = error ? error.message : "the service answered " + result.status;
  if (result.status === 401) {
    return `Refused (401): ${message}. This action needs the API key: type it in the "API key" box at the top and press Use.`;
  }
  return `${result.status} ${error ? error.code : ""}: ${message}`;
}

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name in node) node[name] = value;
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

// Shows a request as copyable curl in `container`.
export function showRequest(container, result) {
  if (!container) return;
  const code = el("pre", { class: "curl" }, el("code", {}, result.curl));
  const button = el("button", { type: "button", class: "copy" }, "Copy as curl");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(result.curl);
      button.textContent = "Copied";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(code);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
  });
  const status = el("span", { class: result.ok ? "muted" : "error" }, `→ ${result.status}`);
  container.replaceChildren(el("div", { class: "request-head" }, button, " ", status), code);
}

export function showError(node, text) {
  node.textContent = text;
  node.hidden = !text;
}

export const fmt = {
  pct: (v, d = 1) => (v === null || v === undefined ? "—" : (100 * v).toFixed(d) + "%"),
  num: (v, d = 3) => (v === null || v === undefined ? "—" : Number(v).toFixed(d)),
  money: (v) => (v === null || v === undefined ? "" : Math.round(v).toLocaleString("en-US")),
};

export const palette = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"];
