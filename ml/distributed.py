"""Training on several processes with torch.distributed.

`jobrec train --nproc N` starts N processes on this machine (`train_in_processes`);
under `torchrun --nnodes M --nproc-per-node N -m app.cli train ...` each process is
started by torchrun and joins the group its environment names (`process_group`). Either
way every process prepares the same data (the same seed: the same epochs of examples),
trains a replica wrapped in DistributedDataParallel on its share of each epoch's batches
(batch i goes to rank i mod world), averages gradients with the others, and all-reduces
the validation metrics, so every rank takes the same early-stopping decision; rank 0
evaluates, explains and writes the checkpoint. Backend: nccl where CUDA is, gloo on CPU.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

TIMEOUT = timedelta(minutes=60)  # a rank may wait this long for the others (rank 0 evaluates)


@dataclass(frozen=True)
class Ranks:
    """This process's place in the group: `rank` of `world` (0 of 1 alone)."""

    rank: int = 0
    world: int = 1

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def mine(self, index: int) -> bool:
        """Whether item `index` of a sequence shared out by rank is this process's."""
        return index % self.world == self.rank

    def total(self, values: Mapping[str, float]) -> dict[str, float]:
        """The sum of each value over every rank (the values themselves when alone)."""
        if self.world == 1:
            return dict(values)
        keys = sorted(values)
        sums = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
        dist.all_reduce(sums, op=dist.ReduceOp.SUM)
        return dict(zip(keys, sums.tolist(), strict=True))


def current() -> Ranks:
    """The group this process is in, or a group of one."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return Ranks()


def launched_by_torchrun() -> bool:
    """Whether torchrun (or another launcher) set this process's group up in its
    environment: WORLD_SIZE above 1, RANK, MASTER_ADDR and MASTER_PORT."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


@contextmanager
def process_group() -> Iterator[Ranks]:
    """Join the group the environment names (env://), leave it at the end."""
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend, timeout=TIMEOUT)
    try:
        yield current()
    finally:
        dist.destroy_process_group()


def train_in_processes(nproc: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run `fn(*args, **kwargs)` in `nproc` processes on this machine, a group of them
    (rank 0 is the first); each gets an equal share of the CPU's threads. The arguments
    reach the processes pickled (records, a config: never a file a user loads). Raises if
    one fails."""
    port = _free_port()
    mp.spawn(_worker, args=(nproc, port, fn, args, kwargs), nprocs=nproc, join=True)


def _worker(
    rank: int,
    nproc: int,
    port: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(nproc),
    )
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))
    with process_group():
        fn(*args, **kwargs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
