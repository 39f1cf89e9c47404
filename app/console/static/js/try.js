// Try it: posts the bodies the server built from this page's query string, so the URL is
// the state; shows the ranked jobs, their explanations and a what-if.
import { call, el, explain, fmt, showError, showRequest } from "./api.js";

const form = document.getElementById("try-form");

// Submitting navigates to a URL holding only the fields that are set: a link to share.
form.addEventListener("submit", (event) => {
  event.preventDefault();
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(form)) {
    if (String(value).trim() !== "") params.append(name, String(value).trim());
  }
  location.assign(form.action + (params.size ? "?" + params : ""));
});

function salary(job) {
  if (job.salary_min === null && job.salary_max === null) return "salary not stated";
  const range = [job.salary_min, job.salary_max].filter((v) => v !== null).map(fmt.money);
  return `${range.join("–")} ${job.salary_currency || ""}/${job.salary_period || "year"}`;
}

function bars(explanation) {
  const values = explanation.contributions;
  const widest = Math.max(...values.map((c) => Math.abs(c.value)), 1e-9);
  const rows = values.map((c) => {
    const bar = el("span", { class: "bar " + (c.value >= 0 ? "up" : "down") });
    bar.style.width = (50 * Math.abs(c.value)) / widest + "%";
    bar.style.marginLeft = c.value >= 0 ? "50%" : 50 - (50 * Math.abs(c.value)) / widest + "%";
    return el(
      "div",
      { class: "contribution" },
      el("span", { class: "name" }, c.name),
      el("span", { class: "track" }, bar),
      el("span", { class: "value" }, (c.value >= 0 ? "+" : "") + c.value.toFixed(3)),
    );
  });
  return el(
    "div",
    { class: "explanation" },
    el("p", { class: "muted" }, `logit ${explanation.logit.toFixed(3)} = the sum of these; score = sigmoid(logit)`),
    rows,
  );
}

function jobItem(job) {
  const item = el(
    "li",
    { class: "job", dataset: { jobId: job.job_id } },
    el(
      "div",
      { class: "job-head" },
      el("strong", { class: "title" }, job.title),
      el("span", { class: "score" }, job.score.toFixed(4)),
    ),
    el(
      "div",
      { class: "muted" },
      [job.job_id, job.company, job.location, salary(job), job.employment_type].filter(Boolean).join(" · "),
    ),
  );
  const explanation = job.explanation;
  if (explanation) {
    const reasons = el("div", { class: "reasons" }, explanation.reasons.map((r) => el("span", { class: "reason", title: r.code }, r.text)));
    const details = el("details", { class: "why" }, el("summary", {}, "Why this job?"), bars(explanation));
    item.append(reasons, details);
  }
  return item;
}

async function recommend() {
  const panel = document.getElementById("recommend");
  const body = JSON.parse(panel.dataset.body);
  const result = await call("POST", "/recommend", body);
  showRequest(document.getElementById("recommend-request"), result);
  const error = document.getElementById("recommend-error");
  if (!result.ok) {
    showError(error, explain(result));
    return;
  }
  showError(error, "");
  const answer = result.data;
  document.getElementById("recommend-meta").textContent =
    `${answer.recommendations.length} for ${answer.user_id} · model ${answer.model_version}` +
    (answer.variant ? ` · variant ${answer.variant}` : "") +
    (answer.cold_start ? " · cold start" : "") +
    (answer.fallback ? ` · fallback ${answer.fallback}` : "");
  const list = document.getElementById("jobs");
  list.replaceChildren(...answer.recommendations.map(jobItem));
  if (!answer.recommendations.length) list.replaceChildren(el("li", { class: "muted" }, "No job passes these filters."));
  panel.dataset.loaded = "yes";
}

function change(job) {
  if (job.rank_change === null) return el("span", { class: "rank new" }, "new");
  if (job.rank_change === 0) return el("span", { class: "rank same" }, "=");
  return el("span", { class: "rank " + (job.rank_change > 0 ? "up" : "down") }, (job.rank_change > 0 ? "▲" : "▼") + Math.abs(job.rank_change));
}

async function whatIf() {
  const panel = document.getElementById("what-if");
  if (!panel.dataset.body) return;
  const result = await call("POST", "/recommend/what-if", JSON.parse(panel.dataset.body));
  showRequest(document.getElementById("what-if-request"), result);
  if (!result.ok) {
    showError(document.getElementById("what-if-error"), explain(result));
    return;
  }
  const answer = result.data;
  const rows = answer.after.map((job, i) =>
    el(
      "tr",
      { dataset: { jobId: job.job_id } },
      el("td", {}, i + 1),
      el("td", {}, change(job)),
      el("td", {}, job.title, el("div", { class: "muted" }, [job.job_id, job.company, job.location].filter(Boolean).join(" · "))),
      el("td", {}, job.score.toFixed(4)),
      el("td", { class: job.score_delta >= 0 ? "up" : "down" }, (job.score_delta >= 0 ? "+" : "") + job.score_delta.toFixed(4)),
    ),
  );
  const table = el(
    "table",
    { id: "what-if-table" },
    el("thead", {}, el("tr", {}, ["#", "rank", "job", "score", "change"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows),
  );
  const suggestions = answer.skill_suggestions.map((s) =>
    el("li", {}, el("strong", {}, s.skill), ` raises the top jobs' mean score by ${s.gain.toFixed(4)}`, s.jobs_gained ? `, brings ${s.jobs_gained} new job(s) in` : ""),
  );
  document.getElementById("what-if-result").replaceChildren(
    table,
    el("h3", {}, "Skills that would help most"),
    suggestions.length ? el("ol", { id: "suggestions" }, suggestions) : el("p", { class: "muted" }, "No skill would raise these jobs."),
  );
  panel.dataset.loaded = "yes";
}

recommend().then(whatIf);
