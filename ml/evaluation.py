"""Offline evaluation of a checkpoint over plain records: the `jobrec evaluate` pipeline
without its I/O. It ranks the full active catalog per held-out user, the user's
already-seen jobs excluded (`ml.metrics`), for the model, its ablations and the
baselines alike, on the data preparation training used (`ml.experiment.prepare`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ml.breakdown import breakdown as split_by_segment
from ml.breakdown import segments
from ml.checkpoint import load_checkpoint
from ml.config import Config
from ml.data import data_fingerprint
from ml.experiment import ABLATIONS_DIR, prepare, test_targets
from ml.metrics import ScoreFn, paired_difference, rank_users
from ml.records import Interaction, JobRecord, UserRecord


def run_evaluation(
    checkpoint_path: str | Path,
    users: Sequence[UserRecord],
    jobs: Sequence[JobRecord],
    interactions: Sequence[Interaction],
    *,
    holdout: Sequence[tuple[str, str]] | None = None,
    k: int = 10,
    breakdown: bool = False,
) -> dict[str, Any]:
    """Rank the active catalog for held-out users with the checkpoint, its ablations
    (found under <checkpoint>/ablations) and the baselines.

    Without `holdout`, the targets are the store's own leave-last-out test items and
    each user's other interactions are excluded. With `holdout` (user_id, job_id) pairs,
    every job the user interacted with in the store is excluded and baselines learn
    from all store interactions. `report["ablation_effects"]`: per ablation, what the
    branch it takes out adds (ConvFM minus the ablation, HR and NDCG, with a paired
    bootstrap 95% interval over users). With `breakdown`, `report["breakdown"]` splits
    HR and NDCG by segment of the users for every model (`ml.breakdown`).
    """
    checkpoint = load_checkpoint(checkpoint_path)
    config = Config(model=checkpoint.model.config, features=checkpoint.space.config)
    data = prepare(
        users, jobs, interactions, config=config, space=checkpoint.space, holdout=holdout is None
    )
    if holdout is None:
        targets, seen = test_targets(data.split)
    else:
        targets = {}
        for user_id, job_id in holdout:
            targets.setdefault(str(user_id), []).append(str(job_id))
        seen = data.split.seen
    task = data.ranking_task(targets, seen)
    ids = {row: user_id for user_id, row in data.user_index.items()}
    per_user: dict[str, dict[str, dict[str, float]]] = {}

    def evaluate(name: str, score: ScoreFn) -> dict[str, float]:
        means, mine = rank_users(score, task, k=k)
        per_user[name] = {ids[task.users[i]]: metrics for i, metrics in mine.items()}
        return means

    report: dict[str, Any] = {
        "checkpoint": str(checkpoint_path),
        "model_version": checkpoint.version,
        "k": k,
        "protocol": "holdout csv" if holdout is not None else "leave-last-out of the store",
        "catalog_size": len(data.catalog),
        **evaluate("convfm", data.model_ranker(checkpoint.model, test=True)),
        "baselines": {name: evaluate(name, fn) for name, fn in data.baselines().items()},
        "ablations": {},
        "data_matches_training": (
            data_fingerprint(users, jobs, interactions)
            == checkpoint.metadata.get("data_fingerprint")
        ),
    }
    ablation_root = Path(checkpoint_path) / ABLATIONS_DIR
    for path in sorted(ablation_root.iterdir()) if ablation_root.is_dir() else ():
        ablation = load_checkpoint(path)
        report["ablations"][path.name] = evaluate(
            path.name, data.model_ranker(ablation.model, test=True)
        )
    # what each ablated branch adds: ConvFM minus the model without it, paired per user
    report["ablation_effects"] = {
        name: {
            key: paired_difference(per_user["convfm"], per_user[name], key)
            for key in (f"hr@{k}", f"ndcg@{k}")
        }
        for name in report["ablations"]
    }
    if breakdown:
        report["breakdown"] = split_by_segment(per_user, segments(data, targets), k)
    return report
