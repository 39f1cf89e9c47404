"""The `jobrec` command line (see ../shared/CONTRACT.md and `jobrec --help`): the
commands of `data` (db, import), `model` (train, evaluate), `registry` (models) and
`serve`, on the groups of `common`."""

from __future__ import annotations

from app.cli import data, evaluate, experiments, model, registry, serve, tune
from app.cli.common import app

__all__ = ["app", "data", "evaluate", "experiments", "main", "model", "registry", "serve", "tune"]


def main() -> None:
    app()
