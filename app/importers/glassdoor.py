"""`jobrec import glassdoor FILE`: the raw glassdoor_jobs.csv (data-science postings).

* Salary Estimate: every shape of the file is parsed and annualised by
  `ml.salary.parse_salary_text` ("$53K-$91K (Glassdoor est.)", "Employer Provided
  Salary:$150K-$160K", "$17-$24 Per Hour(Glassdoor est.)"); -1 means no salary.
* Company Name: the rating that follows the name on a new line is dropped.
* Location: "City, ST" (or "Remote", a state, a country) through `ml.locations`.
* Skills: the maintained skill list (`ml.skills`) found in the title and description.
Job ids are "glassdoor-<row index>" (the file's unnamed first column).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from app.errors import SourceError
from app.importers import ImportResult, Progress, write_all
from app.importers.tables import read_csv_strings
from app.schemas import JobIn, SalaryIn
from ml.salary import parse_salary_text
from ml.skills import SkillExtractor

REQUIRED = {"Job Title", "Salary Estimate", "Job Description", "Company Name", "Location"}


def company_name(raw: str | None) -> str | None:
    """ "Tecolote Research\\n3.8" -> "Tecolote Research"."""
    name = (raw or "").split("\n")[0].strip()
    return name[:200] or None


def read_glassdoor(path: str | Path) -> list[tuple[str, JobIn]]:
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path} not found")
    table = read_csv_strings(path, strip=False)
    missing = table.missing(REQUIRED)
    if missing:
        raise SourceError(f"{path.name} lacks columns {missing}")
    table.check_rows()
    extractor = SkillExtractor()
    jobs = []
    index_column = str(table.frame.columns[0])
    for number, row in enumerate(table.records()):
        row_id = (row.get(index_column) or "").strip() or str(number)
        salary = parse_salary_text(row["Salary Estimate"])
        title = row["Job Title"].strip()[:300] or "Untitled"
        description = row["Job Description"][:50_000]
        jobs.append(
            (
                f"glassdoor-{row_id}",
                JobIn(
                    title=title,
                    description=description,
                    company=company_name(row["Company Name"]),
                    location=row["Location"].strip()[:200] or None,
                    skills=extractor.extract(f"{title}\n{description}"),
                    salary=(
                        SalaryIn(
                            min=salary.minimum,
                            max=salary.maximum,
                            currency=salary.currency,
                            period=salary.period,
                        )
                        if salary
                        else None
                    ),
                ),
            )
        )
    return jobs


def import_glassdoor(
    factory: sessionmaker[Session], path: str | Path, progress: Progress | None = None
) -> ImportResult:
    return write_all(factory, jobs=read_glassdoor(path), progress=progress)
