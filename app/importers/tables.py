"""CSV files as frames of strings, and column-wise validation against `app.schemas`.

Every importer reads its CSV with pyarrow's reader (the engine of
`pd.read_csv(engine="pyarrow")`) into a pandas frame of strings: every cell as text, ""
where blank, nothing guessed (`default_column_type`: pyarrow 25 or later).
`pd.read_csv` itself cannot be used: it does not pass pyarrow's `newlines_in_values`,
and a quoted cell spanning lines then fails ("CSV parser got out of sync with
chunker"), as it does on two of the five files of ../shared/data.

The validation keeps pydantic's models as the one source of rules: `field_adapter` is a
model field's own annotation over a list, so the distinct values of a column (`texts`),
or of a few columns together (`distinct`), are validated in one call, and each error's
list index maps back to the rows that gave the value, and so to their lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from app.errors import SourceError

MAX_BAD_ROWS_SHOWN = 5


@dataclass
class CsvTable:
    """A CSV file's rows as strings ("" where blank) and each row's line: its record's
    number counting the header as line 1, as a spreadsheet numbers rows (a cell spanning
    lines is one record). `bad_rows` are (line, message) of the records whose number of
    cells is not the header's; they are left out of `frame`."""

    name: str
    frame: pd.DataFrame
    lines: np.ndarray
    bad_rows: list[tuple[int, str]] = field(default_factory=list)

    def missing(self, required: Iterable[str]) -> list[str]:
        return sorted(set(required) - set(self.frame.columns))

    def records(self) -> list[dict[str, str]]:
        """The rows as dictionaries (column -> cell), as `csv.DictReader` gives them."""
        return self.frame.to_dict("records")

    def check_rows(self) -> None:
        """SourceError naming the first bad rows, if any."""
        if self.bad_rows:
            shown = "; ".join(f"line {n}: {m}" for n, m in self.bad_rows[:MAX_BAD_ROWS_SHOWN])
            raise SourceError(f"{self.name}: {len(self.bad_rows)} malformed rows ({shown})")


def read_csv_strings(path: Path, *, strip: bool = True) -> CsvTable:
    """`path` (UTF-8, a header row, a BOM allowed) as strings; with `strip`, column names
    and cells lose their surrounding whitespace (Python's `str.strip`) and columns with
    no name are dropped. SourceError for a file that is not CSV of UTF-8 text or that
    names a column twice (OSError where it cannot be opened); an empty file is a header
    of no columns."""
    bad: list[Any] = []
    try:
        table = _read_arrow(path, bad, threads=True)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return CsvTable(path.name, pd.DataFrame(), np.zeros(0, dtype=np.int64))
        raise SourceError(f"{path.name}: not a readable CSV file: {exc}") from None
    if bad and any(row.number is None for row in bad):
        bad.clear()  # numbered only when read in one thread: read again to name them
        table = _read_arrow(path, bad, threads=False)
    frame = table.to_pandas()
    names = [str(c).strip() if strip else str(c) for c in frame.columns]
    twice = sorted({n for n in names if names.count(n) > 1 and n})
    if twice:
        raise SourceError(f"{path.name}: columns named more than once: {twice}")
    frame.columns = pd.Index(names)
    if strip:
        kept = [n for n in names if n]
        frame = pd.DataFrame({n: frame[n].str.strip() for n in kept}, index=frame.index)
    skipped = np.array([row.number for row in bad], dtype=np.int64)
    lines = np.setdiff1d(np.arange(2, len(frame) + len(skipped) + 2), skipped)
    messages = [
        (int(row.number), f"{row.actual_columns} cells, the header has {row.expected_columns}")
        for row in bad
    ]
    return CsvTable(path.name, frame, lines, sorted(messages))


def _read_arrow(path: Path, bad: list[Any], *, threads: bool) -> pa.Table:
    def skip(row: Any) -> str:
        bad.append(row)
        return "skip"

    with path.open("rb") as source:  # OSError as Python words it
        return pcsv.read_csv(
            source,
            read_options=pcsv.ReadOptions(use_threads=threads),
            parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip),
            convert_options=pcsv.ConvertOptions(
                default_column_type=pa.string(),
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )


# -- column-wise validation --------------------------------------------------------------


@cache
def field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[list[Any]]:
    """A list of values of `model`'s field `name`, validated as the model validates the
    field (its annotation, its constraints, and the model's whitespace stripping)."""
    info = model.model_fields[name]
    annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    strip = bool(model.model_config.get("str_strip_whitespace"))
    return TypeAdapter(list[annotation], config=ConfigDict(str_strip_whitespace=strip))  # type: ignore[valid-type]


@dataclass
class Problems:
    """Errors of one file: (line, field, message), listed as "file:line: field: message"."""

    name: str
    found: list[tuple[int, int, str, str]] = field(default_factory=list)

    def add(self, line: int, where: str, message: str) -> None:
        self.found.append((line, len(self.found), where, message))

    def messages(self) -> list[str]:
        """Line by line; on one line, in the order found."""
        return [f"{self.name}:{n}: {where}: {msg}" for n, _, where, msg in sorted(self.found)]


def distinct(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(codes, first): each row's code, numbering the distinct rows of `frame` in order
    of first appearance, and the position of each code's first row."""
    codes = np.zeros(len(frame), dtype=np.int64)
    for column in frame.columns:
        own, uniques = pd.factorize(frame[column])
        codes = pd.factorize(codes * len(uniques) + own)[0]
    _, first = np.unique(codes, return_index=True)
    return codes, first


def texts(cells: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(codes, uniques): each cell's code, numbering the distinct texts in order of first
    appearance, and those texts."""
    codes, uniques = pd.factorize(cells)
    return codes, uniques.tolist()


def objects(values: Iterable[Any], count: int) -> np.ndarray:
    """A 1-D object array of `values` (lists stay elements, not rows)."""
    return np.fromiter(values, dtype=object, count=count)


def expand(values: Sequence[Any], codes: np.ndarray) -> np.ndarray:
    """Row i's value: `values[codes[i]]` (an object array)."""
    return objects(values, len(values))[codes]


@dataclass
class Validator:
    """Checks of one file's rows: each distinct input checked once, its errors added for
    every row that gave it. `rows` are positions in `table.frame`; row `rows[i]` gave the
    input `inputs[codes[i]]`."""

    table: CsvTable
    problems: Problems

    def cells(self, column: str) -> pd.Series:
        """The column's cells ("" for each row where the file lacks the column)."""
        frame = self.table.frame
        if column in frame.columns:
            return frame[column]
        return pd.Series([""] * len(frame), index=frame.index, dtype="str")

    def given(self, column: str) -> np.ndarray:
        """Where the column's cell is not blank."""
        return (self.cells(column) != "").to_numpy()

    def field(
        self,
        model: type[BaseModel],
        name: str,
        column: str | None = None,
        *,
        blank: Any = None,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """Each row's value of `model`'s field `name`, from `column` (default: `name`),
        a blank cell standing for `blank`; only `rows` (default: all) are checked, the
        others get None."""
        every = np.arange(len(self.table.frame))
        rows = every if rows is None else rows
        codes, uniques = texts(self.cells(column or name).iloc[rows])
        inputs = [text if text else blank for text in uniques]
        values = expand(self.check(field_adapter(model, name), inputs, codes, rows, name), codes)
        if len(rows) == len(every):
            return values
        out = np.full(len(every), None, dtype=object)
        out[rows] = values
        return out

    def combined(
        self, columns: Sequence[str], build: Callable[[dict[str, str]], Any], rows: np.ndarray
    ) -> tuple[list[Any], np.ndarray]:
        """(inputs, codes): `build` of the non-blank cells of `columns`, once for each
        distinct combination among `rows`; row `rows[i]` gave `inputs[codes[i]]`."""
        cells = pd.DataFrame({c: self.cells(c).iloc[rows].to_numpy() for c in columns})
        codes, first = distinct(cells)
        records = cells.iloc[first].to_dict("records")
        return [build({k: v for k, v in r.items() if v}) for r in records], codes

    def check(
        self,
        adapter: TypeAdapter[list[Any]],
        inputs: Sequence[Any],
        codes: np.ndarray,
        rows: np.ndarray,
        where: str,
    ) -> list[Any]:
        """The validated `inputs`, in one call; where any fails, errors are added and
        every value is None."""
        try:
            return adapter.validate_python(list(inputs))
        except ValidationError as exc:
            failed: dict[int, list[tuple[str, str]]] = {}
            for err in exc.errors():
                index, *rest = err["loc"]
                path = ".".join(str(p) for p in (where, *rest))
                failed.setdefault(int(index), []).append((path, err["msg"]))
            self._add(failed, codes, rows)
            return [None] * len(inputs)

    def convert(
        self,
        function: Callable[[Any], Any],
        inputs: Sequence[Any],
        codes: np.ndarray,
        rows: np.ndarray,
        where: str,
    ) -> list[Any]:
        """`check` with a plain function, whose ValueError is the error (and None the
        value)."""
        out, failed = [], {}
        for code, value in enumerate(inputs):
            try:
                out.append(function(value))
            except ValueError as exc:
                failed[code] = [(where, str(exc))]
                out.append(None)
        self._add(failed, codes, rows)
        return out

    def rows_where(self, mask: np.ndarray, where: str, message: str) -> None:
        """`message` for every row where `mask` holds."""
        for line in self.table.lines[np.flatnonzero(mask)]:
            self.problems.add(int(line), where, message)

    def _add(
        self, failed: dict[int, list[tuple[str, str]]], codes: np.ndarray, rows: np.ndarray
    ) -> None:
        if not failed:
            return
        hit = np.flatnonzero(np.isin(codes, np.fromiter(failed, dtype=np.int64)))
        for i in hit:
            line = int(self.table.lines[rows[i]])
            for where, message in failed[int(codes[i])]:
                self.problems.add(line, where, message)
