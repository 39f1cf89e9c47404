"""The training losses and the examples they read: ranking groups, histories as of each
feedback, history dropout; each checked against a brute-force reference."""

import math

import numpy as np
import pytest
import torch

from ml.config import Config, TrainConfig
from ml.data import attach_history
from ml.experiment import prepare
from ml.features import fields_of
from ml.train import EpochBatches, _drop_history
from tests.support.builders import random_records


@pytest.fixture(scope="module")
def prepared():
    users, jobs, interactions = random_records(n_users=10, n_jobs=25, seed=3)
    config = Config.model_validate(
        {"features": {"min_skill_count": 1}, "train": {"history_as_of": True}}
    )
    return prepare(users, jobs, interactions, config=config), config


def test_snapshots_are_the_users_encoded_with_their_history_as_of_each_feedback(prepared):
    data, _ = prepared
    assert len(data.train_users) == len(data.split.train)
    by_id = {u.user_id: u for u in data.users}
    for row, fb in enumerate(data.split.train):
        earlier = [f for f in data.split.train if (f.time, f.job_id) < (fb.time, fb.job_id)]
        (user,) = attach_history([by_id[fb.user_id]], earlier, data.jobs, 16)
        expected = data.space.encode_users([user])
        got = data.train_users.take([row])
        depth = expected.history_keys.shape[1]
        torch.testing.assert_close(got.history_keys[:, :depth], expected.history_keys)
        assert not got.history_keys[:, depth:].any()
        assert torch.equal(got.categorical, expected.categorical)


@pytest.mark.parametrize("loss", ["bpr", "softmax"])
def test_ranking_losses_equal_their_formulas(prepared, loss):
    data, config = prepared
    train = TrainConfig(loss=loss, negative_ratio=3, batch_size=8)
    batches = EpochBatches(data.sampler(config.model_copy(update={"train": train})), 1, train)
    assert batches.width == 4 and batches.step == 8
    users, jobs, batch_loss = next(iter(batches))
    logits = torch.randn(len(users), dtype=torch.float32)
    weights = batches.weights[:2]
    expected = []
    for g in range(2):
        s = logits[4 * g : 4 * g + 4].tolist()
        if loss == "bpr":
            terms = [math.log(1 + math.exp(-(s[0] - n))) for n in s[1:]]
            expected.append(sum(terms) / 3)
        else:
            expected.append(-s[0] + math.log(sum(math.exp(v) for v in s)))
    want = sum(w * e for w, e in zip(weights.tolist(), expected, strict=True)) / float(
        weights.sum()
    )
    assert float(batch_loss(logits)) == pytest.approx(want, rel=1e-5)
    positives = {(int(u), int(j)) for u, j in zip(users[::4], jobs[::4], strict=True)}
    trained = {(s, data.job_index[f.job_id]) for s, f in enumerate(data.split.train) if f.label > 0}
    assert positives <= trained  # each group starts with a training positive


def test_pointwise_loss_is_the_weighted_bce(prepared):
    data, config = prepared
    train = TrainConfig(loss="pointwise", batch_size=16)
    batches = EpochBatches(data.sampler(config), 1, train)
    _, _, batch_loss = next(iter(batches))
    logits = torch.randn(16)
    labels, w = batches.labels[:16], batches.weights[:16]
    p = torch.sigmoid(logits.double())
    bce = -(labels * torch.log(p) + (1 - labels) * torch.log(1 - p))
    assert float(batch_loss(logits)) == pytest.approx(float((bce * w).sum() / w.sum()), rel=1e-5)


def test_history_dropout_zeroes_the_history_fields_of_whole_groups(prepared):
    data, _ = prepared
    rows = torch.arange(40) % len(data.user_features)
    x = data.space.pairs(data.user_features, rows, data.job_features, torch.arange(40) % 25)
    x = x._replace(dense=torch.rand_like(x.dense) + 0.1)
    out = _drop_history(x, 0.5, torch.Generator().manual_seed(0), width=4)
    names = [f.name for f in fields_of("dense")]
    history = torch.tensor([n.startswith("history_") for n in names])
    dropped = (out.dense[:, history] == 0).all(1)
    assert torch.equal(out.dense[:, ~history], x.dense[:, ~history])
    assert torch.equal(out.dense[~dropped], x.dense[~dropped])
    groups = dropped.view(-1, 4)
    assert (groups.all(1) | ~groups.any(1)).all()  # a group keeps or loses it whole
    assert 0 < int(dropped.sum()) < 40
    assert np.isclose(float(dropped.float().mean()), 0.5, atol=0.35)
