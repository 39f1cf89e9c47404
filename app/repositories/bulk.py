"""Bulk loads: whole tables of jobs, users and events in a few set-based statements.

Rows arrive as pandas frames (`JOB_COLUMNS`, `USER_COLUMNS`, `EVENT_COLUMNS`, and
(external_id, skill) frames), already validated. Each table goes into a staging table of
the session (PostgreSQL: `COPY ... FROM STDIN` through psycopg; SQLite: one
executemany), then ONE `INSERT ... SELECT ... ON CONFLICT` writes it into the store:
jobs and users upserted by external id (the last of duplicate ids wins), events inserted
at most once per idempotency key. Places, companies and skills, few and distinct, go
through the repositories' get-or-create. The caller commits; on an error nothing is
written (one transaction).

`JobRepository.upsert` and `UserRepository.upsert` write through it too: one write path
for the API and the importers. The frames are built in `app.repositories.frames`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import BigInteger, Column, DateTime, MetaData, Table, bindparam, text

from app import models as m
from app.errors import NotFoundError
from app.repositories.base import Repository
from app.repositories.frames import EVENT_COLUMNS, JOB_COLUMNS, USER_COLUMNS, map_distinct
from ml.skills import canonical_skill
from ml.text import name_key

COPY_BATCH = 50_000  # rows per executemany on SQLite (memory, not speed)


class BulkLoader(Repository):
    """Set-based writes of validated frames (see the module docstring)."""

    _superuser: bool | None = None  # asked once per loader

    def jobs(self, frame: pd.DataFrame, skills: pd.DataFrame | None = None) -> dict[str, int]:
        """Upsert the jobs of `frame` (`JOB_COLUMNS`) and replace their skills with those
        of `skills` (external_id, skill); returns external id -> row id."""
        frame = _last_of_each(frame, JOB_COLUMNS)
        rows = self._with_references(frame)
        rows["latitude"] = [p.latitude if p else None for p in frame["place"]]
        rows["longitude"] = [p.longitude if p else None for p in frame["place"]]
        ids = self._upsert_staged(m.table(m.Job), rows)
        self._replace_skills_bulk(m.job_skills, "job_id", ids, skills)
        return ids

    def users(self, frame: pd.DataFrame, skills: pd.DataFrame | None = None) -> dict[str, int]:
        """Upsert the users of `frame` (`USER_COLUMNS`) and replace their skills with
        those of `skills` (external_id, skill); returns external id -> row id."""
        frame = _last_of_each(frame, USER_COLUMNS)
        ids = self._upsert_staged(m.table(m.User), self._with_references(frame))
        self._replace_skills_bulk(m.user_skills, "user_id", ids, skills)
        return ids

    def events(self, frame: pd.DataFrame) -> int:
        """Insert the events of `frame` (`EVENT_COLUMNS`, external ids); those whose
        idempotency key is in the store (or earlier in the frame) are skipped. Returns
        how many were inserted; NotFoundError (nothing written) for an unknown id."""
        if frame.empty:
            return 0
        table = m.table(m.Interaction)
        stage = self._stage(
            "stage_events",
            [
                Column("seq", BigInteger),  # the frame's order: the events' row ids follow it
                Column("user_ext", m.table(m.User).c.external_id.type),
                Column("job_ext", m.table(m.Job).c.external_id.type),
                *_like(table, EVENT_COLUMNS[2:]),
            ],
            frame.rename(columns={"user_id": "user_ext", "job_id": "job_ext"}).assign(
                seq=range(len(frame)), position=frame["position"].astype("Int64")
            ),
        )
        unknown = {
            kind: [
                r[0]
                for r in self.session.execute(
                    text(
                        f"SELECT DISTINCT s.{kind}_ext FROM {stage.name} s LEFT JOIN "
                        f"{kind}s t ON t.external_id = s.{kind}_ext WHERE t.id IS NULL "
                        f"ORDER BY s.{kind}_ext LIMIT 5"
                    )
                )
            ]
            for kind in ("user", "job")
        }
        if unknown["user"] or unknown["job"]:
            raise NotFoundError(f"unknown user ids {unknown['user']}, job ids {unknown['job']}")
        columns = ", ".join(EVENT_COLUMNS[2:])
        locks = [
            f"SELECT t.id FROM {kind}s t WHERE t.external_id IN "
            f"(SELECT {kind}_ext FROM {stage.name}) FOR KEY SHARE"
            for kind in ("user", "job")
        ]
        with self._references_locked(locks):
            inserted = self.session.execute(
                text(
                    f"INSERT INTO interactions (user_id, job_id, {columns}, created_at) "
                    f"SELECT u.id, j.id, {', '.join(f's.{c}' for c in EVENT_COLUMNS[2:])}, "
                    f":now FROM {stage.name} s JOIN users u ON u.external_id = s.user_ext "
                    "JOIN jobs j ON j.external_id = s.job_ext WHERE true ORDER BY s.seq "
                    "ON CONFLICT (idempotency_key) DO NOTHING"
                ).bindparams(_now()),
            )
        self._drop(stage)
        return int(inserted.rowcount)  # type: ignore[attr-defined]

    # -- the pieces ----------------------------------------------------------------

    def _with_references(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with `place` and `company` replaced by place_id and company_id
        (created if missing)."""
        places = [p for p in pd.unique(frame["place"].dropna()) if p is not None]
        place_ids = self.place_ids(places)
        names = [c for c in pd.unique(frame["company"].dropna()) if c]
        company_ids = self.company_ids(names)
        company_of = {name: company_ids.get(name_key(name)) for name in names}
        rows = frame.drop(columns=["place", "company"])
        id_of_place = {p: place_ids[p.key] for p in places}  # a key per distinct place
        rows["place_id"] = pd.array(
            [id_of_place[p] if p is not None else None for p in frame["place"]], dtype="Int64"
        )
        rows["company_id"] = pd.array(
            [company_of.get(c) if c else None for c in frame["company"]], dtype="Int64"
        )
        return rows

    def _upsert_staged(self, table: Table, rows: pd.DataFrame) -> dict[str, int]:
        """Upsert `rows` into `table` by external id; returns external id -> row id."""
        if rows.empty:
            return {}
        columns = list(rows.columns)
        stage = self._stage(f"stage_{table.name}", _like(table, columns), rows)
        listed = ", ".join(columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "external_id")
        locks = [
            f"SELECT t.id FROM {target} t WHERE t.id IN "
            f"(SELECT {column} FROM {stage.name}) FOR KEY SHARE"
            for column, target in (("company_id", "companies"), ("place_id", "places"))
            if column in columns
        ]
        with self._references_locked(locks):
            self.session.execute(
                text(
                    f"INSERT INTO {table.name} ({listed}, created_at, updated_at) "
                    f"SELECT {listed}, :now, :now FROM {stage.name} WHERE true "
                    f"ON CONFLICT (external_id) DO UPDATE SET {updates}, "
                    "updated_at = excluded.updated_at"
                ).bindparams(_now())
            )
        ids: dict[str, int] = dict(
            self.session.execute(
                text(
                    f"SELECT t.external_id, t.id FROM {table.name} t "
                    f"JOIN {stage.name} s ON s.external_id = t.external_id"
                )
            ).all()
        )
        self._drop(stage)
        return ids

    def _replace_skills_bulk(
        self, link: Table, owner: str, ids: dict[str, int], skills: pd.DataFrame | None
    ) -> None:
        """Each owner of `ids` gets exactly the skills `skills` lists for it (canonical
        names; those with no words dropped)."""
        if not ids:
            return
        owners = pd.DataFrame({"external_id": list(ids), owner: list(ids.values())})
        stage = self._stage(f"stage_{link.name}", [Column(owner, link.c[owner].type)], owners)
        self.session.execute(
            text(f"DELETE FROM {link.name} WHERE {owner} IN (SELECT {owner} FROM {stage.name})")
        )
        self._drop(stage)
        if skills is None or skills.empty:
            return
        canonical = {s: canonical_skill(s) for s in pd.unique(skills["skill"])}
        names = sorted({c for c in canonical.values() if c})
        skill_ids = self._get_or_create(m.table(m.Skill), "name", {n: {"name": n} for n in names})
        skill_id = {s: skill_ids.get(c) for s, c in canonical.items()}
        pairs = pd.DataFrame(
            {
                owner: map_distinct(skills["external_id"], ids),
                "skill_id": map_distinct(skills["skill"], skill_id),
            }
        ).dropna()
        pairs = pairs.astype("int64").drop_duplicates()
        # the owners were written by this transaction (row-locked by it); the skills are
        # locked here
        skill_list = ", ".join(str(i) for i in sorted(set(pairs["skill_id"].tolist())))
        locks = [f"SELECT id FROM skills WHERE id IN ({skill_list}) FOR KEY SHARE"]
        with self._references_locked(locks if skill_list else []):
            self._fill(link, pairs)

    def _stage(self, name: str, columns: Sequence[Column[Any]], rows: pd.DataFrame) -> Table:
        """A temporary table `name` of the session holding `rows` (its columns)."""
        stage = Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])
        self._drop(stage)
        stage.create(self.session.connection())
        self._fill(stage, rows[[c.name for c in columns]])
        return stage

    def _fill(self, table: Table, rows: pd.DataFrame) -> None:
        """Append `rows` (the table's columns, in order) to `table`."""
        rows = _times_in_utc(rows, table)
        listed = ", ".join(rows.columns)
        if self._dialect == "postgresql":
            raw: Any = self.session.connection().connection.driver_connection
            data = _arrow_csv(rows)  # Arrow writes the CSV in C++: ~10x pandas' writer
            options = "(FORMAT csv)" if data is not None else ""  # else psycopg's rows
            statement = f"COPY {table.name} ({listed}) FROM STDIN {options}"
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                if data is not None:
                    copy.write(data)
                else:
                    for row in _python_rows(rows):
                        copy.write_row(row)
            return
        values = _python_rows(rows)
        names = list(rows.columns)
        for start in range(0, len(values), COPY_BATCH):
            batch = values[start : start + COPY_BATCH]
            self.session.execute(table.insert(), [dict(zip(names, r, strict=True)) for r in batch])

    @contextmanager
    def _references_locked(self, locks: Sequence[str]) -> Iterator[None]:
        """Inserts whose foreign keys are known good, checked set-based.

        Every reference written inside was resolved from rows that exist; `locks` take
        FOR KEY SHARE on them in one statement each, the lock PostgreSQL's per-row
        foreign-key triggers would take one row at a time, so none can be deleted before
        the transaction ends. A superuser then runs the inserts with those triggers off
        (`session_replication_role = replica`, as pg_restore's --disable-triggers),
        which takes a 900k-row link table from ~12 s to ~1 s here; any other role, and
        SQLite, keep the per-row checks.
        """
        if not self._may_skip_triggers():
            yield
            return
        for lock in locks:
            self.session.execute(text(lock))
        self.session.execute(text("SET LOCAL session_replication_role = replica"))
        yield  # on an error the transaction rolls back, and the setting with it
        self.session.execute(text("SET LOCAL session_replication_role = origin"))

    def _may_skip_triggers(self) -> bool:
        if self._dialect != "postgresql":
            return False
        if self._superuser is None:
            setting = self.session.execute(text("SELECT current_setting('is_superuser')"))
            self._superuser = setting.scalar_one() == "on"
        return self._superuser

    def _drop(self, table: Table) -> None:
        self.session.execute(text(f"DROP TABLE IF EXISTS {table.name}"))


def _like(table: Table, names: Iterable[str]) -> list[Column[Any]]:
    """Columns named and typed as `table`'s, with no constraints (for a staging table)."""
    return [Column(name, table.c[name].type) for name in names]


def _now() -> Any:
    return bindparam("now", datetime.now(UTC), type_=DateTime(timezone=True))


def _last_of_each(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """The frame's `columns`, one row per external id (its last)."""
    return frame.loc[:, list(columns)].drop_duplicates("external_id", keep="last")


def _times_in_utc(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """`frame` with the values of `table`'s time columns at UTC (a naive one is taken as
    UTC): SQLite keeps a time's wall clock and drops its offset, so every time is stored
    as UTC, which is how the repositories read it back (`as_utc`)."""
    times = [c.name for c in table.columns if isinstance(c.type, DateTime)]
    times = [name for name in times if name in frame.columns]
    if not times:
        return frame
    return frame.assign(**{name: pd.to_datetime(frame[name], utc=True) for name in times})


def _arrow_csv(frame: pd.DataFrame) -> bytes | None:
    """The frame as PostgreSQL CSV (no header), None when Arrow cannot type a column
    (mixed Python objects): texts are always quoted and missing values are bare empty
    fields, so NULL, "" and any text (a "\\N" too) come back as they went in; times in
    ISO 8601 with their offset, floats in their shortest exact form."""
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    out = pa.BufferOutputStream()
    pa_csv.write_csv(table, out, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return out.getvalue().to_pybytes()


def _python_rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The rows as tuples of plain Python values, None for missing ones (NaN, NaT)."""
    plain = frame.astype(object).where(frame.notna(), None)
    return list(plain.itertuples(index=False, name=None))
