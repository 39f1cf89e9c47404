"""Ranked results kept for repeated requests (`ResultCache`).

A platform asks again for what it asked a moment ago: a page reload, the next page of a
feed, a retry. Scoring the whole catalog again gives the same answer as long as nothing
it depends on has changed: the model, the catalog snapshot, and the user's profile and
events. So a worker keeps each answer until one of those changes:

* the model or the catalog: a `ResultCache` belongs to one (checkpoint, catalog) pair,
  and the recommender starts an empty one when either changes;
* the user: `evict` drops their entries at once for a write this worker made (PUT
  /users, POST /events), and the recommender's poll of the store (every
  CATALOG_REFRESH_SECONDS, with the catalog's) for writes other workers or imports made.

A request that was being scored while its user changed is not stored: `ticket` (taken
before the user's data is read) orders every read against every eviction.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from app.repositories import CatalogJob
from app.serving.explanations import JobExplanation
from ml.records import UserRecord

T = TypeVar("T")


@dataclass(frozen=True)
class Kept:
    """A kept answer: whether the user was scored from a profile alone, and the ranked
    jobs with their scores, best first."""

    cold_start: bool
    jobs: list[tuple[CatalogJob, float]]
    explanations: list[JobExplanation] | None = None  # per job, when asked for


@dataclass(frozen=True)
class StoredUser:
    """A user as the store holds them: their record with the history the model reads,
    and the ids of every job they interacted with (excluded from their answers)."""

    version: tuple[object, ...]  # `UserRepository.version` when it was read
    record: UserRecord
    seen: frozenset[str]


class ResultCache(Generic[T]):
    """Results by request key for one serving state, least recently used out past
    `capacity`. Thread-safe; every operation is a few dict operations under one lock.

    >>> cache = ResultCache(owner="state", capacity=2)
    >>> ticket = cache.ticket()
    >>> cache.put("u1 k=10", "u1", ticket, ["j3", "j1"])
    True
    >>> cache.get("u1 k=10")
    ['j3', 'j1']
    >>> cache.evict(["u1"]); cache.get("u1 k=10") is None
    True
    >>> cache.put("u1 k=10", "u1", ticket, ["j3"])  # read before the eviction: stale
    False
    """

    def __init__(self, owner: object, capacity: int) -> None:
        self.owner = owner  # what the results were computed from (compared by identity)
        self.capacity = capacity
        self._lock = threading.Lock()
        # key -> (user, value); user id -> their keys
        self._entries: OrderedDict[Hashable, tuple[str, T]] = OrderedDict()
        self._keys_of: dict[str, set[Hashable]] = {}
        # user id -> sequence number of their last eviction; forgotten past `capacity`
        # users by raising `_floor` (results read before it are then never stored)
        self._evicted: dict[str, int] = {}
        self._sequence = 0
        self._floor = 0

    def __len__(self) -> int:
        return len(self._entries)

    def ticket(self) -> int:
        """Take one before reading what a result depends on; `put` it with the result."""
        with self._lock:
            return self._sequence

    def get(self, key: Hashable) -> T | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, user_id: str, ticket: int, value: T) -> bool:
        """Keep `value` unless the user was evicted after `ticket` was taken (then it
        may be stale). Returns whether it was kept."""
        if self.capacity <= 0:
            return False
        with self._lock:
            if ticket < self._floor or self._evicted.get(user_id, -1) > ticket:
                return False
            if key not in self._entries:
                self._keys_of.setdefault(user_id, set()).add(key)
            self._entries[key] = (user_id, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                old_key, (old_user, _) = self._entries.popitem(last=False)
                self._forget(old_user, old_key)
            return True

    def evict(self, user_ids: Iterable[str]) -> None:
        """Drop every result of these users; results of theirs being computed now are
        not stored."""
        with self._lock:
            self._sequence += 1
            for user_id in user_ids:
                for key in self._keys_of.pop(user_id, ()):
                    del self._entries[key]
                self._evicted[user_id] = self._sequence
            if len(self._evicted) > self.capacity:
                self._evicted.clear()
                self._floor = self._sequence

    def _forget(self, user_id: str, key: Hashable) -> None:
        keys = self._keys_of[user_id]
        keys.discard(key)
        if not keys:
            del self._keys_of[user_id]
