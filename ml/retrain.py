"""Retraining from the production model: warm start, grown vocabularies, new events plus
a replay of older ones, and a gate against production on the newest held-out items.

1. The data: every event of the users active since the production model's data cut-off
   (`data_cutoff` in its metadata), and all events of a `replay_share` sample of the
   other users (so that what the model knew is not forgotten).
2. The split is the usual leave-last-out one: each user's newest positive is held out.
   The test users are those active since the cut-off: the newest slice.
3. Vocabularies grow: the production model's tokens keep their rows, the tokens of the
   new data that pass the same thresholds are appended; the model starts from the
   production weights (new rows from the fresh initialisation) and trains with early
   stopping on the validation split.
4. Both models rank the full catalog for the test users (`ml.metrics`); the candidate
   passes the gate when its `metric` is at least production's minus `tolerance`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from ml.checkpoint import Checkpoint, save_checkpoint
from ml.config import Config
from ml.data import aggregate_feedback, data_cutoff, data_fingerprint, leave_last_out
from ml.experiment import prepare, train_one
from ml.features import FeatureSpace
from ml.importance import explain_model
from ml.metrics import evaluate_ranking
from ml.model import ConvFM
from ml.records import Interaction, JobRecord, UserRecord
from ml.train import say
from ml.vocab import Vocabulary


class NothingNewError(ValueError):
    """No user was active since the production model's data cut-off."""


@dataclass(frozen=True)
class Gate:
    metric: str  # e.g. "ndcg@10"
    candidate: float
    production: float
    tolerance: float
    test_users: int

    @property
    def passed(self) -> bool:
        return self.candidate >= self.production - self.tolerance

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "candidate": self.candidate,
            "production": self.production,
            "tolerance": self.tolerance,
            "test_users": self.test_users,
            "passed": self.passed,
        }


def grow_space(old: FeatureSpace, fitted: FeatureSpace) -> FeatureSpace:
    """`old` with the tokens of `fitted` it lacks appended to each vocabulary (old
    tokens keep their rows) and its learned title terms joined by `fitted`'s."""
    vocabularies = {
        name: Vocabulary(
            [*vocab.to_json(), *(t for t in fitted.vocabularies[name].to_json() if t not in vocab)]
        )
        for name, vocab in old.vocabularies.items()
    }
    old_terms = list(old.extractor.learned_terms)
    terms = [*old_terms, *(t for t in fitted.extractor.learned_terms if t not in set(old_terms))]
    return FeatureSpace(vocabularies, terms, old.config)


def warm_start(model: ConvFM, space: FeatureSpace) -> ConvFM:
    """A model for the grown `space` holding `model`'s weights: every tensor as it was,
    the tables' old rows copied and their new rows as freshly initialised."""
    grown = ConvFM(space.vocab_sizes(), model.config)
    state = grown.state_dict()
    for name, old in model.state_dict().items():
        if old.shape == state[name].shape:
            state[name] = old.clone()
        else:  # an embedding table that grew: [V_old, ...] into [V_new, ...]
            state[name][: old.shape[0]] = old
    grown.load_state_dict(state)
    return grown


def retraining_data(
    interactions: list[Interaction], cutoff: datetime | None, replay_share: float, seed: int
) -> tuple[list[Interaction], set[str]]:
    """(the events to train and test on, the users active since `cutoff`)."""
    fresh_users = {i.user_id for i in interactions if cutoff is None or i.timestamp > cutoff}
    others = sorted({i.user_id for i in interactions} - fresh_users)
    replayed = set(random.Random(seed).sample(others, round(replay_share * len(others))))
    kept = [i for i in interactions if i.user_id in fresh_users or i.user_id in replayed]
    return kept, fresh_users


def retrain(
    production: Checkpoint,
    users: list[UserRecord],
    jobs: list[JobRecord],
    interactions: list[Interaction],
    config: Config,
    out_dir: str | Path,
    *,
    tolerance: float,
    replay_share: float,
    progress: bool = True,
) -> tuple[dict[str, Any], Gate]:
    """Train a candidate from `production` on the new events; save it to `out_dir` (its
    metadata holds the gate) and return (its metadata, the gate)."""
    note = say if progress else lambda text: None
    meta = production.metadata
    stamp = meta.get("data_cutoff") or meta.get("trained_at")
    cutoff = datetime.fromisoformat(stamp) if stamp else None
    data_events, fresh = retraining_data(interactions, cutoff, replay_share, config.train.seed)
    if not fresh:
        raise NothingNewError(f"no events since {production.version}'s data cut-off ({stamp})")
    note(
        f"retraining {production.version}: {len(fresh)} users active since {stamp}, "
        f"{len(data_events)} events with the replay"
    )
    split = leave_last_out(aggregate_feedback(data_events))
    train_pairs = [(f.user_id, f.job_id) for f in split.train if f.label > 0]
    fitted = FeatureSpace.fit(users, jobs, train_pairs, production.space.config)
    space = grow_space(production.space, fitted)
    data = prepare(users, jobs, data_events, config=config, space=space)
    torch.manual_seed(config.train.seed)
    result = train_one(
        data,
        config,
        production.model.config,
        progress=progress,
        label="retrain",
        initial=warm_start(production.model, space),
    )
    targets = {u: [j] for u, j in data.split.test.items() if u in fresh}
    seen = {u: data.split.seen_before_test(u) for u in targets}
    k = config.train.eval_k
    metric = f"ndcg@{k}"
    candidate = evaluate_ranking(
        data.model_ranker(result.model, test=True), data.ranking_task(targets, seen), k=k
    )
    old = prepare(users, jobs, data_events, config=config, space=production.space)
    task = old.ranking_task(targets, seen)
    before = evaluate_ranking(old.model_ranker(production.model, test=True), task, k=k)
    gate = Gate(metric, candidate[metric], before[metric], tolerance, len(task.users))
    note(
        f"gate on {gate.test_users} users: {metric} {gate.candidate:.4f} against production "
        f"{gate.production:.4f} (tolerance {tolerance}): {'passed' if gate.passed else 'failed'}"
    )
    metadata = save_checkpoint(
        out_dir,
        result.model,
        space,
        metrics=candidate,
        data_fingerprint=data_fingerprint(users, jobs, interactions),
        extra={
            "train_config": config.train.model_dump(mode="json"),
            "trained_at": datetime.now(UTC).isoformat(),
            "data_cutoff": data_cutoff(interactions),
            "warm_started_from": production.version,
            "gate": gate.to_json(),
            "production_metrics": before,
            "explain": explain_model(data, result.model, config),
        },
    )
    return metadata, gate
