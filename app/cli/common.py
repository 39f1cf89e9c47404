"""What every `jobrec` command shares: the command groups, the console, errors and the
store's session factory."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from app.db import create_db_engine, session_factory
from app.settings import get_settings

if TYPE_CHECKING:  # the commands import what they use when they run (a fast --help)
    from sqlalchemy.orm import Session, sessionmaker


app = typer.Typer(
    help="ConvFM job recommendations: store, training, evaluation, API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
import_app = typer.Typer(help="Load data into the store (idempotent).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
# Wide enough for the metrics table when output is not a terminal (CI logs, pipes).
console = Console(stderr=True, width=max(160, shutil.get_terminal_size((160, 24)).columns))


def fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def store_sessions() -> sessionmaker[Session]:
    """Sessions on the configured store; exits with a clear error before its schema exists."""
    settings = get_settings()
    engine = create_db_engine(settings.database_url)
    from app.migrate import is_migrated

    if not is_migrated(engine):
        raise fail(
            f"the database at {engine.url.render_as_string(hide_password=True)} has "
            "no schema yet: run `jobrec db upgrade` first"
        )
    return session_factory(engine)
