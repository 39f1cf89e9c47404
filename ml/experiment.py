"""Training runs over plain records: the `jobrec train` pipeline without its I/O, and
the data preparation it shares with `ml.evaluation`.

Both rank the full active catalog per user, the user's already-seen jobs excluded
(`ml.metrics`), for ConvFM, its ablations and the baselines alike.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.baselines import (
    ContentRanker,
    ItemKnnRanker,
    LocationPopularityRanker,
    PopularityRanker,
    TfidfRanker,
)
from ml.checkpoint import save_checkpoint
from ml.config import Config, ModelConfig
from ml.data import (
    ExampleSampler,
    Feedback,
    Split,
    aggregate_feedback,
    attach_history,
    data_cutoff,
    data_fingerprint,
    histories_as_of,
    leave_last_out,
)
from ml.distributed import current
from ml.features import EntityFeatures, FeatureSpace, UserSnapshots
from ml.metrics import RankingTask, ScoreFn, evaluate_ranking
from ml.model import ConvFM
from ml.records import Interaction, JobRecord, UserRecord
from ml.report import machine_info, plot_learning_curve, write_json
from ml.scoring import CatalogScorer
from ml.text import name_key
from ml.train import EpochHook, TrainResult, say, train_convfm

ABLATIONS_DIR = "ablations"
REPORT_FILE = "report.json"
CURVE_FILE = "learning_curve.png"


@dataclass
class Prepared:
    """Records encoded once: all users, all jobs, and the active catalog's rows.

    Users are encoded twice: `user_features` with their training history (for training
    and validation) and `test_user_features` with the history they had when the test
    item came (training + validation positives).
    """

    users: list[UserRecord]
    jobs: list[JobRecord]
    feedback: list[Feedback]
    split: Split
    space: FeatureSpace
    user_features: EntityFeatures
    train_users: EntityFeatures | UserSnapshots  # the rows the sampler's examples name
    test_user_features: EntityFeatures
    job_features: EntityFeatures
    user_index: dict[str, int]
    job_index: dict[str, int]
    catalog_rows: np.ndarray  # rows of job_features that are active jobs
    catalog: EntityFeatures
    catalog_index: dict[str, int]  # job id -> position in `catalog`

    def ranking_task(
        self,
        targets: dict[str, list[str]],
        seen: dict[str, set[str]],
        *,
        max_users: int | None = None,
        seed: int = 0,
    ) -> RankingTask:
        """Users with a target in the active catalog; excluded = their seen jobs."""
        user_ids = sorted(
            u
            for u, jobs in targets.items()
            if u in self.user_index and any(j in self.catalog_index for j in jobs)
        )
        if max_users is not None and len(user_ids) > max_users:
            picked = np.random.default_rng(seed).choice(len(user_ids), max_users, replace=False)
            user_ids = [user_ids[i] for i in sorted(picked)]
        groups = np.array(
            [hash_group(j.company) for j in (self.jobs[r] for r in self.catalog_rows)],
            dtype=np.int64,
        )
        return RankingTask(
            users=[self.user_index[u] for u in user_ids],
            relevant=[
                [self.catalog_index[j] for j in targets[u] if j in self.catalog_index]
                for u in user_ids
            ],
            excluded=[
                [
                    self.catalog_index[j]
                    for j in seen.get(u, ())
                    if j in self.catalog_index and j not in targets[u]
                ]
                for u in user_ids
            ],
            groups=groups,
        )

    @property
    def test_history(self) -> list[Feedback]:
        """Feedback known when the test items came: training + validation."""
        return [*self.split.train, *self.split.validation_feedback]

    def model_ranker(self, model: ConvFM, *, test: bool = False) -> ScoreFn:
        """Scores [U, N] of user rows against the catalog (precomputed job parts)."""
        scorer = CatalogScorer(model, self.space, self.catalog)
        users = self.test_user_features if test else self.user_features
        return lambda rows: scorer.score_many(users, rows)

    def baselines(self) -> dict[str, ScoreFn]:
        """Every baseline of `ml.baselines`, knowing the test-time history."""
        train, users = self.test_history, self.test_user_features
        popularity = PopularityRanker(train, self.catalog.ids)
        return {
            "popularity": popularity,
            "location-popularity": LocationPopularityRanker(
                users,
                [u.user_id for u in self.users],
                self.job_features,
                self.job_index,
                self.catalog,
                train,
                popularity,
            ),
            "content": ContentRanker(self.space, users, self.catalog, popularity),
            "tfidf": TfidfRanker(self.users, self.jobs, self.catalog_rows, train),
            "item-knn": ItemKnnRanker(self.user_index, self.job_index, self.catalog_rows, train),
        }

    def sampler(self, config: Config) -> ExampleSampler:
        """Training rows; local negatives come from the positive job's region."""
        return ExampleSampler(
            self.split.train,
            self.user_index,
            self.job_index,
            self.catalog_rows,
            config.train.negative_ratio,
            config.train.seed,
            job_groups=self.job_features.categorical[
                :, 1 if config.train.local_negative_scope == "city" else 2
            ].numpy(),
            local_share=config.train.local_negative_share,
            row_users=range(len(self.split.train))
            if isinstance(self.train_users, UserSnapshots)
            else None,
        )


def hash_group(company: str | None) -> int:
    """A stable non-negative id for a company name; -1 when there is none."""
    if not company:
        return -1
    return int.from_bytes(name_key(company).encode()[:8].ljust(8, b"\0"), "little") >> 1


def prepare(
    users: Sequence[UserRecord],
    jobs: Sequence[JobRecord],
    interactions: Sequence[Interaction],
    *,
    config: Config,
    space: FeatureSpace | None = None,
    holdout: bool = True,
) -> Prepared:
    """Aggregate feedback, split it, fit (or reuse) the feature space, encode everything."""
    feedback = aggregate_feedback(interactions)
    split = leave_last_out(feedback, holdout=holdout)
    if space is None:
        train_pairs = [(f.user_id, f.job_id) for f in split.train if f.label > 0]
        space = FeatureSpace.fit(users, jobs, train_pairs, config.features)
    depth = space.config.max_history
    user_features = space.encode_users(attach_history(users, split.train, jobs, depth))
    test_users = attach_history(users, [*split.train, *split.validation_feedback], jobs, depth)
    job_features = space.encode_jobs(jobs)
    catalog_rows = np.array([i for i, j in enumerate(jobs) if j.active], dtype=np.int64)
    catalog = job_features.take(catalog_rows)
    user_index = {u.user_id: i for i, u in enumerate(users)}
    job_index = {j.job_id: i for i, j in enumerate(jobs)}
    train_users: EntityFeatures | UserSnapshots = user_features
    if config.train.history_as_of:
        train_users = UserSnapshots(
            user_features,
            torch.tensor([user_index.get(f.user_id, 0) for f in split.train], dtype=torch.long),
            job_features,
            torch.from_numpy(histories_as_of(split.train, job_index, depth)),
        )
    return Prepared(
        users=list(users),
        jobs=list(jobs),
        feedback=feedback,
        split=split,
        space=space,
        user_features=user_features,
        train_users=train_users,
        test_user_features=space.encode_users(test_users),
        job_features=job_features,
        user_index=user_index,
        job_index=job_index,
        catalog_rows=catalog_rows,
        catalog=catalog,
        catalog_index={job_id: i for i, job_id in enumerate(catalog.ids)},
    )


def train_one(
    data: Prepared,
    config: Config,
    model_config: ModelConfig,
    *,
    progress: bool,
    label: str,
    initial: ConvFM | None = None,
    on_epoch: EpochHook | None = None,
) -> TrainResult:
    k = config.train.eval_k
    targets = {u: [j] for u, j in data.split.validation.items()}
    val_task = data.ranking_task(
        targets, data.split.seen, max_users=config.train.max_val_users, seed=config.train.seed
    )
    validate = None
    ranks = current()
    mine = val_task.subset([i for i in range(len(val_task.users)) if ranks.mine(i)])
    if val_task.users:

        def validate(model: ConvFM) -> dict[str, float]:
            metrics = evaluate_ranking(data.model_ranker(model), mine, k=k)
            if ranks.world == 1:
                return metrics
            # every rank ranks its share of the users: the mean over all of them
            # (coverage@k, a property of the whole ranking, becomes the users' mean)
            users = metrics.pop("users")
            summed = ranks.total({"users": users, **{n: v * users for n, v in metrics.items()}})
            count = max(summed.pop("users"), 1.0)
            return {**{n: v / count for n, v in summed.items()}, "users": count}

    return train_convfm(
        data.space,
        data.train_users,
        data.job_features,
        data.sampler(config),
        model_config,
        config.train,
        validate,
        progress=progress,
        label=label,
        initial=initial,
        on_epoch=on_epoch,
    )


def test_targets(split: Split) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    targets = {u: [j] for u, j in split.test.items()}
    seen = {u: split.seen_before_test(u) for u in split.test}
    return targets, seen


def run_training(
    users: Sequence[UserRecord],
    jobs: Sequence[JobRecord],
    interactions: Sequence[Interaction],
    config: Config,
    out_dir: str | Path,
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ConvFM (and the configured ablations), evaluate on the test split, save.

    Writes the checkpoint into `out_dir`, ablation checkpoints into
    `out_dir`/ablations/<name>, `report.json` and `learning_curve.png`; returns the report.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    torch.manual_seed(config.train.seed)
    ranks = current()  # alone, or one of a torch.distributed group
    note = say if progress and ranks.leader else lambda text: None
    note(
        f"preparing features: {len(users)} users, {len(jobs)} jobs, "
        f"{len(interactions)} interactions"
    )
    data = prepare(users, jobs, interactions, config=config)
    fingerprint = data_fingerprint(users, jobs, interactions)
    k = config.train.eval_k
    test_task = data.ranking_task(*test_targets(data.split))

    note(
        f"training convfm: at most {config.train.epochs} epochs, "
        f"{len(data.split.train)} training pairs"
    )
    main = train_one(data, config, config.model, progress=progress, label="convfm")
    trained: dict[str, TrainResult] = {}
    for ablation in config.train.ablations:
        note(f"training the ablation {ablation}")
        trained[ablation] = train_one(
            data, config, config.model.ablated(ablation), progress=progress, label=ablation
        )
    if not ranks.leader:  # in a group, rank 0 evaluates and writes
        return {}
    note(f"evaluating convfm, its ablations and the baselines on {len(test_task.users)} users")
    results = {"convfm": evaluate_ranking(data.model_ranker(main.model, test=True), test_task, k=k)}
    baselines = {
        name: evaluate_ranking(fn, test_task, k=k) for name, fn in data.baselines().items()
    }
    ablations: dict[str, dict[str, float]] = {}
    ablation_histories = {}
    for name, result in trained.items():
        ablations[name] = evaluate_ranking(
            data.model_ranker(result.model, test=True), test_task, k=k
        )
        ablation_histories[name] = result.summary()
        save_checkpoint(
            out_dir / ABLATIONS_DIR / name,
            result.model,
            data.space,
            metrics=ablations[name],
            data_fingerprint=fingerprint,
            extra={"ablation": name, "train_config": config.train.model_dump(mode="json")},
        )

    note("explaining the model on the validation split")
    from ml.importance import explain_model  # it reads `Prepared`: imported when used

    explain = explain_model(data, main.model, config)
    positives = sum(f.label > 0 for f in data.split.train)
    report: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(),
        "config": config.model_dump(mode="json"),
        "data": {
            "users": len(users),
            "jobs": len(jobs),
            "active_jobs": len(data.catalog),
            "interactions": len(interactions),
            "feedback_pairs": len(data.feedback),
            "train_positives": positives,
            "train_negatives": len(data.split.train) - positives,
            "validation_users": len(data.split.validation),
            "test_users": len(test_task.users),
            "examples_per_epoch": main.examples_per_epoch,
            "vocabulary_sizes": data.space.vocab_sizes(),
            "learned_terms": len(data.space.extractor.learned_terms),
            "fingerprint": fingerprint,
            "processes": ranks.world,  # training processes (torch.distributed)
        },
        "k": k,
        "metrics": results["convfm"],
        "baselines": baselines,
        "ablations": ablations,
        "training": {**main.summary(), "ablations": ablation_histories},
        "explain": explain,
        "seconds": {
            "train": round(main.seconds, 2),
            "total": round(time.perf_counter() - started, 2),
        },
        "machine": machine_info(),
    }
    metadata = save_checkpoint(
        out_dir,
        main.model,
        data.space,
        metrics=results["convfm"],
        data_fingerprint=fingerprint,
        extra={
            "train_config": config.train.model_dump(mode="json"),
            "trained_at": report["created_at"],
            "data_cutoff": data_cutoff(interactions),
            "explain": explain,
            "baselines": baselines,
            "ablations": ablations,
        },
    )
    report["model_version"] = metadata["model_version"]
    write_json(out_dir / REPORT_FILE, report)
    plot_learning_curve(report["training"], k, out_dir / CURVE_FILE)
    return report
