"""Ranking quality on views the model never saw, served over HTTP, with its defaults.

    python benchmarks/unseen.py [--data ../shared/data/job_views] [--config FILE]
                                [--cold-share 0.2] [--seed 7]

1. `jobrec import job-views` into a temporary store; then two kinds of held-out data
   are taken out of it (every event of them deleted, so nothing of them is trained on):
   * cold users: a random `--cold-share` of the users who viewed a job lose every
     event; they keep the profile they stated;
   * warm targets: every other user with two or more distinct viewed jobs loses their
     last one (by first view time), as the data's own withheld views were taken.
2. `jobrec train` on what is left (the code's defaults, or --config), ablations too.
3. Offline: `jobrec evaluate --holdout` on the warm targets (ConvFM, its ablations with
   what each branch adds, the baselines), and `jobrec evaluate --cold-start` ranking
   the cold users from their profile against the first job they viewed.
4. Over HTTP (`jobrec serve` in its own process): POST /recommend for every warm
   held-out user (k=10, their seen jobs excluded, as by default), and for every cold
   user as a NEW user with their profile inline; HR@10 and NDCG@10 from the answers,
   which must equal the offline ranking's.

Writes docs/benchmarks/unseen.md and unseen.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import numpy as np
from sqlalchemy import text

from app.db import session_scope
from app.importers.job_views import import_job_views
from benchmarks.common import REPO, load_records, machine, temporary_store
from benchmarks.serving import Server
from ml.checkpoint import load_checkpoint
from ml.cold_start import cold_start_evaluation, first_positives
from ml.config import Config
from ml.data import aggregate_feedback
from ml.evaluation import run_evaluation
from ml.experiment import run_training

K = 10


def held_out(interactions, cold_share: float, seed: int):
    """(cold user ids, warm (user, job) targets) of the full interactions."""
    feedback = aggregate_feedback(interactions)
    viewers = sorted({f.user_id for f in feedback if f.label > 0})
    rng = np.random.default_rng(seed)
    cold = set(rng.choice(viewers, int(len(viewers) * cold_share), replace=False).tolist())
    liked: dict[str, list] = {}
    for f in feedback:
        if f.label > 0 and f.user_id not in cold:
            liked.setdefault(f.user_id, []).append((f.time, f.job_id))
    warm = [(u, max(items)[1]) for u, items in sorted(liked.items()) if len(items) >= 2]
    return cold, warm


def delete_held_out(factory, cold: set[str], warm: list[tuple[str, str]]) -> int:
    """Delete every event of the cold users and of the warm (user, job) pairs."""
    deleted = 0
    with session_scope(factory) as session:
        ids = session.execute(
            text(
                "SELECT i.id, u.external_id, j.external_id FROM interactions i "
                "JOIN users u ON u.id = i.user_id JOIN jobs j ON j.id = i.job_id"
            )
        ).all()
        pairs = set(warm)
        doomed = [row_id for row_id, u, j in ids if u in cold or (u, j) in pairs]
        for lo in range(0, len(doomed), 500):
            chunk = doomed[lo : lo + 500]
            session.execute(
                text(f"DELETE FROM interactions WHERE id IN ({','.join(map(str, chunk))})")
            )
        deleted = len(doomed)
    return deleted


def metrics_of(ranked: list[list[str]], targets: list[str]) -> dict[str, float]:
    """HR@K and NDCG@K of ranked job ids against one target each."""
    hr = ndcg = 0.0
    for jobs, target in zip(ranked, targets, strict=True):
        if target in jobs[:K]:
            hr += 1.0
            ndcg += 1.0 / math.log2(jobs.index(target) + 2)
    n = max(len(targets), 1)
    return {f"hr@{K}": hr / n, f"ndcg@{K}": ndcg / n}


def over_http(base: str, bodies: list[dict[str, Any]]) -> list[list[str]]:
    """The job ids of each POST /recommend answer, in order."""
    out = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for body in bodies:
            answer = client.post("/recommend", json=body)
            answer.raise_for_status()
            out.append([r["job_id"] for r in answer.json()["recommendations"]])
    return out


def inline_profile(stored: dict[str, Any]) -> dict[str, Any]:
    """A user as GET /users/{id} returns them, as an inline `"profile"` for /recommend."""
    profile: dict[str, Any] = {
        "headline": stored.get("headline") or "",
        "skills": stored.get("skills") or [],
    }
    if stored.get("current_company"):
        profile["current_company"] = stored["current_company"]
    place = stored.get("location")
    if place:
        profile["location"] = {
            key: place[key]
            for key in ("city", "region", "country", "latitude", "longitude")
            if place.get(key) is not None
        }
    if stored.get("desired_salary"):
        salary = stored["desired_salary"]
        profile["desired_salary"] = {
            key: salary[key] for key in ("amount", "currency", "period") if key in salary
        }
    return profile


def held_out_arguments(description: str, *, config: bool = True) -> argparse.Namespace:
    """The options of a benchmark on held-out job views (--data, --cold-share, --seed,
    --out, and --config unless told), parsed; exits when --data lacks the files."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/job_views")
    if config:
        parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--cold-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    args = parser.parse_args()
    if not (args.data / "Job_Views.csv").is_file():
        sys.exit(f"{args.data} does not hold the job-views files (Job_Views.csv, ...)")
    return args


def main() -> None:
    args = held_out_arguments(__doc__.splitlines()[0])
    config = Config.load(args.config)
    started = time.perf_counter()
    with temporary_store("jobrec-unseen-") as (url, factory, folder):
        import_job_views(factory, args.data)
        users, jobs, everything = load_records(factory)
        cold, warm = held_out(everything, args.cold_share, args.seed)
        deleted = delete_held_out(factory, cold, warm)
        users, jobs, interactions = load_records(factory)
        model = folder / "model"
        trained = run_training(users, jobs, interactions, config, model, progress=False)
        offline = run_evaluation(model, users, jobs, interactions, holdout=warm, k=K)
        cold_users = [u for u in users if u.user_id in cold]
        first = first_positives(aggregate_feedback(everything))
        cold_report = cold_start_evaluation(
            load_checkpoint(model), cold_users, jobs, interactions, targets=first
        )
        with Server(url, model, None, None) as server:
            with httpx.Client(base_url=server.base, timeout=60) as client:
                cold_bodies = [
                    {
                        "user_id": f"new-{u.user_id}",
                        "profile": inline_profile(client.get(f"/users/{u.user_id}").json()),
                        "max_recommendations": K,
                    }
                    for u in cold_users
                    if u.has_profile and u.user_id in first
                ]
            warm_http = metrics_of(
                over_http(server.base, [{"user_id": u, "max_recommendations": K} for u, _ in warm]),
                [j for _, j in warm],
            )
            cold_ids = [b["user_id"].removeprefix("new-") for b in cold_bodies]
            cold_http = metrics_of(
                over_http(server.base, cold_bodies), [first[u] for u in cold_ids]
            )
    result = {
        "created_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "config": config.model_dump(mode="json"),
        "held_out": {"cold_users": len(cold), "warm_targets": len(warm), "events_deleted": deleted},
        "training": {
            "seconds": trained["seconds"],
            "best_epoch": trained["training"]["best_epoch"],
        },
        "warm": {"http": warm_http, "offline": offline},
        "cold": {"http": cold_http, "offline": cold_report, "http_users": len(cold_bodies)},
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "unseen.json").write_text(json.dumps(result, indent=1, default=str))
    (args.out / "unseen.md").write_text(render(result, args))
    print(render(result, args))


def render(result: dict[str, Any], args: argparse.Namespace) -> str:
    warm, cold = result["warm"], result["cold"]
    offline = warm["offline"]
    hr, ndcg = f"hr@{K}", f"ndcg@{K}"
    lines = [
        "# Ranking quality on views the model never saw, served over HTTP",
        "",
        f"Measured {result['created_at'][:10]} on {result['machine']}, in "
        f"{result['seconds'] / 60:.0f} minutes:",
        "",
        "    python benchmarks/unseen.py"
        + (f" --config {args.config}" if args.config else "")
        + f" --cold-share {args.cold_share} --seed {args.seed}",
        "",
        f"Held out before training: {result['held_out']['warm_targets']} users' last viewed "
        f"job, and every event of {result['held_out']['cold_users']} users drawn at random "
        f"(cold start); {result['held_out']['events_deleted']} events deleted in all. The "
        "model is trained by `run_training`, as `jobrec train` does, with "
        + ("the code's defaults." if not args.config else f"{args.config}."),
        "",
        f"## Users with history ({offline['users']} held-out views)",
        "",
        f"| model | {hr.upper()} | {ndcg.upper()} |",
        "| --- | ---: | ---: |",
        f"| ConvFM over HTTP | {warm['http'][hr]:.4f} | {warm['http'][ndcg]:.4f} |",
        f"| ConvFM offline (same ranking) | {offline[hr]:.4f} | {offline[ndcg]:.4f} |",
    ]
    for name, metrics in offline["ablations"].items():
        lines.append(
            f"| ConvFM, {name.replace('_', ' ')} | {metrics[hr]:.4f} | {metrics[ndcg]:.4f} |"
        )
    for name, metrics in offline["baselines"].items():
        lines.append(f"| baseline: {name} | {metrics[hr]:.4f} | {metrics[ndcg]:.4f} |")
    lines += [
        "",
        "What each branch adds (ConvFM minus the ablation, paired over users; 95% "
        "bootstrap interval):",
        "",
        f"| ablation | {hr.upper()} | {ndcg.upper()} |",
        "| --- | ---: | ---: |",
    ]
    for name, effect in offline["ablation_effects"].items():
        cells = [
            f"{e['mean']:+.4f} [{e['ci_low']:+.4f}, {e['ci_high']:+.4f}]"
            for e in (effect[hr], effect[ndcg])
        ]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    models = cold["offline"]["models"]
    lines += [
        "",
        f"## New users, from their profile alone ({cold['offline']['users']} users)",
        "",
        "Each held-out user sent as a new user with the profile they stated (positions of "
        "interest and past titles in the headline, latest employer, place); the target is "
        "the first job they viewed.",
        "",
        f"| model | {hr.upper()} [95% interval] | {ndcg.upper()} [95% interval] |",
        "| --- | ---: | ---: |",
        f"| ConvFM over HTTP ({cold['http_users']} users) | {cold['http'][hr]:.4f} | "
        f"{cold['http'][ndcg]:.4f} |",
    ]
    for name, metrics in models.items():
        cells = [
            f"{metrics[key]['mean']:.4f} [{metrics[key]['interval'][0]:.4f}, "
            f"{metrics[key]['interval'][1]:.4f}]"
            for key in (hr, ndcg)
        ]
        lines.append(f"| {name} (offline) | {cells[0]} | {cells[1]} |")
    ratio = cold["offline"][f"convfm_hr@{K}_over_best_baseline"]
    lines += [
        "",
        f"ConvFM's HR@{K} is {ratio:.2f}x the better baseline's on the same users.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
