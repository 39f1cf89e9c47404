"""Hyper-parameter search (`jobrec tune --trials N`): Optuna's TPE over the ranges of
`configs/default.toml`, each trial trained as `jobrec train` trains and judged on
validation NDCG@k (never on the test split), resumable, the best config written out.

* Resumable: the study lives in a SQLite file; a search cut short (Ctrl-C, a crash, a
  machine taken away) goes on from the trials already done when run again, up to N
  finished trials in all (a trial cut short is marked failed and run anew). A study
  belongs to one data set and one base config (its name is made from both), so a
  changed store starts a new study in the same file.
* Pruned: a trial reports its validation NDCG after every epoch, and one clearly behind
  the median of earlier trials at the same epoch stops early (after a few epochs).
* The first trial is the base config itself, so the best found is never worse than
  it on validation.
* Reproducible: the sampler is seeded with the base config's seed; every trial trains
  with that seed too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna

from ml.config import Config
from ml.experiment import Prepared, prepare, train_one
from ml.features import FeatureSpace
from ml.records import Interaction, JobRecord, UserRecord

WEIGHT_DECAY_RANGE = (1e-7, 1e-3)
# name -> (section, how a trial draws it); ranges as configs/default.toml states them
SEARCH_SPACE: dict[str, tuple[str, Callable[[optuna.Trial], Any]]] = {
    "embedding_dim": ("model", lambda t: t.suggest_categorical("embedding_dim", [32, 64, 128])),
    "conv_filters": ("model", lambda t: t.suggest_categorical("conv_filters", [32, 64, 128])),
    "conv_kernel_size": ("model", lambda t: t.suggest_categorical("conv_kernel_size", [3, 5, 7])),
    "dropout_rate": ("model", lambda t: t.suggest_float("dropout_rate", 0.1, 0.5)),
    "learning_rate": ("train", lambda t: t.suggest_float("learning_rate", 1e-4, 1e-2, log=True)),
    "loss": ("train", lambda t: t.suggest_categorical("loss", ["pointwise", "bpr", "softmax"])),
    "negative_ratio": ("train", lambda t: t.suggest_int("negative_ratio", 2, 16, log=True)),
    "id_dropout": ("train", lambda t: t.suggest_float("id_dropout", 0.0, 0.5)),
    "history_dropout": ("train", lambda t: t.suggest_float("history_dropout", 0.0, 0.5)),
    "weight_decay": (
        "train",
        lambda t: t.suggest_float("weight_decay", *WEIGHT_DECAY_RANGE, log=True),
    ),
    "history_decay": ("features", lambda t: t.suggest_float("history_decay", 0.3, 1.0)),
}
PRUNE_AFTER_EPOCHS = 3
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def base_params(base: Config) -> dict[str, Any]:
    """The base config's values of the searched parameters (a value below a log range,
    such as a weight decay of 0, as the range's low end)."""
    params = {
        name: getattr(getattr(base, section), name) for name, (section, _) in SEARCH_SPACE.items()
    }
    params["weight_decay"] = max(params["weight_decay"], WEIGHT_DECAY_RANGE[0])
    return params


def study_name(config: Config, fingerprint: str) -> str:
    """A study per (data, base config): 'tune-' + 16 hex digits."""
    digest = hashlib.sha256(f"{fingerprint}\n{config.model_dump_json()}".encode())
    return "tune-" + digest.hexdigest()[:16]


def trial_config(base: Config, params: dict[str, Any]) -> Config:
    """`base` with a trial's (or the best) parameters set in their sections."""
    data = base.model_dump()
    for name, value in params.items():
        data[SEARCH_SPACE[name][0]][name] = value
    return Config.model_validate(data)


def tune(
    users: Sequence[UserRecord],
    jobs: Sequence[JobRecord],
    interactions: Sequence[Interaction],
    base: Config,
    *,
    trials: int,
    storage: Path,
    fingerprint: str,
    progress: Callable[[str], None] = lambda text: None,
) -> optuna.Study:
    """Run the study in `storage` (SQLite) until it holds `trials` finished (complete or
    pruned) trials."""
    storage.parent.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name(base, fingerprint),
        storage=f"sqlite:///{storage}",
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=base.train.seed),
        pruner=optuna.pruners.MedianPruner(n_warmup_steps=PRUNE_AFTER_EPOCHS),
        load_if_exists=True,
    )
    # a trial interrupted mid-run stays RUNNING in the file: it is failed and redone
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    if not study.trials:  # the first trial is the base config: the best is never worse
        study.enqueue_trial(base_params(base), user_attrs={"base_config": True})
    done = len(study.get_trials(deepcopy=False, states=FINISHED))
    if done >= trials:
        progress(f"the study already holds {done} finished trials")
        return study
    progress(f"{done} of {trials} trials done; {trials - done} to run")
    data = prepare(users, jobs, interactions, config=base)
    key = f"ndcg@{base.train.eval_k}"

    def objective(trial: optuna.Trial) -> float:
        params = {name: draw(trial) for name, (_, draw) in SEARCH_SPACE.items()}
        config = trial_config(base, params)
        try:
            result = train_one(
                _with_features(data, config),
                config,
                config.model,
                progress=False,
                label=f"trial {trial.number}",
                on_epoch=lambda epoch, metrics: _report(trial, epoch, metrics[key]),
            )
        except optuna.TrialPruned:
            progress(f"trial {trial.number}: pruned (behind the median) {json.dumps(params)}")
            raise
        best = max(log.validation[key] for log in result.history)
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("seconds", round(result.seconds, 1))
        progress(f"trial {trial.number}: validation {key} {best:.4f} {json.dumps(params)}")
        return best

    study.optimize(objective, n_trials=trials - done, catch=())
    return study


def _report(trial: optuna.Trial, epoch: int, value: float) -> None:
    trial.report(value, epoch)
    if trial.should_prune():
        raise optuna.TrialPruned()


def _with_features(data: Prepared, config: Config) -> Prepared:
    """`data` whose feature space reads `config.features` (the encodings are the same:
    the searched feature settings act when pairs are built)."""
    space = FeatureSpace(
        data.space.vocabularies, data.space.extractor.learned_terms, config.features
    )
    return replace(data, space=space)


def best_config(study: optuna.Study, base: Config) -> Config:
    """The base config with the best trial's parameters."""
    return trial_config(base, study.best_params)


def write_toml(config: Config, path: Path, header: str) -> None:
    """The config as TOML (its three flat sections), `header` as comment lines."""
    lines = [f"# {line}" for line in header.splitlines()]
    for section, values in config.model_dump(mode="json").items():
        lines += ["", f"[{section}]"]
        lines += [
            f"{name} = {json.dumps(value)}" for name, value in values.items() if value is not None
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
