"""`jobrec serve`: the HTTP API under uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
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


def _become_the_server(host: str, port: int, workers: int, log_level: str, fmt: str) -> None:
    """Replace this process (which has imported the model code to check the
    checkpoint) by `app.launcher`, with MALLOC_TUNABLES set: glibc reads GLIBC_TUNABLES
    only at process start (one already set is left as it is), and a supervisor of
    several workers that never imported torch stays small."""
    env = dict(os.environ)
    if sys.platform == "linux":
        env.setdefault("GLIBC_TUNABLES", MALLOC_TUNABLES)
    sys.stderr.flush()
    command = [sys.executable, "-m", "app.launcher", host, str(port), str(workers)]
    os.execve(sys.executable, [*command, log_level, fmt], env)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address [HOST]")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="[PORT]")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="[WORKERS]")] = None,
) -> None:
    """Serve the HTTP API (OpenAPI page at /docs)."""
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
    _become_the_server(host, port, workers, settings.log_level, settings.log_format)


def _loopback(host: str) -> bool:
    """Whether `host` (a bind address or name) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
