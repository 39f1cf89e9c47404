"""Catalog snapshots: a catalog built once, written to files that every worker maps.

A snapshot is the base part of a `Catalog` built for one checkpoint from one database:
the jobs' encoded features and the scorer's precomputed parts, the filter columns, the
id index, each job's update time, and the jobs themselves as JSON documents in one byte
array (`JobTable`), all `.npy` files (`ml.arrays`) that processes map copy-on-write, so
N workers hold one copy in RAM; `meta.json` says what it was built from.

`SnapshotStore.catalog` is how a process starts (and how the poller rebuilds a base that
its changes outgrew): under a file lock, so that one process builds while the others
wait and then map what it wrote, it takes the newest snapshot of this checkpoint and
database, checks that the store agrees with it on the jobs not changed since, and
applies those changed since as the catalog's delta; when there is no such snapshot, or
more changes than a delta holds, it builds the catalog from the store, writes it, and
maps that.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.repositories import CatalogJob, CatalogReader
from app.serving.catalog import (
    REFRESH_OVERLAP,
    Catalog,
    CatalogPart,
    Columns,
    RowIndex,
    TextColumn,
    UpdateTimes,
)
from app.serving.memory import release_memory
from ml.arrays import TextArray, as_tensors, prefixed, read_arrays, under, write_arrays
from ml.checkpoint import Checkpoint
from ml.features import EntityFeatures
from ml.locations import Place
from ml.records import JobRecord
from ml.scoring import CatalogScorer

log = logging.getLogger("jobrec.serving")

META_FILE = "meta.json"
KEEP = 6  # snapshots kept in a folder (the newest); older ones are removed
# What a job document holds, in order: a change to these fields makes older snapshots
# unreadable, so it is part of the format
RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(JobRecord))
DISPLAY_FIELDS = tuple(f.name for f in dataclasses.fields(CatalogJob))[2:]  # after updated_at
PLACE_FIELDS = tuple(f.name for f in dataclasses.fields(Place))
FORMAT = (
    "1-"
    + hashlib.sha1("|".join(RECORD_FIELDS + DISPLAY_FIELDS + PLACE_FIELDS).encode()).hexdigest()[:8]
)


class JobTable(Sequence[CatalogJob]):
    """Catalog jobs as JSON documents in one byte array, decoded when read: a request
    decodes the few jobs it shows, and the array can be mapped."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self.blob = blob  # uint8: the documents, one after the other
        self.offsets = offsets  # int64 [n + 1]: document i is blob[offsets[i] : offsets[i + 1]]

    @classmethod
    def encode(cls, jobs: Sequence[CatalogJob]) -> JobTable:
        documents = [json.dumps(_document(job), separators=(",", ":")).encode() for job in jobs]
        offsets = np.zeros(len(documents) + 1, dtype=np.int64)
        np.cumsum([len(d) for d in documents], out=offsets[1:])
        return cls(np.frombuffer(b"".join(documents), dtype=np.uint8), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @overload
    def __getitem__(self, index: int) -> CatalogJob: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[CatalogJob]: ...
    def __getitem__(self, index: int | slice) -> CatalogJob | Sequence[CatalogJob]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        start, stop = int(self.offsets[index]), int(self.offsets[index + 1])
        return _job(json.loads(self.blob[start:stop].tobytes()))


PLACE_AT = RECORD_FIELDS.index("place")
SKILLS_AT = RECORD_FIELDS.index("skills")


def _document(job: CatalogJob) -> list[Any]:
    """[*the record's fields (its place as a list), updated_at, *the display fields]."""
    record = [getattr(job.record, name) for name in RECORD_FIELDS]
    place = record[PLACE_AT]
    if place is not None:
        record[PLACE_AT] = [getattr(place, name) for name in PLACE_FIELDS]
    display = [getattr(job, name) for name in DISPLAY_FIELDS]
    return [*record, job.updated_at.isoformat(), *display]


def _job(document: list[Any]) -> CatalogJob:
    n = len(RECORD_FIELDS)
    record = document[:n]
    record[SKILLS_AT] = tuple(record[SKILLS_AT])
    if record[PLACE_AT] is not None:
        record[PLACE_AT] = Place(*record[PLACE_AT])
    return CatalogJob(JobRecord(*record), datetime.fromisoformat(document[n]), *document[n + 1 :])


# -- a part as arrays ------------------------------------------------------------------


def part_arrays(part: CatalogPart, updated: UpdateTimes) -> dict[str, Any]:
    """Everything of a base part, and its jobs' update times, as named arrays."""
    columns: dict[str, Any] = {}
    for name, value in vars(part.columns).items():
        if isinstance(value, TextColumn):
            columns |= {f"{name}.values": value.values, f"{name}.codes": value.codes}
        else:
            columns[name] = value
    table = part.jobs if isinstance(part.jobs, JobTable) else JobTable.encode(part.jobs)
    return {
        "ids": part.ids,
        **prefixed("features.", part.scorer.jobs.arrays()),
        **prefixed("scorer.", part.scorer.arrays()),
        **prefixed("columns.", columns),
        "rows.sorted_ids": part.rows.sorted_ids,
        "rows.order": part.rows.order,
        "jobs.blob": table.blob,
        "jobs.offsets": table.offsets,
        "updated": _aligned_micros(part, updated),
    }


def _aligned_micros(part: CatalogPart, updated: UpdateTimes) -> np.ndarray:
    """int64 per row of `part`: its update time, in microseconds (`updated` must know
    the part's jobs and no other: a fresh build)."""
    if updated.changes or not np.array_equal(updated.index.sorted_ids, part.rows.sorted_ids):
        raise ValueError("a snapshot is written from a fresh build of the active jobs")
    if updated.index is part.rows:
        return updated.micros
    aligned = np.empty(len(part.ids), dtype=np.int64)
    aligned[part.rows.order] = updated.micros[updated.index.order]
    return aligned


def load_part(arrays: Mapping[str, np.ndarray], checkpoint: Checkpoint) -> CatalogPart:
    """The part `part_arrays` wrote, on the (mapped) arrays themselves."""
    ids = arrays["ids"]
    features = EntityFeatures.from_arrays(TextArray(ids), as_tensors(under("features.", arrays)))
    columns = under("columns.", arrays)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Columns):
        if field.name in columns:
            values[field.name] = columns[field.name]
        else:
            codes = columns[f"{field.name}.codes"]
            values[field.name] = TextColumn(columns[f"{field.name}.values"], codes)
    scorer = CatalogScorer(
        checkpoint.model,
        checkpoint.space,
        features,
        prepared=as_tensors(under("scorer.", arrays)),
    )
    return CatalogPart(
        jobs=JobTable(arrays["jobs.blob"], arrays["jobs.offsets"]),
        ids=ids,
        scorer=scorer,
        columns=Columns(**values),
        rows=RowIndex(arrays["rows.sorted_ids"], arrays["rows.order"]),
    )


# -- the store -------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot's folder and what its meta.json says."""

    path: Path
    synced_at: datetime  # the store was read at this time (UTC)
    watermark: datetime | None  # the newest updated_at in it

    @classmethod
    def read(cls, path: Path) -> SnapshotInfo | None:
        """None for a folder that is no snapshot of this format."""
        try:
            meta = json.loads((path / META_FILE).read_text())
        except (OSError, ValueError):
            return None
        if meta.get("format") != FORMAT:
            return None
        watermark = meta["watermark"]
        return cls(
            path,
            datetime.fromisoformat(meta["synced_at"]),
            datetime.fromisoformat(watermark) if watermark else None,
        )


class SnapshotStore:
    """Catalog snapshots in `folder`, for every process that serves (see the module
    docstring). Safe across processes: writes go to a temporary folder renamed into
    place, and builds take an exclusive lock on `folder`/.lock."""

    def __init__(self, folder: Path, *, keep: int = KEEP) -> None:
        self.folder, self.keep = Path(folder), keep

    def catalog(
        self, checkpoint: Checkpoint, factory: sessionmaker[Session], *, max_delta: int
    ) -> tuple[Catalog, datetime]:
        """The catalog of the store's active jobs for `checkpoint`, and when the store
        was read: the newest usable snapshot with the changes since applied, or one
        built now and written."""
        with session_scope(factory) as session:
            url = session.get_bind().engine.url.render_as_string(hide_password=True)
        model = json.dumps(checkpoint.metadata, sort_keys=True, default=str)
        key = f"{_digest(model)}-{_digest(url)}"
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            newest = next(iter(self._snapshots(key)), None)
            found = newest and self._updated(newest, checkpoint, factory, max_delta)
            if found:
                return found
            started = time.perf_counter()
            synced_at = datetime.now(UTC)
            with session_scope(factory) as session:
                jobs = CatalogReader(session).jobs()
            built = Catalog.build(jobs, checkpoint.model, checkpoint.space)
            path = self._write(key, built, synced_at)
            del jobs, built
            release_memory()
            log.info(
                "catalog snapshot built in %.1f s: %s", time.perf_counter() - started, path.name
            )
            return self._load(path, checkpoint), synced_at

    def _updated(
        self,
        info: SnapshotInfo,
        checkpoint: Checkpoint,
        factory: sessionmaker[Session],
        max_delta: int,
    ) -> tuple[Catalog, datetime] | None:
        """The snapshot with the jobs changed since applied as a delta; None when they
        are more than a delta holds or the store disagrees on the jobs not changed."""
        synced_at = datetime.now(UTC)
        since = info.synced_at - REFRESH_OVERLAP
        catalog = self._load(info.path, checkpoint)
        with session_scope(factory) as session:
            reader = CatalogReader(session)
            versions = reader.versions(since)
            changed = [i for i, at in versions if not catalog.is_current(i, at)]
            if len(changed) > max_delta:
                return None
            # the jobs of the snapshot neither changed nor read back since must be the
            # store's active jobs from before `since` (else: another database at the
            # same URL, or rows deleted)
            current = len(versions) - len(changed)
            unchanged = len(catalog.base) - len(catalog.base.rows.rows(changed)) - current
            if reader.active_before(since) != unchanged:
                log.warning("catalog snapshot %s disagrees with the store", info.path.name)
                return None
            jobs = reader.jobs(changed) if changed else []
        model, space = checkpoint.model, checkpoint.space
        return catalog.apply(jobs, model, space, max_delta=max_delta), synced_at

    def _snapshots(self, key: str) -> list[SnapshotInfo]:
        """The readable snapshots of `key`, newest first."""
        found = [SnapshotInfo.read(path) for path in self.folder.glob(f"{key}-*")]
        return sorted((i for i in found if i), key=lambda i: i.synced_at, reverse=True)

    def _write(self, key: str, catalog: Catalog, synced_at: datetime) -> Path:
        stamp = synced_at.strftime("%Y%m%dT%H%M%S%f")
        final = self.folder / f"{key}-{stamp}"
        temporary = self.folder / f".tmp-{final.name}-{os.getpid()}"
        write_arrays(temporary, part_arrays(catalog.base, catalog.updated_at))
        meta = {
            "format": FORMAT,
            "synced_at": synced_at.isoformat(),
            "watermark": catalog.watermark.isoformat() if catalog.watermark else None,
            "size": len(catalog.base),  # for people: the arrays say it too
        }
        (temporary / META_FILE).write_text(json.dumps(meta, indent=1))
        os.replace(temporary, final)
        self._prune()
        return final

    def _load(self, path: Path, checkpoint: Checkpoint) -> Catalog:
        info = SnapshotInfo.read(path)
        if info is None:
            raise ValueError(f"{path} is no catalog snapshot")
        arrays = read_arrays(path)
        part = load_part(arrays, checkpoint)
        return Catalog(
            base=part,
            base_visible=np.ones(len(part), dtype=bool),
            delta=None,
            updated_at=UpdateTimes(part.rows, arrays["updated"], {}),
            watermark=info.watermark,
        )

    def _prune(self) -> None:
        """Keep the newest `keep` snapshots (a process that maps a removed one keeps
        its pages until it lets go) and drop temporary folders of failed writes."""
        snapshots = sorted(
            (p for p in self.folder.iterdir() if (p / META_FILE).is_file()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        hour_ago = time.time() - 3600
        stale = [p for p in self.folder.glob(".tmp-*") if p.stat().st_mtime < hour_ago]
        for path in snapshots[self.keep :] + stale:
            shutil.rmtree(path, ignore_errors=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.folder / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]
