"""The breakdown by segment: labels from the split, means and intervals per label, and
the per-user metrics averaging back to evaluate_ranking's."""

from __future__ import annotations

import numpy as np
import pytest

from ml.breakdown import breakdown, segments
from ml.config import Config, FeatureConfig
from ml.experiment import prepare
from ml.experiment import test_targets as held_out
from tests.support.builders import random_records


@pytest.fixture(scope="module")
def data():
    users, jobs, interactions = random_records(n_users=30, n_jobs=20, seed=11)
    config = Config(features=FeatureConfig(min_skill_count=1))
    return prepare(users, jobs, interactions, config=config)


def test_segment_labels_follow_the_split(data):
    targets, _ = held_out(data.split)
    labels = segments(data, targets)
    assert set(labels) == set(targets)
    liked = {}
    for f in data.split.train:
        if f.label > 0:
            liked.setdefault(f.user_id, set()).add(f.job_id)
    for user, seg in labels.items():
        n = len(liked.get(user, ()))
        assert seg["history"] == ("0" if n == 0 else "1" if n == 1 else "2-4" if n <= 4 else "5+")
        others = {u for u, jobs in liked.items() if u != user and targets[user][0] in jobs}
        assert seg["target_seen_by_others"] == ("yes" if others else "no")
        if n == 0:
            assert seg["target_in_history_city"] == "no history"


def test_means_and_intervals_per_label():
    labels = {f"u{i}": {"group": "a" if i < 6 else "b"} for i in range(10)}
    values = {f"u{i}": {"hr@5": float(i % 2), "ndcg@5": i / 10} for i in range(10)}
    split = breakdown({"m": values}, labels, 5, boot=200)
    a = split["group"]["a"]["m"]
    assert a["users"] == 6
    assert a["ndcg@5"]["value"] == pytest.approx(np.mean([i / 10 for i in range(6)]))
    assert a["ndcg@5"]["ci_low"] <= a["ndcg@5"]["value"] <= a["ndcg@5"]["ci_high"]
    assert split["group"]["b"]["m"]["hr@5"]["value"] == pytest.approx(0.5)
