// The experiments list: start one (the variants typed in the form), stop a running one.
import { call, explain, root, showError, showRequest } from "./api.js";
import { wireWrites } from "./writes.js";

const form = document.getElementById("start-form");
const body = document.querySelector("#variants tbody");

document.getElementById("add-variant").addEventListener("click", () => {
  const rows = body.querySelectorAll("tr.variant");
  const copy = rows[rows.length - 1].cloneNode(true);
  const index = rows.length;
  copy.querySelector("input[type=radio]").value = String(index);
  copy.querySelector("input[type=radio]").checked = false;
  copy.querySelector(".v-name").value = String.fromCharCode(97 + index);
  body.append(copy);
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const rows = [...body.querySelectorAll("tr.variant")];
  const variants = rows.map((row) => ({
    name: row.querySelector(".v-name").value.trim(),
    model: row.querySelector(".v-model").value,
    traffic: Number(row.querySelector(".v-traffic").value),
  }));
  const control = Number(form.querySelector("input[name=control]:checked").value);
  const name = document.getElementById("exp-name").value.trim();
  const result = await call("POST", "/experiments", { name, control: variants[control].name, variants });
  showRequest(document.getElementById("start-request"), result);
  const error = document.getElementById("start-error");
  if (!result.ok) {
    showError(error, explain(result));
    return;
  }
  showError(error, "");
  location.assign(`${root}/console/experiments/${encodeURIComponent(name)}`);
});

wireWrites();
