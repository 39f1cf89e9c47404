"""The cold-start evaluation's baselines: popularity counts other users only, so a job
liked by the evaluated user alone gets no lift from their own positive."""

from datetime import timedelta

import torch

from ml.checkpoint import Checkpoint
from ml.cold_start import as_new_users, cold_start_evaluation, cold_start_task, first_positives
from ml.data import aggregate_feedback
from ml.records import Interaction, JobRecord, UserRecord
from tests.support.builders import T0, fitted_space, make_place, random_model


def test_a_users_own_positive_does_not_lift_the_baselines_popularity():
    austin, boston = make_place("Austin", "TX", "US"), make_place("Boston", "MA", "US")
    jobs = [
        JobRecord("j", "Cashier", place=austin),
        JobRecord("k", "Cashier", place=austin),
        JobRecord("m", "Cook", place=boston),
    ]
    users = [UserRecord("u", headline="cashier", place=austin), UserRecord("v", place=boston)]
    events = [
        Interaction(T0, "u", "j", "view"),
        Interaction(T0 + timedelta(hours=1), "u", "m", "view"),
        Interaction(T0, "v", "m", "view"),
    ]
    assert first_positives(aggregate_feedback(events)) == {"u": "j", "v": "m"}
    assert as_new_users([UserRecord("u", history=(jobs[0],))])[0].history == ()
    space = fitted_space(users, jobs, events)
    checkpoint = Checkpoint(random_model(space), space, {"model_version": "t"})
    cold = cold_start_task(checkpoint, users, jobs, events)
    assert [u.user_id for u in cold.users] == ["u", "v"]
    assert [list(r) for r in cold.task.relevant] == [[0], [2]]  # first views: j, m
    places = cold.rankers["location-popularity"](torch.tensor([0, 1]))
    j, k, m = 0, 1, 2
    # u: j's one positive is u's own, so j and k tie in Austin; m (liked by v) leads
    # the rest
    assert places[0, j] == places[0, k] > places[0, m]
    # v: u's positives count (m leads Boston, and j, liked by u, leads k elsewhere)
    assert places[1, m] > places[1, j] > places[1, k]
    report = cold_start_evaluation(checkpoint, users, jobs, events, k=1, boot=10)
    assert report["users"] == 2 and set(report["models"]) == set(cold.rankers)


def test_others_only_takes_one_positive_back_from_the_users_own_jobs():
    from ml.cold_start import OthersOnly

    base = torch.tensor([[2.5, 2.0, 1.25]], dtype=torch.float64)
    ranker = OthersOnly(lambda rows: base.expand(len(rows), -1), [[0, 2]], 0.25)
    assert ranker(torch.tensor([0])).tolist() == [[2.25, 2.0, 1.0]]
    assert base.tolist() == [[2.5, 2.0, 1.25]]  # the wrapped scores are not changed
