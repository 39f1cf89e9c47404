"""Training loop: weighted BCE-with-logits, Adam, early stopping on validation NDCG@k."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ml.config import ModelConfig, TrainConfig
from ml.data import ExampleSampler
from ml.features import EntityFeatures, FeatureSpace
from ml.model import ConvFM
from ml.vocab import PAD, UNK

ValidateFn = Callable[[ConvFM], dict[str, float]]


@dataclass
class EpochLog:
    epoch: int
    loss: float
    validation: dict[str, float]
    seconds: float


@dataclass
class TrainResult:
    model: ConvFM
    history: list[EpochLog] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    examples_per_epoch: int = 0


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


def train_convfm(
    space: FeatureSpace,
    users: EntityFeatures,
    jobs: EntityFeatures,
    sampler: ExampleSampler,
    model_config: ModelConfig,
    train_config: TrainConfig,
    validate: ValidateFn | None = None,
    *,
    progress: bool = True,
    label: str = "convfm",
) -> TrainResult:
    """Train a ConvFM; restore the weights of the best validation epoch.

    `validate(model)` returns metrics with key f"ndcg@{eval_k}"; without it the model
    trains for `epochs` epochs and keeps the last weights.
    """
    seed_everything(train_config.seed)
    model = ConvFM(space.vocab_sizes(), model_config)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_config.learning_rate,
                                 weight_decay=train_config.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    dropout_gen = torch.Generator().manual_seed(train_config.seed)
    key = f"ndcg@{train_config.eval_k}"
    result = TrainResult(model=model)
    best_score, best_state, stale = -1.0, None, 0
    started = time.perf_counter()
    bar = _ProgressBar(enabled=progress, label=label, epochs=train_config.epochs)
    with bar:
        for epoch in range(1, train_config.epochs + 1):
            t0 = time.perf_counter()
            examples = sampler.epoch(epoch)
            result.examples_per_epoch = len(examples)
            users_t = torch.from_numpy(examples.users)
            jobs_t = torch.from_numpy(examples.jobs)
            labels = torch.from_numpy(examples.labels)
            weights = torch.from_numpy(examples.weights)
            model.train()
            total, n_batches = 0.0, 0
            bs = train_config.batch_size
            bar.start_epoch(epoch, (len(examples) + bs - 1) // bs)
            for lo in range(0, len(examples), bs):
                x = space.pairs(users, users_t[lo : lo + bs], jobs, jobs_t[lo : lo + bs])
                x = _drop_ids(x, train_config.id_dropout, dropout_gen)
                logits = model(x)
                w = weights[lo : lo + bs]
                loss = (loss_fn(logits, labels[lo : lo + bs]) * w).sum() / w.sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item()
                n_batches += 1
                bar.advance()
            metrics = {}
            if validate is not None:
                model.eval()
                metrics = validate(model)
            log = EpochLog(epoch, total / max(n_batches, 1), metrics, time.perf_counter() - t0)
            result.history.append(log)
            bar.end_epoch(log, key)
            if validate is None:
                result.best_epoch = epoch
                continue
            if metrics[key] > best_score:
                best_score, stale = metrics[key], 0
                best_state = copy.deepcopy(model.state_dict())
                result.best_epoch = epoch
            else:
                stale += 1
                if stale >= train_config.patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - started
    return result


def _drop_ids(x, rate: float, generator: torch.Generator):
    """Replace a `rate` share of user ids and (independently) job ids with <unk>."""
    if rate <= 0:
        return x
    ids = x.categorical[:, :2]
    drop = (torch.rand(ids.shape, generator=generator) < rate) & (ids != PAD)
    categorical = x.categorical.clone()
    categorical[:, :2] = torch.where(drop, torch.full_like(ids, UNK), ids)
    return x._replace(categorical=categorical)


class _ProgressBar:
    """A rich progress bar over the batches of each epoch (silent when disabled)."""

    def __init__(self, *, enabled: bool, label: str, epochs: int) -> None:
        self.enabled, self.label, self.epochs = enabled, label, epochs
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def start_epoch(self, epoch: int, batches: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(
                f"{self.label} epoch {epoch}/{self.epochs}", total=batches)

    def advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def end_epoch(self, log: EpochLog, key: str) -> None:
        if self._progress is not None:
            val = log.validation.get(key)
            extra = f" val {key} {val:.4f}" if val is not None else ""
            self._progress.update(
                self._task,
                description=f"{self.label} epoch {log.epoch}/{self.epochs} "
                            f"loss {log.loss:.4f}{extra}",
            )
