"""Helpers shared by the benchmarks: a throw-away store and a description of the machine."""

from __future__ import annotations

import os
import platform
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch

from app.db import create_db_engine, session_factory
from app.migrate import upgrade
from app.services.training import training_records

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def temporary_store(prefix: str = "jobrec-bench-"):
    """(database URL, session factory, folder) of a migrated SQLite store, removed after."""
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        url = f"sqlite:///{Path(folder) / 'store.db'}"
        upgrade(url)
        engine = create_db_engine(url)
        try:
            yield url, session_factory(engine), Path(folder)
        finally:
            engine.dispose()


def load_records(factory):
    return training_records(factory)


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
