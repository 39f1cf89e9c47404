"""Secrets the workers share, made once by whichever asks first."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from app import models as m
from app.repositories.base import Repository


class SecretRepository(Repository):
    def get_or_create(self, name: str, make: Callable[[], str]) -> str:
        """The secret called `name`; the first caller stores `make()`, every later or
        racing caller reads that one back."""
        table = m.table(m.ServiceSecret)
        self.session.execute(
            self._insert(table)
            .values(name=name, value=make())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        value = self.session.scalar(
            select(m.ServiceSecret.value).where(m.ServiceSecret.name == name)
        )
        assert value is not None
        return value
