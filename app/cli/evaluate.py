"""`jobrec evaluate`: the offline evaluation of a checkpoint on the store (leave-last-out,
a holdout list, by segment, or cold start)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.cli.common import app, console, fail
from app.cli.model import load_store_records, print_metrics_report
from app.settings import get_settings


@app.command()
def evaluate(
    checkpoint: Annotated[
        Path | None, typer.Option(help="checkpoint directory [MODEL_PATH]")
    ] = None,
    holdout: Annotated[Path | None, typer.Option(help="CSV with columns user_id,job_id")] = None,
    k: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the report here ('-' for stdout)")
    ] = None,
    breakdown: Annotated[
        bool, typer.Option("--breakdown", help="HR and NDCG by segment of the users")
    ] = False,
    cold_start: Annotated[
        bool,
        typer.Option(
            "--cold-start",
            help="rank every user with a profile from the profile alone (no history) "
            "against the first job they engaged with, beside location-popularity and "
            "TF-IDF+location",
        ),
    ] = False,
) -> None:
    """Full-ranking offline evaluation of a checkpoint, its ablations and the baselines."""
    from ml.checkpoint import CheckpointError
    from ml.evaluation import run_evaluation

    if cold_start:
        return _evaluate_cold_start(checkpoint, k, json_out)
    pairs = _read_holdout(holdout) if holdout else None
    users, jobs, interactions = load_store_records()
    try:
        report = run_evaluation(
            checkpoint or get_settings().model_path,
            users,
            jobs,
            interactions,
            holdout=pairs,
            k=k,
            breakdown=breakdown,
        )
    except CheckpointError as exc:
        raise fail(str(exc)) from None
    if not report["data_matches_training"] and holdout is None:
        console.print(
            "[yellow]warning:[/] the store changed since this checkpoint was "
            "trained; its leave-last-out split may overlap the training data"
        )
    print_metrics_report(report, title=f"{report['protocol']}, k={k} ({report['users']} users)")
    _print_ablation_effects(report["ablation_effects"], k)
    if breakdown:
        _print_breakdown(report["breakdown"], k)
    _write_report(report, json_out)


def _write_report(report: dict, json_out: Path | None) -> None:
    if json_out is not None:
        text = json.dumps(report, indent=1)
        if str(json_out) == "-":
            sys.stdout.write(text + "\n")
        else:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(text)
            console.print(f"report written to {json_out}")


def _evaluate_cold_start(checkpoint: Path | None, k: int, json_out: Path | None) -> None:
    from ml.checkpoint import CheckpointError, load_checkpoint
    from ml.cold_start import cold_start_evaluation

    users, jobs, interactions = load_store_records()
    try:
        model = load_checkpoint(checkpoint or get_settings().model_path)
    except CheckpointError as exc:
        raise fail(str(exc)) from None
    report = cold_start_evaluation(model, users, jobs, interactions, k=k)
    table = Table(title=f"cold start: {report['users']} users ranked from their profile, k={k}")
    table.add_column("model")
    for key in (f"hr@{k}", f"ndcg@{k}"):
        table.add_column(f"{key} [95% interval]", justify="right")
    for name, metrics in report["models"].items():
        cells = []
        for key in (f"hr@{k}", f"ndcg@{k}"):
            low, high = metrics[key]["interval"]
            cells.append(f"{metrics[key]['mean']:.4f} [{low:.4f}, {high:.4f}]")
        table.add_row(name, *cells)
    console.print(table)
    ratio = report[f"convfm_hr@{k}_over_best_baseline"]
    if ratio is not None:
        console.print(f"convfm HR@{k} / best baseline's: {ratio:.2f}x")
    _write_report(report, json_out)


def _print_breakdown(split: dict, k: int) -> None:
    """One table per segment: NDCG@k [95% interval] of every model per label."""
    for segment, by_label in split.items():
        labels = list(by_label)
        table = Table(title=f"NDCG@{k} by {segment} (users; 95% interval)")
        table.add_column("model")
        for label in labels:
            some = next(iter(by_label[label].values()))
            table.add_column(f"{label} ({some['users']})", justify="right")
        for model in next(iter(by_label.values())):
            cells = []
            for label in labels:
                v = by_label[label][model][f"ndcg@{k}"]
                cells.append(
                    "-"
                    if v["value"] is None
                    else f"{v['value']:.3f} [{v['ci_low']:.3f}, {v['ci_high']:.3f}]"
                )
            table.add_row(model, *cells)
        console.print(table)


def _read_holdout(path: Path) -> list[tuple[str, str]]:
    from app.errors import SourceError
    from app.importers.tables import read_csv_strings

    try:
        table = read_csv_strings(path, strip=False)
        table.check_rows()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    except SourceError as exc:
        raise fail(exc.message) from None
    if table.missing({"user_id", "job_id"}):
        raise fail(f"{path}: the holdout CSV needs columns user_id,job_id")
    given = table.frame[(table.frame["user_id"] != "") & (table.frame["job_id"] != "")]
    users, jobs = given["user_id"].str.strip(), given["job_id"].str.strip()
    return list(zip(users.tolist(), jobs.tolist(), strict=True))


def _print_ablation_effects(effects: dict, k: int) -> None:
    """What each ablated branch adds to ConvFM, with its paired 95% interval."""
    if not effects:
        return
    table = Table(title="what each branch adds (ConvFM minus the ablation; 95% interval)")
    table.add_column("ablation")
    for key in (f"hr@{k}", f"ndcg@{k}"):
        table.add_column(key, justify="right")
    for name, by_key in effects.items():
        cells = [
            f"{v['mean']:+.4f} [{v['ci_low']:+.4f}, {v['ci_high']:+.4f}]"
            for v in (by_key[f"hr@{k}"], by_key[f"ndcg@{k}"])
        ]
        table.add_row(name, *cells)
    console.print(table)
