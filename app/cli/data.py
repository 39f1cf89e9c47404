"""`jobrec db ...` (the schema) and `jobrec import ...` (loading data into the store)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import console, db_app, fail, import_app, store_sessions
from app.db import create_db_engine, session_scope
from app.settings import get_settings

if TYPE_CHECKING:  # the commands import what they use when they run (a fast --help)
    from rich.progress import TaskID
    from sqlalchemy.orm import Session, sessionmaker

    from app.importers import ImportResult, Progress


# -- db ----------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Migrate the database (DATABASE_URL) up to REVISION."""
    from app.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    console.print(f"database at revision {revision}")


@db_app.command("wait")
def db_wait(
    timeout: Annotated[float, typer.Option(min=0, help="give up after this many seconds")] = 60,
) -> None:
    """Wait until the database (DATABASE_URL) accepts connections."""
    import time

    from sqlalchemy import text

    engine = create_db_engine(get_settings().database_url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            console.print("database is up")
            return
        except Exception as exc:  # any connection failure: retry until the deadline
            if time.monotonic() > deadline:
                raise fail(
                    f"database not reachable after {timeout:g} s: {type(exc).__name__}"
                ) from None
            time.sleep(1)
        finally:
            engine.dispose()


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="target revision, e.g. base")) -> None:
    """Migrate the database down to REVISION."""
    from app.migrate import downgrade

    downgrade(get_settings().database_url, revision)
    console.print(f"database at revision {revision}")


# -- import ------------------------------------------------------------------------------


def _print_import(result: ImportResult) -> None:
    console.print(
        f"users {result.users}, jobs {result.jobs}, events read "
        f"{result.events_read}, events inserted {result.events_inserted}"
        + (f", skipped {result.skipped}" if result.skipped else "")
    )


@import_app.command("demo")
def import_demo_cmd(
    users: Annotated[
        int | None, typer.Option(min=1, max=1_000_000, help="[DEMO_USERS: 2000]")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option(min=1, max=1_000_000, help="[DEMO_JOBS: 1500]")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="[DEMO_SEED: 7]")] = None,
    if_empty: Annotated[bool, typer.Option(help="do nothing when the store has users")] = False,
) -> None:
    """Synthetic users u1..uN, jobs j1..jN and their interactions."""
    from app.importers.demo import import_demo
    from app.repositories import counts

    factory = store_sessions()
    if if_empty:
        with session_scope(factory) as session:
            if counts(session)["users"]:
                console.print("store already has data: demo import skipped")
                return
    settings = get_settings()
    with import_progress("demo") as progress:
        result = import_demo(
            factory,
            users=users or settings.demo_users,
            jobs=jobs or settings.demo_jobs,
            seed=settings.demo_seed if seed is None else seed,
            progress=progress,
        )
    _print_import(result)


@contextmanager
def import_progress(label: str) -> Iterator[Progress]:
    """A bar per table written (jobs, users, events) while an import runs, and a status
    line before the first write (reading, validating or generating)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    status = console.status(f"reading {label}")
    status.start()
    bars = Bars(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    tasks: dict[str, TaskID] = {}

    def heard(table: str, done: int, total: int) -> None:
        if not tasks:
            status.stop()
            bars.start()
        if table not in tasks:
            tasks[table] = bars.add_task(f"writing {table}", total=total)
        bars.update(tasks[table], completed=done)

    try:
        yield heard
    finally:
        status.stop()
        bars.stop()


def _run_import(
    label: str, load: Callable[[sessionmaker[Session], Progress], ImportResult]
) -> None:
    from app.errors import SourceError

    factory = store_sessions()
    try:
        with import_progress(label) as progress:
            result = load(factory, progress)
    except SourceError as exc:
        raise fail(exc.message) from None
    _print_import(result)


@import_app.command("job-views")
def import_job_views_cmd(
    directory: Annotated[
        Path,
        typer.Argument(
            help="folder with Jobs.csv, Job_Views.csv, Experience.csv, Positions_Of_Interest.csv"
        ),
    ],
) -> None:
    """The raw files of the job-views export (../shared/data/job_views)."""
    from app.importers.job_views import import_job_views

    _run_import(str(directory), lambda factory, bar: import_job_views(factory, directory, bar))


@import_app.command("glassdoor")
def import_glassdoor_cmd(
    file: Annotated[Path, typer.Argument(help="glassdoor_jobs.csv")],
) -> None:
    """Glassdoor postings: salary strings parsed and annualised, skills extracted."""
    from app.importers.glassdoor import import_glassdoor

    _run_import(str(file), lambda factory, bar: import_glassdoor(factory, file, bar))


@import_app.command("dataset")
def import_dataset_cmd(
    directory: Annotated[
        Path,
        typer.Argument(help="folder with jobs.csv, users.csv, interactions.csv (docs/dataset.md)"),
    ],
) -> None:
    """The canonical format: validated as a whole, then written (all or nothing)."""
    from app.importers.dataset import import_dataset

    _run_import(str(directory), lambda factory, bar: import_dataset(factory, directory, bar))
