"""Training loop: weighted BCE-with-logits, Adam, early stopping on validation NDCG@k."""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ml.config import ModelConfig, TrainConfig
from ml.data import ExampleSampler
from ml.features import EntityFeatures, FeatureSpace, ModelInput
from ml.model import ConvFM
from ml.vocab import PAD, UNK

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

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
    initial: ConvFM | None = None,
) -> TrainResult:
    """Train a ConvFM; restore the weights of the best validation epoch.

    `validate(model)` returns metrics with key f"ndcg@{eval_k}"; without it the model
    trains for `epochs` epochs and keeps the last weights. `initial`: start from these
    weights (a warm start; trained in place) instead of a fresh model.
    """
    seed_everything(train_config.seed)
    model = initial if initial is not None else ConvFM(space.vocab_sizes(), model_config)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=train_config.learning_rate, weight_decay=train_config.weight_decay
    )
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    dropout_gen = torch.Generator().manual_seed(train_config.seed)
    key = f"ndcg@{train_config.eval_k}"
    result = TrainResult(model=model)
    best_score, best_state, stale = -1.0, None, 0
    started = time.perf_counter()
    bar = TrainingProgress(enabled=progress, label=label, epochs=train_config.epochs)
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
                    bar.stopped_early(epoch, result.best_epoch)
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - started
    return result


def _drop_ids(x: ModelInput, rate: float, generator: torch.Generator) -> ModelInput:
    """Replace a `rate` share of user ids and (independently) job ids with <unk>."""
    if rate <= 0:
        return x
    ids = x.categorical[:, :2]
    drop = (torch.rand(ids.shape, generator=generator) < rate) & (ids != PAD)
    categorical = x.categorical.clone()
    categorical[:, :2] = torch.where(drop, torch.full_like(ids, UNK), ids)
    return x._replace(categorical=categorical)


class TrainingProgress:
    """Progress of a training run: a rich bar over each epoch's batches on a terminal,
    plain lines on stderr otherwise (a log file or a container's output shows the run
    going: each epoch's start and end, and a line every `every` seconds within one);
    nothing when disabled."""

    def __init__(
        self,
        *,
        enabled: bool,
        label: str,
        epochs: int,
        terminal: bool | None = None,
        every: float = 15.0,
    ) -> None:
        self.enabled, self.label, self.epochs, self.every = enabled, label, epochs, every
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._epoch, self._batches, self._done = 0, 0, 0
        self._started = self._last_line = 0.0

    def __enter__(self) -> TrainingProgress:
        if self.enabled and self.terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            self._progress.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, traceback)

    def _line(self, text: str) -> None:
        if self.enabled and self._progress is None:
            say(f"{self.label}: {text}")

    def start_epoch(self, epoch: int, batches: int) -> None:
        self._epoch, self._batches, self._done = epoch, batches, 0
        self._started = self._last_line = time.perf_counter()
        if self._progress is not None:
            self._task = self._progress.add_task(
                f"{self.label} epoch {epoch}/{self.epochs}", total=batches
            )
        self._line(f"epoch {epoch}/{self.epochs} started ({batches} batches)")

    def advance(self) -> None:
        self._done += 1
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task)
        elif self.enabled and time.perf_counter() - self._last_line >= self.every:
            self._last_line = time.perf_counter()
            self._line(
                f"epoch {self._epoch}/{self.epochs} {self._done}/{self._batches} "
                f"batches, {self._last_line - self._started:.0f} s"
            )

    def end_epoch(self, log: EpochLog, key: str) -> None:
        val = log.validation.get(key)
        summary = f"loss {log.loss:.4f}" + (f" val {key} {val:.4f}" if val is not None else "")
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, description=f"{self.label} epoch {log.epoch}/{self.epochs} {summary}"
            )
        self._line(f"epoch {log.epoch}/{self.epochs} done in {log.seconds:.1f} s: {summary}")

    def stopped_early(self, epoch: int, best_epoch: int) -> None:
        self._line(f"stopped after epoch {epoch}: no better since epoch {best_epoch}")


def say(text: str) -> None:
    """One progress line on stderr, flushed at once (a pipe or a file buffers)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)
