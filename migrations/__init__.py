"""Alembic migrations: the only way the schema changes (`jobrec db upgrade`)."""

from pathlib import Path

SCRIPT_LOCATION = Path(__file__).resolve().parent
