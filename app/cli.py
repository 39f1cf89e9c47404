"""The `jobrec` command line (see ../shared/CONTRACT.md and `jobrec --help`)."""

from __future__ import annotations

import csv
import ipaddress
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.db import create_db_engine, session_factory, session_scope
from app.logs import configure_logging
from app.settings import get_settings

if TYPE_CHECKING:  # the commands import what they use when they run (a fast --help)
    from sqlalchemy.orm import Session, sessionmaker

    from app.importers import ImportResult
    from ml.records import Interaction, JobRecord, UserRecord

app = typer.Typer(help="ConvFM job recommendations: store, training, evaluation, API.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
import_app = typer.Typer(help="Load data into the store (idempotent).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
# Wide enough for the metrics table when output is not a terminal (CI logs, pipes).
console = Console(stderr=True, width=max(160, shutil.get_terminal_size((160, 24)).columns))


def fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _factory() -> sessionmaker[Session]:
    settings = get_settings()
    engine = create_db_engine(settings.database_url)
    from app.migrate import is_migrated

    if not is_migrated(engine):
        raise fail(f"the database at {engine.url.render_as_string(hide_password=True)} has "
                   "no schema yet: run `jobrec db upgrade` first")
    return session_factory(engine)


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
                raise fail(f"database not reachable after {timeout:g} s: "
                           f"{type(exc).__name__}") from None
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
    console.print(f"users {result.users}, jobs {result.jobs}, events read "
                  f"{result.events_read}, events inserted {result.events_inserted}"
                  + (f", skipped {result.skipped}" if result.skipped else ""))


@import_app.command("demo")
def import_demo_cmd(
    users: Annotated[int | None, typer.Option(min=1, max=1_000_000,
                                              help="[DEMO_USERS: 2000]")] = None,
    jobs: Annotated[int | None, typer.Option(min=1, max=1_000_000,
                                             help="[DEMO_JOBS: 1500]")] = None,
    seed: Annotated[int | None, typer.Option(help="[DEMO_SEED: 7]")] = None,
    if_empty: Annotated[bool, typer.Option(help="do nothing when the store has users")] = False,
) -> None:
    """Synthetic users u1..uN, jobs j1..jN and their interactions."""
    from app.importers.demo import import_demo
    from app.repositories import counts

    factory = _factory()
    if if_empty:
        with session_scope(factory) as session:
            if counts(session)["users"]:
                console.print("store already has data: demo import skipped")
                return
    with console.status("generating and importing the demo data"):
        settings = get_settings()
        result = import_demo(factory, users=users or settings.demo_users,
                             jobs=jobs or settings.demo_jobs,
                             seed=settings.demo_seed if seed is None else seed)
    _print_import(result)


def _run_import(label: str, load: Callable[[sessionmaker[Session]], ImportResult]) -> None:
    from app.errors import SourceError

    factory = _factory()
    try:
        with console.status(f"importing {label}"):
            result = load(factory)
    except SourceError as exc:
        raise fail(exc.message) from None
    _print_import(result)


@import_app.command("job-views")
def import_job_views_cmd(
    directory: Annotated[Path, typer.Argument(help="folder with Jobs.csv, Job_Views.csv, "
                                                   "Experience.csv, Positions_Of_Interest.csv")],
) -> None:
    """The raw files of the job-views export (../shared/data/job_views)."""
    from app.importers.job_views import import_job_views

    _run_import(str(directory), lambda factory: import_job_views(factory, directory))


@import_app.command("glassdoor")
def import_glassdoor_cmd(
    file: Annotated[Path, typer.Argument(help="glassdoor_jobs.csv")],
) -> None:
    """Glassdoor postings: salary strings parsed and annualised, skills extracted."""
    from app.importers.glassdoor import import_glassdoor

    _run_import(str(file), lambda factory: import_glassdoor(factory, file))


@import_app.command("dataset")
def import_dataset_cmd(
    directory: Annotated[Path, typer.Argument(help="folder with jobs.csv, users.csv, "
                                                   "interactions.csv (docs/dataset.md)")],
) -> None:
    """The canonical format: validated as a whole, then written (all or nothing)."""
    from app.importers.dataset import import_dataset

    _run_import(str(directory), lambda factory: import_dataset(factory, directory))


# -- train / evaluate -----------------------------------------------------------------------


def _load_records() -> tuple[list[UserRecord], list[JobRecord], list[Interaction]]:
    from app.services.training import training_records

    return training_records(_factory())


@app.command()
def train(
    out: Annotated[Path | None, typer.Option(help="checkpoint directory [MODEL_PATH]")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML file ([model], [features], "
                                                     "[train])")] = None,
    embedding_dim: int | None = None,
    conv_filters: int | None = None,
    conv_kernel_size: int | None = None,
    dropout_rate: float | None = None,
    hidden_dims: Annotated[str | None, typer.Option(help="comma separated, e.g. 128,64,32")]
    = None,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    epochs: int | None = None,
    patience: int | None = None,
    negative_ratio: int | None = None,
    id_dropout: float | None = None,
    seed: int | None = None,
    ablations: Annotated[str | None, typer.Option(
        help="comma separated of no_conv,no_fm,no_deep; 'none' for none")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Train ConvFM on the store; write the checkpoint, report.json and learning_curve.png."""
    from ml.config import Config, ConfigError
    from ml.experiment import run_training

    overrides = {
        "model.embedding_dim": embedding_dim, "model.conv_filters": conv_filters,
        "model.conv_kernel_size": conv_kernel_size, "model.dropout_rate": dropout_rate,
        "model.hidden_dims": _int_list(hidden_dims), "train.learning_rate": learning_rate,
        "train.batch_size": batch_size, "train.epochs": epochs, "train.patience": patience,
        "train.negative_ratio": negative_ratio, "train.id_dropout": id_dropout,
        "train.seed": seed,
        "train.ablations": (None if ablations is None else
                            [] if ablations.strip() in ("", "none") else
                            [a.strip() for a in ablations.split(",")]),
    }
    try:
        cfg = Config.load(config, **overrides)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    users, jobs, interactions = _load_records()
    if not interactions:
        raise fail("the store has no interactions to learn from: run `jobrec import demo` "
                   "(or another import) first")
    out = out or get_settings().model_path
    report = run_training(users, jobs, interactions, cfg, out, progress=progress)
    _print_report(report, title=f"test split, k={report['k']} ({report['data']['test_users']} "
                                f"users)")
    console.print(f"checkpoint {report['model_version']} written to {out} "
                  f"(train {report['seconds']['train']} s, total {report['seconds']['total']} s)")


def _int_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise fail(f"--hidden-dims must be comma-separated integers, got {text!r}", 2) from None


@app.command()
def evaluate(
    checkpoint: Annotated[Path | None, typer.Option(help="checkpoint directory [MODEL_PATH]")]
    = None,
    holdout: Annotated[Path | None, typer.Option(help="CSV with columns user_id,job_id")] = None,
    k: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the report here "
                                                                 "('-' for stdout)")] = None,
) -> None:
    """Full-ranking offline evaluation of a checkpoint, its ablations and the baselines."""
    from ml.checkpoint import CheckpointError
    from ml.experiment import run_evaluation

    pairs = _read_holdout(holdout) if holdout else None
    users, jobs, interactions = _load_records()
    try:
        report = run_evaluation(checkpoint or get_settings().model_path, users, jobs,
                                interactions, holdout=pairs, k=k)
    except CheckpointError as exc:
        raise fail(str(exc)) from None
    if not report["data_matches_training"] and holdout is None:
        console.print("[yellow]warning:[/] the store changed since this checkpoint was "
                      "trained; its leave-last-out split may overlap the training data")
    _print_report(report, title=f"{report['protocol']}, k={k} ({report['users']} users)")
    if json_out is not None:
        text = json.dumps(report, indent=1)
        if str(json_out) == "-":
            sys.stdout.write(text + "\n")
        else:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(text)
            console.print(f"report written to {json_out}")


def _read_holdout(path: Path) -> list[tuple[str, str]]:
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"user_id", "job_id"} <= set(reader.fieldnames):
                raise fail(f"{path}: the holdout CSV needs columns user_id,job_id")
            return [(row["user_id"].strip(), row["job_id"].strip()) for row in reader
                    if row["user_id"] and row["job_id"]]
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None


def _print_report(report: dict, title: str) -> None:
    from ml.metrics import metric_keys

    k = report["k"]
    main = report.get("metrics", report)
    rows = {"convfm": main, **{f"baseline: {n}": v for n, v in report["baselines"].items()},
            **{f"ablation: {n}": v for n, v in report["ablations"].items()}}
    table = Table(title=title)
    table.add_column("model")
    keys = metric_keys(k)
    for key in keys:
        table.add_column(key, justify="right")
    for name, metrics in rows.items():
        table.add_row(name, *(f"{metrics[key]:.4f}" for key in keys))
    console.print(table)


# Each request allocates a few large temporary tensors (tens of MB at 1M jobs). Above
# glibc's default mmap threshold (<= 32 MB), or in a thread's own arena (64 MB heaps,
# given back when emptied), every one is fresh memory the kernel zero-fills page by
# page (about 15 ms per 44 MB here; the scoring thread ran 2x slower than the main
# thread). One arena and a high mmap threshold keep them on the heap, reused from one
# request to the next.
MALLOC_TUNABLES = ("glibc.malloc.mmap_threshold=1073741824:"
                   "glibc.malloc.trim_threshold=1073741824:glibc.malloc.arena_max=1")


def _reexec_with_malloc_tunables() -> None:
    """glibc reads GLIBC_TUNABLES only at process start: run `jobrec serve` again with
    MALLOC_TUNABLES set (once; a GLIBC_TUNABLES already set is left as it is)."""
    if (sys.platform != "linux" or "GLIBC_TUNABLES" in os.environ
            or sys.argv[1:2] != ["serve"]):  # not a `jobrec serve` process (a test runner)
        return
    os.environ["GLIBC_TUNABLES"] = MALLOC_TUNABLES
    # the same command line: the `jobrec` script, or `python -m app.cli`
    script = [sys.argv[0]] if Path(sys.argv[0]).name == "jobrec" else ["-m", "app.cli"]
    os.execv(sys.executable, [sys.executable, *script, *sys.argv[1:]])


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address [HOST]")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="[PORT]")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="[WORKERS]")] = None,
) -> None:
    """Serve the HTTP API (OpenAPI page at /docs)."""
    _reexec_with_malloc_tunables()
    import uvicorn

    from ml.checkpoint import CheckpointError, load_checkpoint

    settings = get_settings()
    _factory()  # the schema must exist
    try:  # fail here, clearly, rather than inside a worker
        load_checkpoint(settings.model_path)
    except CheckpointError as exc:
        raise fail(f"{exc}\n  train one with `jobrec train --out {settings.model_path}` "
                   "or set MODEL_PATH") from None
    workers, host, port = workers or settings.workers, host or settings.host, \
        port or settings.port
    configure_logging(settings.log_level, settings.log_format)
    if settings.api_key is None and not _loopback(host):
        logging.getLogger("jobrec").warning(
            "API_KEY is not set and the server listens on %s: anyone who reaches port %d "
            "can write users, jobs and events and reload the model. Set API_KEY (clients "
            "then send X-API-Key), or listen on loopback only (HOST=127.0.0.1).", host, port)
    with _metrics_shared_by(workers):
        uvicorn.run("app.main:create_app", factory=True, host=host, port=port,
                    workers=workers, log_level=settings.log_level, access_log=False)


def _loopback(host: str) -> bool:
    """Whether `host` (a bind address or name) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@contextmanager
def _metrics_shared_by(workers: int) -> Iterator[None]:
    """With several workers, /metrics sums every worker's values: they write them to
    PROMETHEUS_MULTIPROC_DIR (a fresh temporary folder unless set; a set one is emptied
    of the files of an earlier run), which the workers inherit."""
    from app.metrics import MULTIPROCESS_DIR

    given = os.environ.get(MULTIPROCESS_DIR)
    if workers == 1 and not given:
        yield
        return
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="jobrec-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROCESS_DIR] = str(folder)
    try:
        yield
    finally:
        if not given:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
