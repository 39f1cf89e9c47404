"""`jobrec tune --trials N`: search the hyper-parameters on the store's data (Optuna),
resumable, and write the best config as TOML (`ml.tuning`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.cli.common import app, console, fail, store_sessions


@app.command()
def tune(
    trials: Annotated[int, typer.Option(min=1, max=10_000, help="finished trials in all")],
    config: Annotated[
        Path | None, typer.Option(help="base TOML ([model], [features], [train])")
    ] = None,
    study: Annotated[
        Path, typer.Option(help="SQLite file of the study: run again to resume it")
    ] = Path("var/tune/study.db"),
    out: Annotated[Path, typer.Option(help="the best config, as TOML")] = Path(
        "var/tune/best.toml"
    ),
    progress: Annotated[bool, typer.Option(help="a line per trial")] = True,
) -> None:
    """Search hyper-parameters by validation NDCG@k; write the best config as TOML."""
    from app.services.training import training_records
    from ml.config import Config, ConfigError
    from ml.data import data_fingerprint
    from ml.train import say
    from ml.tuning import best_config, write_toml
    from ml.tuning import tune as run_search

    try:
        base = Config.load(config)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    users, jobs, interactions = training_records(store_sessions())
    if not interactions:
        raise fail("the store has no interactions to learn from: import data first")
    fingerprint = data_fingerprint(users, jobs, interactions)
    result = run_search(
        users,
        jobs,
        interactions,
        base,
        trials=trials,
        storage=study,
        fingerprint=fingerprint,
        progress=say if progress else lambda text: None,
    )
    complete = [t for t in result.trials if t.value is not None]
    if not complete:
        raise fail("no trial completed: see the lines above")
    best = result.best_trial
    key = f"ndcg@{base.train.eval_k}"
    table = Table(title=f"best of {len(result.trials)} trials: validation {key} {best.value:.4f}")
    table.add_column("parameter")
    table.add_column("value", justify="right")
    for name, value in sorted(best.params.items()):
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    write_toml(
        best_config(result, base),
        out,
        header=f"Found by `jobrec tune --trials {trials}` (study {result.study_name}, trial "
        f"{best.number}): validation {key} {best.value:.4f}.",
    )
    console.print(f"best config written to {out}")
