"""`jobrec train`, `jobrec retrain` and `jobrec explain-model`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from app.cli.common import app, console, fail, store_sessions
from app.errors import JobrecError
from app.settings import get_settings

if TYPE_CHECKING:  # the commands import what they use when they run (a fast --help)
    from ml.records import Interaction, JobRecord, UserRecord


# -- train -----------------------------------------------------------------------------


def load_store_records() -> tuple[list[UserRecord], list[JobRecord], list[Interaction]]:
    from app.services.training import training_records

    return training_records(store_sessions())


@app.command()
def train(
    out: Annotated[Path | None, typer.Option(help="checkpoint directory [MODEL_PATH]")] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML file ([model], [features], [train])")
    ] = None,
    embedding_dim: int | None = None,
    conv_filters: int | None = None,
    conv_kernel_size: int | None = None,
    dropout_rate: float | None = None,
    hidden_dims: Annotated[str | None, typer.Option(help="comma separated, e.g. 128,64,32")] = None,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    epochs: int | None = None,
    patience: int | None = None,
    negative_ratio: int | None = None,
    id_dropout: float | None = None,
    loss: Annotated[str | None, typer.Option(help="pointwise, bpr or softmax")] = None,
    history_decay: Annotated[
        float | None, typer.Option(help="0..1: the h-th latest history job weighs decay^h")
    ] = None,
    history_as_of: Annotated[
        bool | None,
        typer.Option(
            "--history-as-of/--whole-history",
            help="each example sees the history of its moment, or the whole",
        ),
    ] = None,
    history_dropout: float | None = None,
    seed: int | None = None,
    ablations: Annotated[
        str | None, typer.Option(help="comma separated of no_conv,no_fm,no_deep; 'none' for none")
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    nproc: Annotated[
        int,
        typer.Option(
            min=1,
            max=256,
            help="processes training together (torch.distributed: gloo on CPU, nccl on "
            "CUDA); under torchrun, leave it at 1",
        ),
    ] = 1,
) -> None:
    """Train ConvFM on the store; write the checkpoint, report.json and learning_curve.png."""
    from ml.config import Config, ConfigError
    from ml.distributed import launched_by_torchrun, process_group, train_in_processes
    from ml.experiment import REPORT_FILE, run_training

    overrides = {
        "model.embedding_dim": embedding_dim,
        "model.conv_filters": conv_filters,
        "model.conv_kernel_size": conv_kernel_size,
        "model.dropout_rate": dropout_rate,
        "model.hidden_dims": _int_list(hidden_dims),
        "train.learning_rate": learning_rate,
        "train.batch_size": batch_size,
        "train.epochs": epochs,
        "train.patience": patience,
        "train.negative_ratio": negative_ratio,
        "train.id_dropout": id_dropout,
        "train.loss": loss,
        "features.history_decay": history_decay,
        "train.history_as_of": history_as_of,
        "train.history_dropout": history_dropout,
        "train.seed": seed,
        "train.ablations": (
            None
            if ablations is None
            else []
            if ablations.strip() in ("", "none")
            else [a.strip() for a in ablations.split(",")]
        ),
    }
    try:
        cfg = Config.load(config, **overrides)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    users, jobs, interactions = load_store_records()
    if not interactions:
        raise fail(
            "the store has no interactions to learn from: run `jobrec import demo` "
            "(or another import) first"
        )
    out = out or get_settings().model_path
    if launched_by_torchrun():  # one process of torchrun's group: rank 0 reports
        with process_group() as ranks:
            report = run_training(users, jobs, interactions, cfg, out, progress=progress)
        if not ranks.leader:
            return
    elif nproc > 1:
        train_in_processes(
            nproc, run_training, users, jobs, interactions, cfg, out, progress=progress
        )
        report = json.loads((Path(out) / REPORT_FILE).read_text())
    else:
        report = run_training(users, jobs, interactions, cfg, out, progress=progress)
    print_metrics_report(
        report, title=f"test split, k={report['k']} ({report['data']['test_users']} users)"
    )
    console.print(
        f"checkpoint {report['model_version']} written to {out} "
        f"(train {report['seconds']['train']} s, total {report['seconds']['total']} s)"
    )


def _int_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise fail(f"--hidden-dims must be comma-separated integers, got {text!r}", 2) from None


def print_metrics_report(report: dict, title: str) -> None:
    from ml.metrics import metric_keys

    k = report["k"]
    main = report.get("metrics", report)
    rows = {
        "convfm": main,
        **{f"baseline: {n}": v for n, v in report["baselines"].items()},
        **{f"ablation: {n}": v for n, v in report["ablations"].items()},
    }
    table = Table(title=title)
    table.add_column("model")
    keys = metric_keys(k)
    for key in keys:
        table.add_column(key, justify="right")
    for name, metrics in rows.items():
        table.add_row(name, *(f"{metrics[key]:.4f}" for key in keys))
    console.print(table)


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> float:
    """'90s', '30m', '2h', '1d' -> seconds."""
    unit = DURATION_UNITS.get(text[-1:].lower())
    try:
        value = float(text[:-1]) if unit else float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise fail(f"--every must be a duration such as 30m, 2h or 1d, got {text!r}", 2)
    return value * (unit or 1)


@app.command()
def retrain(
    tolerance: Annotated[
        float, typer.Option(min=0, help="how much worse than production the gate allows")
    ] = 0.005,
    replay_share: Annotated[
        float, typer.Option(min=0, max=1, help="share of inactive users whose events replay")
    ] = 0.3,
    epochs: Annotated[int | None, typer.Option(min=1, help="[production's own]")] = None,
    promote: Annotated[
        bool, typer.Option("--promote", help="promote a candidate that passes")
    ] = False,
    challenge: Annotated[
        float | None,
        typer.Option(
            min=0.01, max=0.99, help="start an experiment giving the candidate this share"
        ),
    ] = None,
    every: Annotated[
        str | None, typer.Option(help="run again after this long: 30m, 2h, 1d")
    ] = None,
    progress: Annotated[bool, typer.Option(help="training progress")] = False,
) -> None:
    """Train a candidate from the production model on the events since its data
    cut-off (plus a replay of older ones); register it when it is not worse than
    production on the newest held-out items beyond TOLERANCE (NDCG@10)."""
    import time

    if promote and challenge:
        raise fail("--promote and --challenge exclude each other", 2)
    wait = _seconds(every) if every is not None else None
    while True:
        _retrain_once(tolerance, replay_share, epochs, promote, challenge, progress)
        if wait is None:
            return
        console.print(f"next retraining in {every}")
        time.sleep(wait)


def _retrain_once(
    tolerance: float,
    replay_share: float,
    epochs: int | None,
    promote: bool,
    challenge: float | None,
    progress: bool,
) -> None:
    from app.services.registry import ModelRegistry
    from app.services.retraining import Retrainer
    from ml.checkpoint import CheckpointError
    from ml.retrain import NothingNewError

    settings = get_settings()
    factory = store_sessions()
    retrainer = Retrainer(
        factory,
        ModelRegistry(factory, settings.model_registry_dir),
        model_path=settings.model_path,
        work_dir=settings.retrain_dir,
    )
    try:
        outcome = retrainer.run(
            tolerance=tolerance,
            replay_share=replay_share,
            epochs=epochs,
            promote=promote,
            challenge=challenge,
            progress=progress,
        )
    except NothingNewError as exc:
        console.print(f"nothing to retrain on: {exc}")
        return
    except (CheckpointError, JobrecError) as exc:
        raise fail(str(exc)) from None
    g = outcome.gate
    console.print(
        f"candidate {outcome.candidate} from {outcome.production}: {g.metric} {g.candidate:.4f} "
        f"against {g.production:.4f} on {g.test_users} users: gate "
        f"{'passed' if g.passed else 'failed'} (tolerance {g.tolerance})"
    )
    if not outcome.registered:
        console.print(f"not registered; the candidate stays in {outcome.path}")
        return
    console.print(f"registered: {outcome.candidate}")
    if outcome.promoted:
        console.print(f"in production: {outcome.candidate}")
    if outcome.experiment:
        console.print(f"experiment started: {outcome.experiment}")
    if outcome.note:
        console.print(outcome.note)


@app.command("explain-model")
def explain_model_cmd(
    checkpoint: Annotated[
        Path | None, typer.Option(help="checkpoint directory [MODEL_PATH]")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="folder for the JSON and PNGs")] = None,
) -> None:
    """The model as a whole, on the store's validation split: permutation importance of
    each field (drop in NDCG@10 and AUC, bootstrap 95% intervals), the convolution's
    response per field position, the strongest FM interactions; explain.json and PNGs."""
    from ml.checkpoint import CheckpointError, load_checkpoint
    from ml.config import Config
    from ml.experiment import prepare
    from ml.importance import explain_model, plot_report
    from ml.report import write_json

    path = checkpoint or get_settings().model_path
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as exc:
        raise fail(str(exc)) from None
    config = Config(model=loaded.model.config, features=loaded.space.config)
    data = prepare(*load_store_records(), config=config, space=loaded.space)
    report = explain_model(data, loaded.model, config)
    if report is None:
        raise fail("the store has no validation users to explain the model on")
    folder = out or Path(path) / "explain"
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "explain.json", report)
    written = plot_report(report, folder)
    top = sorted(report["importance"].items(), key=lambda kv: -kv[1]["ndcg@10_drop"])[:5]
    for name, value in top:
        console.print(f"{name}: NDCG@10 drop {value['ndcg@10_drop']:+.4f}")
    console.print(f"written to {folder}: explain.json, {', '.join(written)}")
