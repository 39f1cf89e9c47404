"""Every importer's CSV reader (`app.importers.tables.read_csv_strings`, pyarrow's
engine): what it makes of BOMs, whitespace, quoted newlines, malformed rows and files."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from app.errors import SourceError
from app.importers.dataset import DatasetError, read_dataset
from app.importers.glassdoor import read_glassdoor
from app.importers.job_views import read_job_views
from app.importers.tables import read_csv_strings


def test_cells_are_read_as_csv_dictreader_reads_them_across_the_readers_blocks(tmp_path):
    """Quoted newlines, quotes and commas in 3 MB (several of pyarrow's 1 MB blocks):
    the same rows, as text, as Python's csv module gives them."""
    rng = random.Random(1)
    pieces = ["plain", "two\nlines", 'say "hi"', "a, b", " padded ", "", "é 職", "0012", "1e5"]
    rows = [
        {"id": str(i), "x": rng.choice(pieces), "y": rng.choice(pieces) * 30} for i in range(20_000)
    ]
    path = tmp_path / "big.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "x", "y"])
        writer.writeheader()
        writer.writerows(rows)
    assert path.stat().st_size > 3_000_000
    table = read_csv_strings(path, strip=False)
    assert table.records() == rows  # "0012" stays text, "" stays ""
    assert table.lines.tolist() == list(range(2, 20_002))


def test_names_and_cells_are_stripped_and_a_bom_is_not_a_name(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes('\ufeff job_id , title,\n j1 ,"  Cook\u00a0",x\n'.encode())
    table = read_csv_strings(path)
    assert table.records() == [{"job_id": "j1", "title": "Cook"}]  # the unnamed column dropped
    assert read_csv_strings(path, strip=False).frame.columns.tolist() == [" job_id ", " title", ""]


def test_malformed_rows_are_numbered_and_the_others_keep_their_lines(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text('job_id,title\nj1,"A\nlong title"\nj2\nj3,,extra\nj4,\n', encoding="utf-8")
    table = read_csv_strings(path)
    assert table.bad_rows == [(3, "1 cells, the header has 2"), (4, "3 cells, the header has 2")]
    assert table.lines.tolist() == [2, 5]  # a record per line number, a quoted newline in one
    with pytest.raises(DatasetError) as caught:
        read_dataset(tmp_path)
    assert caught.value.errors == [
        "jobs.csv:3: row: 1 cells, the header has 2",
        "jobs.csv:4: row: 3 cells, the header has 2",
        "jobs.csv:5: title: required, but empty",
    ]
    with pytest.raises(SourceError, match=r"jobs.csv: 2 malformed rows \(line 3: 1 cells"):
        table.check_rows()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"job_id,title\nj1,\xff\n", "jobs.csv: not a readable CSV file: .*invalid UTF8"),
        (b"job_id,title, title\nj1,a,b\n", r"columns named more than once: \['title'\]"),
        (b"", r"jobs.csv: missing columns \['job_id', 'title'\]"),
    ],
)
def test_files_that_cannot_be_read_are_named(tmp_path, content, message):
    (tmp_path / "jobs.csv").write_bytes(content)
    with pytest.raises(DatasetError, match=message):
        read_dataset(tmp_path)


def test_the_raw_importers_name_missing_columns_and_malformed_rows(tmp_path):
    glassdoor = tmp_path / "glassdoor.csv"
    glassdoor.write_text(",Job Title,Salary Estimate\n0,A,-1\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"glassdoor.csv lacks columns \['Company Name'"):
        read_glassdoor(glassdoor)
    header = ",Job Title,Salary Estimate,Job Description,Company Name,Location\n"
    glassdoor.write_text(header + '0,A,-1,"x\ny",B,"Austin, TX"\n1,A\n', encoding="utf-8")
    with pytest.raises(SourceError, match="1 malformed rows"):
        read_glassdoor(glassdoor)
    glassdoor.write_text(header + '0, A ,-1," x\ny","B\n3.5"," Austin, TX "\n', encoding="utf-8")
    [(job_id, job)] = read_glassdoor(glassdoor)
    assert (job_id, job.title, job.description, job.company) == ("glassdoor-0", "A", "x\ny", "B")
    (tmp_path / "Jobs.csv").write_text("Job.ID,Title\n1,A\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"Jobs.csv lacks columns \['City', 'Company'"):
        read_job_views(tmp_path)


def test_a_holdout_is_read_with_the_same_reader(tmp_path):
    from typer import Exit

    from app.cli.evaluate import _read_holdout

    path = tmp_path / "holdout.csv"
    path.write_text('user_id,job_id,note\nu1, j5 ,"a\nb"\n,j7,\n u2,j7,\n', encoding="utf-8")
    assert _read_holdout(path) == [("u1", "j5"), ("u2", "j7")]
    for content in ("a,b\n1,2\n", "user_id,job_id\nu1\n"):
        path.write_text(content, encoding="utf-8")
        with pytest.raises(Exit):
            _read_holdout(path)
    with pytest.raises(Exit):
        _read_holdout(Path(tmp_path / "missing.csv"))
