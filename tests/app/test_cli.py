"""The `jobrec` console script, run as a user runs it, on SQLite and PostgreSQL."""

import json
import os
import subprocess
import sys

import pytest

from ml.config import Config
from tests.support.paths import REPO

pytestmark = pytest.mark.slow


def jobrec(*args, url, check=True, cwd=None):
    env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"jobrec {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def test_import_train_evaluate(empty_db_url, tmp_path):
    url = empty_db_url
    missing = jobrec("import", "demo", url=url, check=False)
    assert missing.returncode == 1 and "jobrec db upgrade" in missing.stderr
    jobrec("db", "upgrade", url=url)
    out = jobrec("import", "demo", "--users", "120", "--jobs", "90", "--seed", "2", url=url)
    assert "users 121, jobs 90" in out.stderr  # u1..u120 and the showcase user
    skipped = jobrec("import", "demo", "--if-empty", url=url)
    assert "skipped" in skipped.stderr
    model = tmp_path / "model"
    trained = jobrec(
        "train",
        "--out",
        str(model),
        "--config",
        str(REPO / "configs" / "tiny.toml"),
        "--epochs",
        "2",
        "--ablations",
        "no_fm",
        url=url,
    )
    assert (model / "weights.safetensors").exists() and (model / "report.json").exists()
    # stderr is a pipe here, as in a log file: progress comes as plain lines
    for line in (
        "preparing features",
        "convfm: epoch 1/2 started",
        "convfm: epoch 2/2 done",
        "training the ablation no_fm",
        "no_fm: epoch 1/2 done",
    ):
        assert line in trained.stderr, trained.stderr
    assert "\r" not in trained.stderr and "\x1b" not in trained.stderr  # no bar redrawn
    explained = jobrec("explain-model", "--checkpoint", str(model), url=url)
    assert "NDCG@10 drop" in explained.stderr
    for name in ("explain.json", "importance.png", "conv_response.png", "fm_pairs.png"):
        assert (model / "explain" / name).stat().st_size > 0
    report_path = tmp_path / "eval.json"
    jobrec(
        "evaluate",
        "--checkpoint",
        str(model),
        "--k",
        "5",
        "--json",
        str(report_path),
        "--breakdown",
        url=url,
    )
    report = json.loads(report_path.read_text())
    by_history = report["breakdown"]["history"]
    assert sum(label["convfm"]["users"] for label in by_history.values()) == report["users"]
    for key in (
        "hr@5",
        "precision@5",
        "recall@5",
        "ndcg@5",
        "map@5",
        "mrr",
        "auc",
        "coverage@5",
        "users",
    ):
        assert key in report
    assert set(report["ablations"]) == {"no_fm"}
    effect = report["ablation_effects"]["no_fm"]["ndcg@5"]
    assert effect["ci_low"] <= effect["mean"] <= effect["ci_high"]
    holdout = tmp_path / "holdout.csv"
    holdout.write_text("user_id,job_id\nu1,j5\nu2,j7\n")
    jobrec(
        "evaluate",
        "--checkpoint",
        str(model),
        "--holdout",
        str(holdout),
        "--json",
        str(report_path),
        url=url,
    )
    assert json.loads(report_path.read_text())["protocol"] == "holdout csv"
    cold = jobrec("evaluate", "--checkpoint", str(model), "--cold-start", "--json", "-", url=url)
    report = json.loads(cold.stdout[cold.stdout.index("{") :])
    assert set(report["models"]) == {"convfm", "location-popularity", "tfidf+location"}
    assert report["users"] > 0 and "ranked from their profile" in cold.stderr
    low, high = report["models"]["convfm"]["hr@10"]["interval"]
    assert low <= report["models"]["convfm"]["hr@10"]["mean"] <= high
    best = tmp_path / "tune" / "best.toml"
    tuned = jobrec(
        "tune",
        "--trials",
        "1",
        "--config",
        str(REPO / "configs" / "tiny.toml"),
        "--study",
        str(tmp_path / "tune" / "study.db"),
        "--out",
        str(best),
        url=url,
    )
    assert "trial 0: validation ndcg@10" in tuned.stderr and "best of 1 trials" in tuned.stderr
    assert Config.load(best).model.embedding_dim in (32, 64, 128)


def test_clear_errors_and_exit_codes(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    jobrec("db", "upgrade", url=url)
    bad = jobrec("train", "--conv-kernel-size", "4", url=url, check=False)
    assert bad.returncode == 2 and "odd" in bad.stderr
    empty = jobrec("train", "--out", str(tmp_path / "m"), url=url, check=False)
    assert empty.returncode == 1 and "no interactions" in empty.stderr
    missing = jobrec("evaluate", "--checkpoint", str(tmp_path / "nope"), url=url, check=False)
    assert missing.returncode == 1 and "checkpoint directory not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    csv_bad = tmp_path / "h.csv"
    csv_bad.write_text("a,b\n1,2\n")
    wrong = jobrec("evaluate", "--holdout", str(csv_bad), url=url, check=False)
    assert wrong.returncode == 1 and "user_id,job_id" in wrong.stderr


def test_train_in_two_processes_by_flag_and_under_torchrun(tmp_path):
    """`jobrec train --nproc 2` starts its own group; under torchrun each process joins
    torchrun's; either way one checkpoint is written, by rank 0, and reported once."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    jobrec("db", "upgrade", url=url)
    jobrec("import", "demo", "--users", "150", "--jobs", "100", "--seed", "4", url=url)
    tiny = ["--config", str(REPO / "configs" / "tiny.toml"), "--epochs", "2", "--no-progress"]
    flag = jobrec("train", "--out", str(tmp_path / "flag"), "--nproc", "2", *tiny, url=url)
    assert flag.stderr.count("written to") == 1, flag.stderr
    env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
    ]
    train = ["-m", "app.cli", "train", "--out", str(tmp_path / "torchrun"), *tiny]
    launched = subprocess.run(
        [*launcher, *train],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert launched.returncode == 0, launched.stderr
    assert launched.stderr.count("written to") == 1, launched.stderr
    for out in ("flag", "torchrun"):
        report = json.loads((tmp_path / out / "report.json").read_text())
        assert report["data"]["processes"] == 2
        assert (tmp_path / out / "weights.safetensors").is_file()
