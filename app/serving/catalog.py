"""The in-memory catalog of active jobs that serving ranks, and its refresh.

A `Catalog` is an immutable snapshot: a large `CatalogPart` built at start-up (base)
and a small one holding the jobs changed since (delta), with a mask hiding base rows
that the delta replaces or that were deactivated. Applying a change builds a new delta
(milliseconds) and swaps the snapshot; when the delta grows past `max_delta` jobs, base
and delta are merged into a new base (the kept jobs' encoded features are reused).
Requests read one snapshot from start to end.

Each part keeps the jobs' model features, a `CatalogScorer` with the job-only work done,
and numpy columns for vectorised filters.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import torch

from app.repositories import CatalogJob
from ml.features import EntityFeatures, FeatureSpace
from ml.model import ConvFM
from ml.scoring import CatalogScorer
from ml.text import fold, name_key


@dataclass(frozen=True)
class TextColumn:
    """A text column, dictionary-encoded: row i holds `values[codes[i]]`. Filters compare
    the int32 codes, not fixed-width unicode strings (a region filter over 95k jobs:
    0.009 against 0.47 ms)."""

    values: np.ndarray  # str, the distinct values, sorted
    codes: np.ndarray  # int32 per row

    @classmethod
    def of(cls, texts: Iterable[str]) -> TextColumn:
        values, codes = np.unique(np.array(list(texts), dtype=str), return_inverse=True)
        return cls(values, codes.astype(np.int32))

    def __len__(self) -> int:
        return len(self.codes)

    def equals(self, text: str) -> np.ndarray:
        """bool per row: the row's text is `text`."""
        if not self.contains(text):
            return np.zeros(len(self.codes), dtype=bool)
        return self.codes == int(np.searchsorted(self.values, text))

    def contains(self, text: str) -> bool:
        """Whether some row holds `text`."""
        at = int(np.searchsorted(self.values, text))
        return at < len(self.values) and self.values[at] == text

    def isin(self, texts: Iterable[str]) -> np.ndarray:
        """bool per row: the row's text is one of `texts`."""
        wanted = np.isin(self.values, list(texts))  # per distinct value
        return wanted[self.codes]


@dataclass(frozen=True)
class RowIndex:
    """Rows by job id, by binary search over the sorted ids: plain arrays (a snapshot's
    are memory-mapped and shared), where a dict of a million ids costs each worker
    about 100 MB."""

    sorted_ids: np.ndarray  # str
    order: np.ndarray  # int64: the row of each sorted id

    @classmethod
    def of(cls, ids: np.ndarray) -> RowIndex:
        order = np.argsort(ids, kind="stable")
        return cls(ids[order], order)

    def get(self, job_id: str) -> int | None:
        """The row of `job_id`, or None."""
        at = int(np.searchsorted(self.sorted_ids, job_id))
        if at < len(self.sorted_ids) and self.sorted_ids[at] == job_id:
            return int(self.order[at])
        return None

    def __contains__(self, job_id: object) -> bool:
        return isinstance(job_id, str) and self.get(job_id) is not None

    def rows(self, job_ids: Iterable[str]) -> np.ndarray:
        """int64: the rows of those of `job_ids` that are here (in no set order)."""
        wanted = np.array(list(job_ids), dtype=str)
        if not len(wanted) or not len(self.sorted_ids):
            return np.zeros(0, dtype=np.int64)
        at = np.searchsorted(self.sorted_ids, wanted).clip(max=len(self.sorted_ids) - 1)
        return self.order[at[self.sorted_ids[at] == wanted]]


@dataclass(frozen=True)
class Columns:
    """A part's filter columns, row-aligned: salaries per year in US dollars (NaN: not
    stated), the remote flag, the place (folded texts; coordinates in degrees, NaN where
    unknown), the company (name key) and the employment type."""

    annual_min_usd: np.ndarray  # float64
    annual_max_usd: np.ndarray  # float64
    remote: np.ndarray  # bool
    city: TextColumn
    region: TextColumn
    region_code: TextColumn
    country: TextColumn
    latitude: np.ndarray  # float64
    longitude: np.ndarray  # float64
    company: TextColumn
    employment_type: TextColumn


@dataclass(frozen=True)
class CatalogPart:
    """Jobs of one build, row-aligned: `jobs[i]`, `ids[i]`, `columns[...][i]`. `jobs` is
    a tuple, or a snapshot's `JobTable` that decodes the jobs a request shows."""

    jobs: Sequence[CatalogJob]
    ids: np.ndarray  # str
    scorer: CatalogScorer
    columns: Columns
    rows: RowIndex  # job id -> row (built with the part: the first request that
    # excludes seen jobs would otherwise pay for it)

    def __len__(self) -> int:
        return len(self.jobs)


def build_part(
    jobs: Sequence[CatalogJob],
    model: ConvFM,
    space: FeatureSpace,
    features: EntityFeatures | None = None,
) -> CatalogPart:
    """Encode jobs with the checkpoint's feature space (unless their `features` are
    given, row-aligned) and precompute their scores' parts."""
    jobs = tuple(jobs)
    if features is None:
        features = space.encode_jobs([j.record for j in jobs])
    places = [j.record.place for j in jobs]

    def text_column(values: Iterable[str | None]) -> TextColumn:
        return TextColumn.of(fold(v) if v else "" for v in values)

    columns = Columns(
        annual_min_usd=_floats(j.record.salary_annual_min_usd for j in jobs),
        annual_max_usd=_floats(j.record.salary_annual_max_usd for j in jobs),
        remote=np.array([j.record.remote for j in jobs], dtype=bool),
        city=text_column(p.city if p else None for p in places),
        region=text_column(p.region if p else None for p in places),
        region_code=text_column(p.region_code if p else None for p in places),
        country=text_column(p.country if p else None for p in places),
        latitude=_floats(p.latitude if p else None for p in places),
        longitude=_floats(p.longitude if p else None for p in places),
        company=TextColumn.of(name_key(j.record.company) for j in jobs),
        employment_type=TextColumn.of(j.employment_type or "" for j in jobs),
    )
    ids = np.array([j.job_id for j in jobs], dtype=str)
    return CatalogPart(
        jobs=jobs,
        ids=ids,
        scorer=CatalogScorer(model, space, features),
        columns=columns,
        rows=RowIndex.of(ids),
    )


def _floats(values: Iterable[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Re-read this much before the last read of the store: a commit can land after its
# updated_at.
REFRESH_OVERLAP = timedelta(seconds=5)


def micros(at: datetime) -> int:
    """Microseconds since the epoch (a naive time is taken as UTC)."""
    at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return (at - EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class UpdateTimes:
    """When each known job was last updated: arrays for the jobs of a build (a
    snapshot's are memory-mapped), and the few changed since in a dict over them."""

    index: RowIndex
    micros: np.ndarray  # int64 per row of `index`: microseconds since the epoch, UTC
    changes: Mapping[str, datetime]

    @classmethod
    def of(cls, jobs: Sequence[CatalogJob], index: RowIndex | None = None) -> UpdateTimes:
        """The times of `jobs`; `index`: their rows' index, when a part has built it."""
        if index is None:
            index = RowIndex.of(np.array([j.job_id for j in jobs], dtype=str))
        stamps = np.array([micros(j.updated_at) for j in jobs], dtype=np.int64)
        return cls(index, stamps, {})

    def get(self, job_id: str) -> datetime | None:
        if (changed := self.changes.get(job_id)) is not None:
            return changed
        row = self.index.get(job_id)
        return None if row is None else EPOCH + timedelta(microseconds=int(self.micros[row]))

    def with_changes(self, jobs: Sequence[CatalogJob]) -> UpdateTimes:
        return replace(self, changes={**self.changes, **{j.job_id: j.updated_at for j in jobs}})


@dataclass(frozen=True)
class Catalog:
    """An immutable snapshot of the active jobs (see the module docstring)."""

    base: CatalogPart
    base_visible: np.ndarray  # bool per base row
    delta: CatalogPart | None
    updated_at: UpdateTimes = field(repr=False)  # of every known job
    watermark: datetime | None  # newest updated_at applied
    builds: int = 1  # how many base builds this lineage had

    @classmethod
    def build(
        cls, jobs: Sequence[CatalogJob], model: ConvFM, space: FeatureSpace, builds: int = 1
    ) -> Catalog:
        active = [j for j in jobs if j.record.active]
        base = build_part(active, model, space)
        # the base's id index serves the update times too when every job is active
        every = len(active) == len(jobs)
        return cls(
            base=base,
            base_visible=np.ones(len(base), dtype=bool),
            delta=None,
            updated_at=UpdateTimes.of(active, base.rows) if every else UpdateTimes.of(jobs),
            watermark=max((j.updated_at for j in jobs), default=None),
            builds=builds,
        )

    def parts(self) -> list[tuple[CatalogPart, np.ndarray | None]]:
        """(part, visible mask or None for all) to rank, base first."""
        out: list[tuple[CatalogPart, np.ndarray | None]] = [(self.base, self.base_visible)]
        if self.delta is not None and len(self.delta):
            out.append((self.delta, None))
        return out

    def has_city(self, city: str) -> bool:
        """Whether some job of this snapshot is in that city (folded name)."""
        return any(part.columns.city.contains(city) for part, _ in self.parts())

    def find(self, job_id: str) -> CatalogJob | None:
        """The active job with that id in this snapshot, or None."""
        if self.delta is not None and (row := self.delta.rows.get(job_id)) is not None:
            return self.delta.jobs[row]
        row = self.base.rows.get(job_id)
        return self.base.jobs[row] if row is not None and self.base_visible[row] else None

    # a snapshot never changes: its size and version are computed once (every response
    # carries the version, which counted the 1M visibility flags twice: 0.35 ms each)
    @functools.cached_property
    def size(self) -> int:
        return int(self.base_visible.sum()) + (len(self.delta) if self.delta else 0)

    @functools.cached_property
    def version(self) -> str:
        """Equal for equal content: the newest update time and the active count."""
        stamp = self.watermark.isoformat() if self.watermark else "empty"
        digest = hashlib.sha1(f"{stamp}|{self.size}".encode()).hexdigest()[:10]
        return f"{self.size}-{digest}"

    @property
    def content(self) -> tuple[CatalogPart, np.ndarray, CatalogPart | None]:
        """What ranking reads. A change that touches no job this snapshot ranks keeps
        these very objects, so snapshots whose contents are identical (`is`) rank alike."""
        return self.base, self.base_visible, self.delta

    def is_current(self, job_id: str, updated_at: datetime) -> bool:
        """Whether this snapshot has the job in that version."""
        return self.updated_at.get(job_id) == updated_at

    def changed(self, jobs: Sequence[CatalogJob]) -> list[CatalogJob]:
        """Those of `jobs` this snapshot does not have in that version."""
        return [j for j in jobs if not self.is_current(j.job_id, j.updated_at)]

    def _delta_after(self, jobs: Sequence[CatalogJob]) -> list[CatalogJob]:
        """The delta's jobs once `jobs` (changed ones) are applied."""
        changed_ids = {j.job_id for j in jobs}
        unchanged = [
            j for j in (self.delta.jobs if self.delta else ()) if j.job_id not in changed_ids
        ]
        return unchanged + [j for j in jobs if j.record.active]

    def outgrows(self, jobs: Sequence[CatalogJob], max_delta: int) -> bool:
        """Whether applying `jobs` makes a new base (more than `max_delta` in the delta)."""
        return len(self._delta_after(self.changed(jobs))) > max_delta

    def apply(
        self, jobs: Sequence[CatalogJob], model: ConvFM, space: FeatureSpace, *, max_delta: int
    ) -> Catalog:
        """A new snapshot with `jobs` (new, updated or deactivated) applied."""
        jobs = self.changed(jobs)
        if not jobs:
            return self
        updated_at = self.updated_at.with_changes(jobs)
        watermark = max([j.updated_at for j in jobs] + ([self.watermark] if self.watermark else []))
        if not any(j.record.active or self.find(j.job_id) for j in jobs):
            # inactive jobs this snapshot does not rank: only the bookkeeping changes
            return replace(self, updated_at=updated_at, watermark=watermark)
        changed_ids = {j.job_id for j in jobs}
        visible = self.base_visible & ~np.isin(self.base.ids, list(changed_ids))
        delta_jobs = self._delta_after(jobs)
        if len(delta_jobs) > max_delta:
            # merge into a new base; the base jobs still visible keep their encoded
            # features (encoding is most of a build)
            rows = np.flatnonzero(visible)
            features = EntityFeatures.cat(
                [
                    self.base.scorer.jobs.take(torch.from_numpy(rows)),
                    space.encode_jobs([j.record for j in delta_jobs]),
                ]
            )
            base = build_part(
                [self.base.jobs[i] for i in rows.tolist()] + delta_jobs, model, space, features
            )
            return Catalog(
                base=base,
                base_visible=np.ones(len(base), dtype=bool),
                delta=None,
                updated_at=updated_at,
                watermark=watermark,
                builds=self.builds + 1,
            )
        delta = build_part(delta_jobs, model, space) if delta_jobs else None
        return Catalog(
            base=self.base,
            base_visible=visible,
            delta=delta,
            updated_at=updated_at,
            watermark=watermark,
            builds=self.builds,
        )
