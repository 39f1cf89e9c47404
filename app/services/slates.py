"""The slate log: every served answer is written to the store in batches, off the
request path.

A request only puts its slate on a bounded queue; one writer thread takes what has
gathered (up to `batch_size`, at least every `flush_seconds`) and writes it in one
transaction. A full queue makes the request write its own slate at once (slower, never
dropped); a failed batch is retried until it is written or the log is closed; `close`
drains the queue. Only a slate that cannot be written at all (the store down and the
queue full, or at close) is lost, and that is logged and counted.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.repositories.slates import SlateRepository, SlateRow

log = logging.getLogger("jobrec.slates")
_WAKE = SlateRow("", "", "", (), {}, datetime.min)  # put by `close`: the writer stops waiting
RETRY_SECONDS = 1.0  # between attempts at a batch the store refused


class SlateLog:
    """Thread-safe; `log` never blocks on the store unless the queue is full."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        batch_size: int,
        flush_seconds: float,
        max_queue: int,
    ) -> None:
        self.factory = factory
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self._queue: queue.Queue[SlateRow] = queue.Queue(max_queue)
        self._closing = threading.Event()
        self.written = 0  # slates in the store, by this log
        self.direct = 0  # of those, written by the request itself (the queue was full)
        self.lost = 0  # slates that could not be written (logged)
        self._counts = threading.Lock()
        self._writer = threading.Thread(target=self._run, name="slate-log", daemon=True)
        self._writer.start()

    def log(self, slate: SlateRow) -> None:
        """Queue `slate` for the next batch; with the queue full (or the log closed),
        write it now."""
        if self._closing.is_set():
            self._write_now(slate)
            return
        try:
            self._queue.put_nowait(slate)
        except queue.Full:
            self._write_now(slate)

    def _write_now(self, slate: SlateRow) -> None:
        try:
            self._write([slate])
        except SQLAlchemyError as exc:
            self._lose(1, exc)
        else:
            with self._counts:
                self.direct += 1

    def flush(self) -> None:
        """Return once every slate queued before the call is in the store (or lost)."""
        self._queue.join()

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued (for up to `timeout` seconds), then stop the writer."""
        self._closing.set()
        with contextlib.suppress(queue.Full):  # a full queue keeps the writer busy anyway
            self._queue.put_nowait(_WAKE)
        self._writer.join(timeout)
        left = 0
        while True:  # what the writer did not reach in time
            try:
                left += self._queue.get_nowait() is not _WAKE
            except queue.Empty:
                break
        if left:
            self._lose(left, None)

    # -- the writer thread -----------------------------------------------------------

    def _run(self) -> None:
        while True:
            closing = self._closing.is_set()  # then take what is left without waiting
            batch = self._take(wait=not closing)
            if batch:
                self._write_batch(batch)
            elif closing:
                return

    def _take(self, wait: bool = True) -> list[SlateRow]:
        """The slates that gathered: waits up to `flush_seconds` for the first."""
        try:
            batch = [self._queue.get(block=wait, timeout=self.flush_seconds if wait else None)]
        except queue.Empty:
            return []
        while len(batch) < self.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if any(slate is _WAKE for slate in batch):
            self._queue.task_done()
            batch = [slate for slate in batch if slate is not _WAKE]
        return batch

    def _write_batch(self, batch: list[SlateRow]) -> None:
        failed = False
        while True:
            try:
                self._write(batch)
            except SQLAlchemyError as exc:
                if self._closing.is_set():
                    self._lose(len(batch), exc)
                    break
                if not failed:
                    log.warning("writing %d slates failed, retrying: %s", len(batch), exc)
                failed = True
                time.sleep(RETRY_SECONDS)
            else:
                if failed:
                    log.info("slates are written again")
                break
        for _ in batch:
            self._queue.task_done()

    def _write(self, slates: list[SlateRow]) -> None:
        with session_scope(self.factory) as session:
            SlateRepository(session).add(slates)
        with self._counts:
            self.written += len(slates)

    def _lose(self, n: int, exc: Exception | None) -> None:
        with self._counts:
            self.lost += n
        log.error("%d slates were not written: %s", n, exc or "the log closed first")
