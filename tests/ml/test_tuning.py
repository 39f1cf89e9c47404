"""`jobrec tune`: the search runs real trials, resumes where it stopped, and writes a
config that loads."""

import tomllib

import optuna
import pytest

from ml.config import Config
from ml.data import data_fingerprint
from ml.tuning import SEARCH_SPACE, best_config, study_name, trial_config, tune, write_toml
from tests.support.builders import demo_records
from tests.support.paths import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    return demo_records(tmp_path_factory.mktemp("tune"), users=90, jobs=60, seed=4)


def test_a_search_resumes_and_writes_a_config_that_loads(records, tmp_path):
    base = Config.load(REPO / "configs" / "tiny.toml", **{"train.epochs": 2})
    storage = tmp_path / "study.db"
    fingerprint = data_fingerprint(*records)
    lines: list[str] = []
    study = tune(
        *records, base, trials=2, storage=storage, fingerprint=fingerprint, progress=lines.append
    )
    assert len(study.trials) == 2 and all(t.value is not None for t in study.trials)
    assert sum(line.startswith("trial ") for line in lines) == 2
    assert study.trials[0].user_attrs["base_config"] is True  # the base config goes first
    assert trial_config(base, study.trials[0].params) == base.model_copy(
        update={"train": base.train.model_copy(update={"weight_decay": 1e-7})}
    )
    # a run cut short leaves a trial RUNNING: the next run fails it and goes on to 3
    interrupted = optuna.load_study(study_name=study.study_name, storage=f"sqlite:///{storage}")
    interrupted.ask()
    again = tune(*records, base, trials=3, storage=storage, fingerprint=fingerprint)
    states = [t.state for t in again.trials]
    assert states.count(optuna.trial.TrialState.FAIL) == 1
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3
    done = tune(*records, base, trials=3, storage=storage, fingerprint=fingerprint)
    assert len(done.trials) == 4  # nothing left to run
    # another data set is another study in the same file
    assert study_name(base, "other") != study.study_name
    best = best_config(again, base)
    for name, value in again.best_params.items():
        section = SEARCH_SPACE[name][0]
        assert getattr(getattr(best, section), name) == value
    out = tmp_path / "best.toml"
    write_toml(best, out, header="test")
    assert Config.load(out) == best
    assert tomllib.loads(out.read_text())["model"]["embedding_dim"] == best.model.embedding_dim


def test_every_searched_value_is_a_valid_config():
    base = Config()
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    for _ in range(50):
        trial = study.ask()
        config = trial_config(base, {name: draw(trial) for name, (_, draw) in SEARCH_SPACE.items()})
        study.tell(trial, 0.0)
        assert config.model.conv_kernel_size % 2 == 1
