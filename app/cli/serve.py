"""`jobrec serve`: the HTTP API under uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import app, fail, store_sessions
from app.logs import configure_logging
from app.settings import get_settings

# Each request allocates a few large temporary tensors (tens of MB at 1M jobs). Above
# glibc's default mmap threshold (<= 32 MB), or in a thread's own arena (64 MB heaps,
# given back when emptied), every one is fresh memory the kernel zero-fills page by
# page (about 15 ms per 44 MB here; the scoring thread ran 2x slower than the main
# thread). One arena and a high mmap threshold keep them on the heap, reused from one
# request to the next.
MALLOC_TUNABLES = (
    "glibc.malloc.mmap_threshold=1073741824:"
    "glibc.malloc.trim_threshold=1073741824:glibc.malloc.arena_max=1"
)


def _reexec_with_malloc_tunables() -> None:
    """glibc reads GLIBC_TUNABLES only at process start: run `jobrec serve` again with
    MALLOC_TUNABLES set (once; a GLIBC_TUNABLES already set is left as it is)."""
    if (
        sys.platform != "linux" or "GLIBC_TUNABLES" in os.environ or sys.argv[1:2] != ["serve"]
    ):  # not a `jobrec serve` process (a test runner)
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
    store_sessions()  # the schema must exist
    try:  # fail here, clearly, rather than inside a worker
        load_checkpoint(settings.model_path)
    except CheckpointError as exc:
        raise fail(
            f"{exc}\n  train one with `jobrec train --out {settings.model_path}` or set MODEL_PATH"
        ) from None
    workers, host, port = workers or settings.workers, host or settings.host, port or settings.port
    configure_logging(settings.log_level, settings.log_format)
    if settings.api_key is None and not _loopback(host):
        logging.getLogger("jobrec").warning(
            "API_KEY is not set and the server listens on %s: anyone who reaches port %d "
            "can write users, jobs and events and reload the model. Set API_KEY (clients "
            "then send X-API-Key), or listen on loopback only (HOST=127.0.0.1).",
            host,
            port,
        )
    with _metrics_shared_by(workers):
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
            access_log=False,
        )


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
