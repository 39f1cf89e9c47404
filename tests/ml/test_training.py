"""Training and evaluation end to end on small demo data, through the real store."""

import json

import pytest

from ml.config import Config
from ml.evaluation import run_evaluation
from ml.experiment import CURVE_FILE, REPORT_FILE, run_training
from ml.metrics import metric_keys
from tests.support import builders
from tests.support.paths import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_records(tmp_path_factory):
    return builders.demo_records(tmp_path_factory.mktemp("demo"), users=300, jobs=200, seed=11)


def tiny_config(**overrides):
    return Config.load(REPO / "configs" / "tiny.toml", **overrides)


def test_seeded_training_twice_gives_identical_metrics(demo_records, tmp_path):
    config = tiny_config(**{"train.epochs": 2})
    first = run_training(*demo_records, config, tmp_path / "a", progress=False)
    second = run_training(*demo_records, config, tmp_path / "b", progress=False)
    assert first["metrics"] == second["metrics"]
    assert first["baselines"] == second["baselines"]

    def without_time(report):
        return [
            {k: v for k, v in e.items() if k != "seconds"} for e in report["training"]["epochs"]
        ]

    assert without_time(first) == without_time(second)  # losses and validation metrics
    losses = [e["loss"] for e in first["training"]["epochs"]]
    other = run_training(
        *demo_records,
        tiny_config(**{"train.epochs": 2, "train.seed": 5}),
        tmp_path / "c",
        progress=False,
    )
    assert other["training"]["epochs"][0]["loss"] != losses[0]


def test_training_report_checkpoint_and_evaluation(demo_records, tmp_path):
    config = tiny_config(**{"train.ablations": ["no_conv", "no_fm", "no_deep"], "train.epochs": 6})
    out = tmp_path / "model"
    report = run_training(*demo_records, config, out, progress=False)
    keys = set(metric_keys(10))
    assert keys <= set(report["metrics"])
    assert set(report["baselines"]) == {
        "popularity",
        "location-popularity",
        "content",
        "tfidf",
        "item-knn",
    }
    assert set(report["ablations"]) == {"no_conv", "no_fm", "no_deep"}
    for metrics in (*report["baselines"].values(), *report["ablations"].values()):
        assert keys <= set(metrics)
    assert report["data"]["test_users"] > 100 and report["seconds"]["train"] > 0
    saved = json.loads((out / REPORT_FILE).read_text())
    assert saved["model_version"] == report["model_version"]
    assert (out / CURVE_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = report["training"]["best_epoch"]
    val = [e["val_ndcg@10"] for e in report["training"]["epochs"]]
    assert val[best - 1] == max(val)  # the best epoch's weights were restored ...
    # ... and evaluation of the saved checkpoint on the same split reproduces the report
    evaluation = run_evaluation(out, *demo_records, k=10)
    assert evaluation["ndcg@10"] == pytest.approx(report["metrics"]["ndcg@10"])
    assert evaluation["data_matches_training"] is True
    assert set(evaluation["ablations"]) == {"no_conv", "no_fm", "no_deep"}
    # ConvFM learns what popularity cannot: users prefer near, matching, well-paid jobs
    print(
        "ndcg@10 convfm",
        report["metrics"]["ndcg@10"],
        "popularity",
        report["baselines"]["popularity"]["ndcg@10"],
    )
    assert report["metrics"]["ndcg@10"] > 2 * report["baselines"]["popularity"]["ndcg@10"]
    assert report["metrics"]["auc"] > 0.85


def test_evaluation_with_a_holdout_list(demo_records, tmp_path):
    users, jobs, interactions = demo_records
    out = tmp_path / "m"
    run_training(users, jobs, interactions, tiny_config(**{"train.epochs": 1}), out, progress=False)
    seen = {(i.user_id, i.job_id) for i in interactions}
    holdout = [
        (u.user_id, j.job_id)
        for u in users[:30]
        for j in jobs[:40]
        if (u.user_id, j.job_id) not in seen and j.active
    ][:50]
    report = run_evaluation(out, users, jobs, interactions, holdout=holdout, k=5)
    assert report["protocol"] == "holdout csv"
    assert 0 < report["users"] <= 30 and "hr@5" in report and "ndcg@5" in report


def test_progress_without_a_terminal_is_plain_lines(capsys):
    from ml.train import EpochLog, TrainingProgress

    with TrainingProgress(
        enabled=True, label="convfm", epochs=2, terminal=False, every=0.0
    ) as progress:
        progress.start_epoch(1, 3)
        for _ in range(3):
            progress.advance()
        progress.end_epoch(EpochLog(1, 0.25, {"ndcg@10": 0.125}, 1.5), "ndcg@10")
        progress.stopped_early(1, 1)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "convfm: epoch 1/2 started (3 batches)",
        "convfm: epoch 1/2 1/3 batches, 0 s",
        "convfm: epoch 1/2 2/3 batches, 0 s",
        "convfm: epoch 1/2 3/3 batches, 0 s",
        "convfm: epoch 1/2 done in 1.5 s: loss 0.2500 val ndcg@10 0.1250",
        "convfm: stopped after epoch 1: no better since epoch 1",
    ]
    with TrainingProgress(enabled=False, label="x", epochs=1, terminal=False) as quiet:
        quiet.start_epoch(1, 1)
    assert capsys.readouterr().err == ""
