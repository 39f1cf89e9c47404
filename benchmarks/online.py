"""The closed loop, measured: the real server, simulated job seekers, experiments,
retraining on the loop's own events.

    python benchmarks/online.py [--seekers 800] [--rounds 3] [--k 10]

1. A store gets the demo (`jobrec import demo`: 2,000 users, 1,500 jobs); ConvFM is
   trained on it (configs/demo.toml) and registered as production; `jobrec serve` runs
   in its own process.
2. Each round, every simulated seeker (demo users drawn at random) asks POST /recommend
   for k jobs and looks down the list: position p is examined with probability
   1 / (1 + 0.3 (p - 1)) (position bias); an examined job's utility is the demo
   world's hidden one (`app.demo.DemoWorld`: skills, city, region, remote, salary fit,
   the job's appeal) plus Gumbel noise, and the seeker clicks above the demo's click
   threshold and applies above its apply threshold, posting each event with the
   answer's recommendation_id and the position.
3. Round 1 is an experiment popularity (control) against ConvFM, half the users each.
   Every later round first retrains (`jobrec retrain` in-process, warm start from
   production on the events since its cut-off) and, when the candidate passes the gate,
   challenges production with half the users; a candidate whose CTR is not
   significantly below production's is promoted for the next round.
4. Each round's report comes from GET /experiments/NAME/report.

Writes docs/benchmarks/online.md and online.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import numpy as np

from app.demo import DemoWorld, generate_demo
from app.importers.demo import import_demo
from app.services.registry import ModelRegistry
from app.services.reports import Rate, rate_bars
from app.services.retraining import Retrainer
from app.settings import Settings
from benchmarks.common import REPO, load_records, machine, temporary_store
from benchmarks.serving import Server
from ml.config import Config
from ml.experiment import run_training
from ml.retrain import NothingNewError

DEMO_USERS, DEMO_JOBS = 2000, 1500
EXAMINE_DECAY = 0.3  # position p is examined with probability 1 / (1 + 0.3 (p - 1))


def seek(
    client: httpx.Client, world: DemoWorld, user_id: str, k: int, rng: np.random.Generator
) -> tuple[str | None, int, int]:
    """One seeker's visit: (variant, clicks, applies)."""
    answer = client.post(
        "/recommend",
        json={"user_id": user_id, "max_recommendations": k},
        headers={"Cache-Control": "no-cache"},
    )
    answer.raise_for_status()
    body = answer.json()
    utility = world.utility(world.user_row[user_id])
    clicks = applies = 0
    for p, rec in enumerate(body["recommendations"], start=1):
        if rng.random() >= 1 / (1 + EXAMINE_DECAY * (p - 1)):
            continue
        value = utility[world.job_row(rec["job_id"])] + rng.gumbel(0.0, world.NOISE)
        for kind, threshold in (("click", world.CLICK), ("apply", world.APPLY)):
            if value > threshold:
                event = {
                    "user_id": user_id,
                    "job_id": rec["job_id"],
                    "type": kind,
                    "recommendation_id": body["recommendation_id"],
                    "position": p,
                }
                client.post("/events", json=event).raise_for_status()
                clicks += kind == "click"
                applies += kind == "apply"
    return body["variant"], clicks, applies


def run_round(base: str, world: DemoWorld, seekers: list[str], k: int, seed: int) -> dict[str, Any]:
    def visit(i: int) -> tuple[str | None, int, int]:
        rng = np.random.default_rng([seed, i])
        with httpx.Client(base_url=base, timeout=60) as client:
            return seek(client, world, seekers[i], k, rng)

    with ThreadPoolExecutor(4) as pool:
        visits = list(pool.map(visit, range(len(seekers))))
    return {"visits": len(visits), "clicks": sum(v[1] for v in visits)}


def report_of(base: str, name: str) -> dict[str, Any]:
    time.sleep(1.0)  # the slate log writes within SLATE_LOG_FLUSH_SECONDS
    with httpx.Client(base_url=base, timeout=60) as client:
        report = client.get(f"/experiments/{name}/report")
        report.raise_for_status()
        client.post(f"/experiments/{name}/stop").raise_for_status()
        return report.json()


def start(base: str, name: str, control: str, variants: list[tuple[str, str]]) -> None:
    body = {
        "name": name,
        "control": control,
        "variants": [{"name": n, "model": m, "traffic": 1 / len(variants)} for n, m in variants],
    }
    with httpx.Client(base_url=base, timeout=60) as client:
        client.post("/experiments", json=body).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seekers", type=int, default=800)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    parser.add_argument(
        "--render", type=Path, metavar="ONLINE_JSON", help="measure nothing: write the page again"
    )
    args = parser.parse_args()
    if args.render:
        result = json.loads(args.render.read_text())
        (args.out / "online.md").write_text(render(result))
        return
    started = time.perf_counter()
    seed = Settings().demo_seed
    world = generate_demo(DEMO_USERS, DEMO_JOBS, seed).world
    rounds: list[dict[str, Any]] = []
    with temporary_store("jobrec-online-") as (url, factory, folder):
        import_demo(factory, users=DEMO_USERS, jobs=DEMO_JOBS, seed=seed)
        model_path = folder / "model"
        config = Config.load(REPO / "configs" / "demo.toml")
        run_training(*load_records(factory), config, model_path, progress=False)
        registry = ModelRegistry(factory, folder / "registry")
        retrainer = Retrainer(factory, registry, model_path=model_path, work_dir=folder / "retrain")
        production = retrainer.production().version
        server = Server(url, model_path, None, None)
        server.env.update(
            {
                "MODEL_REGISTRY_DIR": str(folder / "registry"),
                "CATALOG_REFRESH_SECONDS": "0.5",
                "POPULARITY_REFRESH_SECONDS": "2",
            }
        )
        rng = np.random.default_rng(seed)
        users = [u for u in world.users.ids if u != "123"]
        with server:
            for r in range(1, args.rounds + 1):
                seekers = [users[i] for i in rng.choice(len(users), args.seekers, replace=False)]
                entry: dict[str, Any] = {"round": r, "production": production}
                if r == 1:
                    name = "round-1"
                    start(
                        server.base,
                        name,
                        "popularity",
                        [("popularity", "popularity"), ("convfm", production)],
                    )
                else:
                    try:
                        outcome = retrainer.run(
                            tolerance=args.tolerance, replay_share=0.3, challenge=0.5
                        )
                    except NothingNewError as exc:
                        entry["retrain"] = str(exc)
                        rounds.append(entry)
                        continue
                    entry["gate"] = outcome.gate.to_json()
                    entry["candidate"] = outcome.candidate
                    if outcome.experiment is None:
                        rounds.append(entry)
                        continue
                    name = outcome.experiment
                time.sleep(1.5)  # every worker polls the new experiment
                entry["load"] = run_round(server.base, world, seekers, args.k, seed + r)
                entry["report"] = report_of(server.base, name)
                if r > 1:
                    ctr = next(c for c in entry["report"]["comparisons"] if c["metric"] == "ctr")
                    worse = (
                        ctr["lift"] is not None
                        and ctr["lift"] < 0
                        and (ctr["p_value"] is not None and ctr["p_value"] < 0.05)
                    )
                    if not worse:
                        registry.promote(entry["candidate"])
                        production = entry["candidate"]
                        entry["promoted"] = True
                rounds.append(entry)
                print(json.dumps({k: v for k, v in entry.items() if k != "report"}), flush=True)
    result = {
        "args": {k: str(v) for k, v in vars(args).items() if k != "render"},
        "rounds": rounds,
        "seconds": time.perf_counter() - started,
        "machine": machine(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "online.json").write_text(json.dumps(result, indent=1))
    plot(rounds, args.out / "online.png")
    (args.out / "online.md").write_text(render(result))
    print(render(result))


def plot(rounds: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in rounds if "report" in r]
    fig, axes = plt.subplots(
        1, len(measured), figsize=(4.2 * len(measured), 3.6), squeeze=False, constrained_layout=True
    )
    for ax, entry in zip(axes[0], measured, strict=True):
        variants = entry["report"]["variants"]
        rate_bars(
            ax,
            [v["name"] for v in variants],
            [Rate(**v["ctr"]) for v in variants],
            ["#999999", "#4c72b0"][: len(variants)],
        )
        ax.set_title(f"round {entry['round']}: CTR, 95% interval")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _rate(rate: dict[str, Any]) -> str:
    if rate["value"] is None:
        return "n/a"
    return f"{rate['value']:.3f} [{rate['ci_low']:.3f}, {rate['ci_high']:.3f}]"


def render(result: dict[str, Any]) -> str:
    a = result["args"]
    lines = [
        "# The closed loop: experiments and retraining against simulated job seekers",
        "",
        f"`python benchmarks/online.py --seekers {a['seekers']} --rounds {a['rounds']} "
        f"--k {a['k']}`; {machine()}; {result['seconds'] / 60:.1f} minutes.",
        "",
        "Seekers are demo users whose clicks and applications follow the demo world's hidden",
        "utilities with a position bias (see the script's docstring); each posts its events",
        "with the answer's recommendation_id. Round 1: popularity (control) against ConvFM;",
        "later rounds: production (control) against a candidate retrained on the loop's",
        "own events, when it passes the gate. Rates are slates with at least one click",
        "(CTR) or application over slates served, with 95% Wilson intervals; p-values of a",
        "two-proportion z-test against the control.",
        "",
        "| round | variant | model | slates | CTR | apply rate |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    notes = []
    for entry in result["rounds"]:
        report = entry.get("report") or {"variants": [], "comparisons": []}
        if "retrain" in entry:
            notes.append(f"- round {entry['round']}: nothing retrained ({entry['retrain']})")
        for v in report["variants"]:
            lines.append(
                f"| {entry['round']} | {v['name']} | `{v['model']}` | {v['slates']} | "
                f"{_rate(v['ctr'])} | {_rate(v['apply_rate'])} |"
            )
        for c in report["comparisons"]:
            if c["lift"] is not None:
                notes.append(
                    f"- round {entry['round']}, {c['variant']} against the control, "
                    f"{c['metric']}: lift {c['lift']:+.1%} "
                    f"[{c['ci_low']:+.1%}, {c['ci_high']:+.1%}], p = {c['p_value']:.2g}"
                )
        if "gate" in entry:
            g = entry["gate"]
            then = (
                "promoted"
                if entry.get("promoted")
                else "not promoted"
                if g["passed"]
                else "not registered: production kept, no experiment this round"
            )
            notes.append(
                f"- round {entry['round']} gate: {g['metric']} {g['candidate']:.4f} against "
                f"production {g['production']:.4f} on {g['test_users']} users "
                f"({'passed' if g['passed'] else 'failed'}, tolerance {g['tolerance']}); {then}"
            )
    lines += ["", *notes, "", "![CTR per round](online.png)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
