"""Implicit feedback, leave-last-out splits and negative sampling."""

from datetime import timedelta

import numpy as np

from ml.data import (
    DISMISS_WEIGHT,
    IMPRESSION_WEIGHT,
    POSITIVE_WEIGHTS,
    ExampleSampler,
    aggregate_feedback,
    histories_as_of,
    leave_last_out,
)
from ml.records import Interaction
from tests.support.builders import T0


def event(user, job, kind, hours):
    return Interaction(timestamp=T0 + timedelta(hours=hours), user_id=user, job_id=job, type=kind)


def test_feedback_weights_follow_the_event_order():
    feedback = {
        (f.user_id, f.job_id): f
        for f in aggregate_feedback(
            [
                event("u", "a", "view", 1),
                event("u", "a", "apply", 2),
                event("u", "b", "view", 3),
                event("u", "b", "dismiss", 4),
                event("u", "c", "click", 5),
                event("u", "c", "dismiss", 6),
                event("u", "d", "impression", 7),
                event("u", "e", "save", 8),
            ]
        )
    }
    assert (feedback["u", "a"].label, feedback["u", "a"].weight) == (1.0, POSITIVE_WEIGHTS["apply"])
    assert feedback["u", "a"].time == T0 + timedelta(hours=1)  # first positive event
    assert (feedback["u", "b"].label, feedback["u", "b"].weight) == (0.0, DISMISS_WEIGHT)
    assert feedback["u", "c"].label == 1.0  # a click outweighs a later dismiss
    assert (feedback["u", "d"].label, feedback["u", "d"].weight) == (0.0, IMPRESSION_WEIGHT)
    assert feedback["u", "e"].weight == POSITIVE_WEIGHTS["save"]
    assert (
        POSITIVE_WEIGHTS["view"]
        < POSITIVE_WEIGHTS["click"]
        < POSITIVE_WEIGHTS["save"]
        < POSITIVE_WEIGHTS["apply"]
    )


def test_leave_last_out_holds_out_the_latest_positives():
    feedback = aggregate_feedback(
        [
            event("u1", "a", "view", 1),
            event("u1", "b", "view", 2),
            event("u1", "c", "view", 3),
            event("u1", "x", "dismiss", 4),
            event("u2", "a", "view", 1),
            event("u2", "b", "view", 2),
            event("u3", "a", "view", 1),
        ]
    )
    split = leave_last_out(feedback)
    assert split.test == {"u1": "c", "u2": "b"}
    assert split.validation == {"u1": "b"}
    assert split.seen["u1"] == {"a", "x"}
    assert split.seen_before_test("u1") == {"a", "x", "b"}
    train_pairs = {(f.user_id, f.job_id) for f in split.train}
    assert not train_pairs & {("u1", "c"), ("u1", "b"), ("u2", "b")}
    assert ("u3", "a") in train_pairs
    assert leave_last_out(feedback, holdout=False).test == {}


def test_sampler_is_seeded_and_avoids_positives():
    feedback = aggregate_feedback([event("u", j, "view", i) for i, j in enumerate("abc")])
    catalog = np.arange(5)
    index = {j: i for i, j in enumerate("abcde")}
    sampler = ExampleSampler(feedback, {"u": 0}, index, catalog, negative_ratio=20, seed=1)
    first, again = sampler.epoch(1), sampler.epoch(1)
    assert np.array_equal(first.jobs, again.jobs)
    assert not np.array_equal(first.jobs, sampler.epoch(2).jobs)
    assert len(first) == 3 + 3 * 20
    negatives = first.jobs[first.labels == 0]
    assert np.isin(negatives, [3, 4]).all()  # draws of positives a, b, c are redrawn


def test_histories_as_of_hold_the_positives_before_each_feedback():
    feedback = aggregate_feedback(
        [
            event("u", "a", "view", 1),
            event("u", "b", "view", 2),
            event("u", "x", "dismiss", 3),
            event("u", "c", "apply", 4),
            event("v", "a", "view", 5),
        ]
    )
    index = {j: i for i, j in enumerate("abcx")}
    rows = histories_as_of(feedback, index, depth=2)
    by_pair = {(f.user_id, f.job_id): r.tolist() for f, r in zip(feedback, rows, strict=True)}
    assert by_pair["u", "a"] == [-1, -1]
    assert by_pair["u", "b"] == [index["a"], -1]
    assert by_pair["u", "x"] == [index["b"], index["a"]]  # the dismissed job at its time
    assert by_pair["u", "c"] == [index["b"], index["a"]]  # most recent first, depth 2
    assert by_pair["v", "a"] == [-1, -1]  # another user's views never count


def test_groups_are_the_epochs_draws_with_the_positive_first():
    feedback = aggregate_feedback(
        [event(u, j, "view", i) for i, (u, j) in enumerate([("u", "a"), ("u", "b"), ("v", "c")])]
        + [event("v", "d", "dismiss", 9)]
    )
    index = {j: i for i, j in enumerate("abcdefgh")}
    sampler = ExampleSampler(
        feedback,
        {"u": 0, "v": 1},
        index,
        np.arange(8),
        negative_ratio=3,
        seed=5,
        row_users=[10 + i for i in range(len(feedback))],
    )
    examples, groups = sampler.epoch(2), sampler.groups(2)
    emitted = {f.job_id: 10 + i for i, f in enumerate(feedback)}
    positives = {(emitted[j], index[j]) for j in "abc"}
    assert {
        (int(u), int(j[0])) for u, j in zip(groups.users, groups.jobs, strict=True)
    } == positives
    drawn = sorted(
        (int(u), int(j)) for u, j in zip(examples.users, examples.jobs, strict=True)
    )  # the pointwise rows: positives, the dismissal, the same negatives
    grouped = sorted(
        [(int(u), int(j)) for u, row in zip(groups.users, groups.jobs, strict=True) for j in row]
        + [(emitted["d"], index["d"])]
    )
    assert drawn == grouped
    assert len(groups) == 3 and groups.jobs.shape == (3, 4)
    for u, row in zip(groups.users, groups.jobs, strict=True):
        user = "u" if u < 12 else "v"
        liked = {index[j] for j in ("ab" if user == "u" else "c")}
        assert not liked & set(row[1:].tolist())  # negatives avoid the USER's positives
