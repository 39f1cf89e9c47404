// The API key box in the header: kept in sessionStorage (this tab only), never in the page.
import { apiKey, setApiKey } from "./api.js";

const form = document.getElementById("key-box");
const input = document.getElementById("api-key");
const state = document.getElementById("key-state");

function show() {
  state.textContent = apiKey() ? "key kept for this tab" : "";
  input.value = "";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  setApiKey(input.value.trim());
  show();
});
document.getElementById("key-forget").addEventListener("click", () => {
  setApiKey("");
  show();
});
show();
