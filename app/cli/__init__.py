"""The `jobrec` command line (see ../shared/CONTRACT.md and `jobrec --help`): the
commands of `data` (db, import), `model` (train, evaluate), `registry` (models) and
`serve`, on the groups of `common`."""

from __future__ import annotations

from app.cli import data, experiments, model, registry, serve
from app.cli.common import app

__all__ = ["app", "data", "experiments", "main", "model", "registry", "serve"]


def main() -> None:
    app()
