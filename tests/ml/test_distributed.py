"""Training with torch.distributed: two processes (gloo, CPU) against one."""

import json

import pytest

from ml.checkpoint import load_checkpoint
from ml.config import Config
from ml.distributed import Ranks, current, train_in_processes
from ml.experiment import REPORT_FILE, run_training
from tests.support.builders import demo_records
from tests.support.paths import REPO


def test_alone_a_process_is_rank_0_of_1_and_owns_every_item():
    ranks = current()
    assert (ranks.rank, ranks.world, ranks.leader) == (0, 1, True)
    assert all(ranks.mine(i) for i in range(5))
    assert ranks.total({"a": 1.5}) == {"a": 1.5}
    second = Ranks(rank=1, world=3)
    assert [i for i in range(7) if second.mine(i)] == [1, 4]


@pytest.mark.slow
def test_two_processes_train_as_well_as_one(tmp_path):
    users, jobs, interactions = demo_records(tmp_path, users=300, jobs=200, seed=11)
    config = Config.load(REPO / "configs" / "tiny.toml", **{"train.epochs": 6, "train.patience": 6})
    one = run_training(users, jobs, interactions, config, tmp_path / "one", progress=False)
    train_in_processes(
        2, run_training, users, jobs, interactions, config, tmp_path / "two", progress=False
    )
    two = json.loads((tmp_path / "two" / REPORT_FILE).read_text())
    assert two["data"]["processes"] == 2 and one["data"]["processes"] == 1
    # each process trained on half of every epoch's batches, the gradients averaged: the
    # same examples per epoch in half the steps, and a model within 10% of one process's
    assert two["data"]["examples_per_epoch"] == one["data"]["examples_per_epoch"]
    assert len(two["training"]["epochs"]) == 6
    assert two["metrics"]["ndcg@10"] >= 0.9 * one["metrics"]["ndcg@10"] > 0
    assert load_checkpoint(tmp_path / "two").metadata["metrics"] == two["metrics"]
