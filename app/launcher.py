"""The process `jobrec serve` becomes once it has checked its settings: uvicorn and the
workers, importing none of the model code itself.

With several workers this process is their supervisor: it stays small (about 40 MB,
not the 200 MB a process that has loaded torch and a checkpoint holds), and the
workers, which import the app, map one catalog snapshot between them.

    python -m app.launcher HOST PORT WORKERS LOG_LEVEL LOG_FORMAT
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.logs import configure_logging
from app.metrics import MULTIPROCESS_DIR

# uvicorn's supervisor pings each worker and kills one that does not answer in time
# (5 s by default). A worker that builds a large catalog (minutes at 1M jobs) answers
# from a thread of its own, but numpy holds the GIL while it sorts a million ids: on a
# busy machine that took longer than 5 s and the workers were killed and restarted
# over and over. A hung worker is still found, within a minute.
WORKER_HEALTHCHECK_SECONDS = 60


def main(argv: list[str]) -> None:
    import uvicorn

    host, port, workers, log_level, log_format = argv
    configure_logging(log_level, log_format)
    with _metrics_shared_by(int(workers)):
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=host,
            port=int(port),
            workers=int(workers),
            log_level=log_level,
            access_log=False,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        )


@contextmanager
def _metrics_shared_by(workers: int) -> Iterator[None]:
    """With several workers, /metrics sums every worker's values: they write them to
    PROMETHEUS_MULTIPROC_DIR (a fresh temporary folder unless set; a set one is emptied
    of the files of an earlier run), which the workers inherit."""
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


if __name__ == "__main__":
    main(sys.argv[1:])
