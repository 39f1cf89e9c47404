"""Training loop: Adam, early stopping on validation NDCG@k, and one of three losses
(`TrainConfig.loss`):

* pointwise: weighted BCE-with-logits over the feedback and the sampled negatives;
* bpr: -log sigmoid(s+ - s-) of each positive against each of its sampled negatives;
* softmax: sampled softmax, -log softmax over [s+, s-_1, ..., s-_r] at the positive.

The two ranking losses read the positives only (weighted by their feedback weight),
each in a group with its `negative_ratio` negatives (`ExampleSampler.groups`).
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ml.config import ModelConfig, TrainConfig
from ml.data import ExampleSampler
from ml.distributed import Ranks, current
from ml.features import EntityFeatures, FeatureSpace, ModelInput, UserSnapshots, fields_of
from ml.model import ConvFM
from ml.vocab import PAD, UNK

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

ValidateFn = Callable[[ConvFM], dict[str, float]]
EpochHook = Callable[[int, dict[str, float]], None]  # (epoch, validation metrics)


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

    def summary(self) -> dict[str, Any]:
        """The run as the training report keeps it (plain JSON values)."""
        return {
            "best_epoch": self.best_epoch,
            "seconds": round(self.seconds, 2),
            "epochs": [
                {
                    "epoch": e.epoch,
                    "loss": e.loss,
                    "seconds": round(e.seconds, 2),
                    **{f"val_{k}": v for k, v in e.validation.items()},
                }
                for e in self.history
            ],
        }


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


def train_convfm(
    space: FeatureSpace,
    users: EntityFeatures | UserSnapshots,
    jobs: EntityFeatures,
    sampler: ExampleSampler,
    model_config: ModelConfig,
    train_config: TrainConfig,
    validate: ValidateFn | None = None,
    *,
    progress: bool = True,
    label: str = "convfm",
    initial: ConvFM | None = None,
    on_epoch: EpochHook | None = None,
) -> TrainResult:
    """Train a ConvFM; restore the weights of the best validation epoch.

    `users`: the rows the sampler's examples name (users, or users as of each feedback).

    `validate(model)` returns metrics with key f"ndcg@{eval_k}"; without it the model
    trains for `epochs` epochs and keeps the last weights. `initial`: start from these
    weights (a warm start; trained in place) instead of a fresh model. `on_epoch(epoch,
    metrics)` runs after each validation (a search reports to its pruner there).
    """
    seed_everything(train_config.seed)
    ranks = current()  # one process, or one of a torch.distributed group (ml.distributed)
    model = initial if initial is not None else ConvFM(space.vocab_sizes(), model_config)
    net = replicated(model, ranks)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=train_config.learning_rate, weight_decay=train_config.weight_decay
    )
    dropout_gen = torch.Generator().manual_seed(train_config.seed + ranks.rank)
    key = f"ndcg@{train_config.eval_k}"
    result = TrainResult(model=model)
    best_score, best_state, stale = -1.0, None, 0
    started = time.perf_counter()
    bar = TrainingProgress(
        enabled=progress and ranks.leader, label=label, epochs=train_config.epochs
    )
    with bar:
        for epoch in range(1, train_config.epochs + 1):
            t0 = time.perf_counter()
            net.train()
            total, n_batches = 0.0, 0
            batches = EpochBatches(sampler, epoch, train_config)
            result.examples_per_epoch = batches.rows
            bar.start_epoch(epoch, sum(ranks.mine(i) for i in range(len(batches))))
            with joined(net):  # ranks with a batch fewer wait for the others
                for i, (users_t, jobs_t, batch_loss) in enumerate(batches):
                    if not ranks.mine(i):  # batch i is rank i mod world's
                        continue
                    rows = torch.arange(len(users_t))
                    x = space.pairs(users.take(users_t), rows, jobs, jobs_t)
                    x = _drop_ids(x, train_config.id_dropout, dropout_gen)
                    x = _drop_history(x, train_config.history_dropout, dropout_gen, batches.width)
                    loss = batch_loss(net(x))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()  # DistributedDataParallel averages the gradients here
                    optimizer.step()
                    total += loss.item()
                    n_batches += 1
                    bar.advance()
            summed = ranks.total({"loss": total, "batches": n_batches})
            total, n_batches = summed["loss"], int(summed["batches"])
            metrics = {}
            if validate is not None:
                model.eval()
                metrics = validate(model)
                if on_epoch is not None:
                    on_epoch(epoch, metrics)
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


def replicated(model: ConvFM, ranks: Ranks) -> torch.nn.Module:
    """The module to train: the model, wrapped in DistributedDataParallel in a group."""
    if ranks.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model)


def joined(net: torch.nn.Module) -> AbstractContextManager[object]:
    """DistributedDataParallel's join (uneven batch counts across ranks), or nothing."""
    join = getattr(net, "join", None)
    return join() if join is not None else nullcontext()


LossFn = Callable[[Tensor], Tensor]


class EpochBatches:
    """One epoch's batches: (user rows [B], job rows [B], loss of the batch's logits)."""

    def __init__(self, sampler: ExampleSampler, epoch: int, config: TrainConfig) -> None:
        self.config = config
        if config.loss == "pointwise":
            examples = sampler.epoch(epoch)
            self.users = torch.from_numpy(examples.users)
            self.jobs = torch.from_numpy(examples.jobs)
            self.labels = torch.from_numpy(examples.labels)
            self.weights = torch.from_numpy(examples.weights)
            self.width, self.step = 1, config.batch_size
        else:
            groups = sampler.groups(epoch)
            self.width = groups.jobs.shape[1]  # 1 + r
            self.users = torch.from_numpy(groups.users).repeat_interleave(self.width)
            self.jobs = torch.from_numpy(groups.jobs).reshape(-1)
            self.weights = torch.from_numpy(groups.weights)
            # whole groups per batch, about batch_size rows
            self.step = max(1, config.batch_size // self.width) * self.width
        self.rows = len(self.users)

    def __len__(self) -> int:
        return (self.rows + self.step - 1) // self.step

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, LossFn]]:
        for lo in range(0, self.rows, self.step):
            hi = lo + self.step
            yield self.users[lo:hi], self.jobs[lo:hi], self._loss(lo, hi)

    def _loss(self, lo: int, hi: int) -> LossFn:
        if self.config.loss == "pointwise":
            labels, w = self.labels[lo:hi], self.weights[lo:hi]

            def pointwise(logits: Tensor) -> Tensor:
                loss = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
                return (loss * w).sum() / w.sum()

            return pointwise
        w = self.weights[lo // self.width : hi // self.width]
        ranking = self.config.loss

        def grouped(logits: Tensor) -> Tensor:
            scores = logits.view(-1, self.width)  # [G, 1 + r], the positive first
            if ranking == "bpr":
                loss = -F.logsigmoid(scores[:, :1] - scores[:, 1:]).mean(1)
            else:
                loss = -torch.log_softmax(scores, dim=1)[:, 0]
            return (loss * w).sum() / w.sum()

        return grouped


def _drop_ids(x: ModelInput, rate: float, generator: torch.Generator) -> ModelInput:
    """Replace a `rate` share of user ids and (independently) job ids with <unk>."""
    if rate <= 0:
        return x
    ids = x.categorical[:, :2]
    drop = (torch.rand(ids.shape, generator=generator) < rate) & (ids != PAD)
    categorical = x.categorical.clone()
    categorical[:, :2] = torch.where(drop, torch.full_like(ids, UNK), ids)
    return x._replace(categorical=categorical)


HISTORY_COLUMNS = [i for i, f in enumerate(fields_of("dense")) if f.name.startswith("history_")]


def _drop_history(
    x: ModelInput, rate: float, generator: torch.Generator, width: int = 1
) -> ModelInput:
    """Zero the history fields of a `rate` share of rows (of groups of `width` rows, a
    ranking loss's positive and its negatives): the pairs of a user with no history yet
    (a new user, known by a profile only), so the model also learns to score those
    from the profile."""
    if rate <= 0:
        return x
    keep = torch.rand((x.rows // width, 1), generator=generator) >= rate
    keep = keep.repeat_interleave(width, dim=0)
    dense = x.dense.clone()
    dense[:, HISTORY_COLUMNS] *= keep
    return x._replace(dense=dense)


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
