"""`jobrec models ...`: the model registry (list, register, promote, retire)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from app.cli.common import app, console, fail, store_sessions
from app.errors import JobrecError
from app.settings import get_settings

if TYPE_CHECKING:
    from app.services.registry import ModelRegistry

models_app = typer.Typer(help="The model registry.", no_args_is_help=True)
app.add_typer(models_app, name="models")


def _registry() -> ModelRegistry:
    from app.services.registry import ModelRegistry

    return ModelRegistry(store_sessions(), get_settings().model_registry_dir)


@models_app.command("list")
def list_models() -> None:
    """Registered versions (newest first) and the baselines."""
    from app.services.registry import BASELINES

    table = Table(title="models")
    for column in ("version", "status", "registered", "promoted", "NDCG@10"):
        table.add_column(column)
    for row in _registry().versions():
        ndcg = row.metrics.get("metrics", {}).get("ndcg@10")
        table.add_row(
            row.version,
            row.status,
            f"{row.registered_at:%Y-%m-%d %H:%M}",
            f"{row.promoted_at:%Y-%m-%d %H:%M}" if row.promoted_at else "",
            f"{ndcg:.4f}" if isinstance(ndcg, float) else "",
        )
    for name in BASELINES:
        table.add_row(name, "baseline", "", "", "")
    typer.echo(_render(table))


def _render(table: Table) -> str:
    with console.capture() as capture:
        console.print(table)
    return capture.get()


@models_app.command("register")
def register(
    path: Annotated[Path, typer.Argument(help="a checkpoint directory (jobrec train --out)")],
) -> None:
    """Register the checkpoint at PATH as a version (a copy in MODEL_REGISTRY_DIR)."""
    try:
        row, created = _registry().register(path)
    except JobrecError as exc:
        raise fail(exc.message) from None
    typer.echo(f"{'registered' if created else 'already registered'}: {row.version}")


@models_app.command("promote")
def promote(version: Annotated[str, typer.Argument(help="a registered version")]) -> None:
    """Serve VERSION in production (every worker switches within CATALOG_REFRESH_SECONDS)."""
    _change("promote", version, "in production")


@models_app.command("retire")
def retire(version: Annotated[str, typer.Argument(help="a registered version")]) -> None:
    """Retire VERSION (not the production one)."""
    _change("retire", version, "retired")


def _change(action: str, version: str, done: str) -> None:
    """Promote or retire `version`, saying what happened (or why not)."""
    registry = _registry()
    try:
        row = registry.promote(version) if action == "promote" else registry.retire(version)
    except JobrecError as exc:
        raise fail(exc.message) from None
    typer.echo(f"{done}: {row.version}")
