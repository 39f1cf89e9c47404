"""Plain records of users, jobs and interactions: what the model's features are built from.

The store (`app/`) and the importers produce these; nothing here knows about SQL.
Salaries are US dollars per year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ml.locations import Place

InteractionType = Literal["impression", "view", "click", "apply", "save", "dismiss"]
INTERACTION_TYPES: tuple[InteractionType, ...] = (
    "impression",
    "view",
    "click",
    "apply",
    "save",
    "dismiss",
)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job posting. Salary bounds are annualised US dollars (None: not stated)."""

    job_id: str
    title: str
    description: str = ""
    skills: tuple[str, ...] = ()
    company: str | None = None
    place: Place | None = None
    remote: bool = False
    salary_annual_min_usd: float | None = None
    salary_annual_max_usd: float | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A job seeker. `headline` is free text about them (wanted positions, past titles);
    `history` the jobs they liked (positive feedback), most recent first."""

    user_id: str
    skills: tuple[str, ...] = ()
    headline: str = ""
    place: Place | None = None
    company: str | None = None
    desired_salary_usd: float | None = None  # per year
    history: tuple[JobRecord, ...] = ()

    @property
    def has_profile(self) -> bool:
        """Whether the user states anything the model reads beside their history."""
        return bool(
            self.skills
            or self.headline
            or self.place
            or self.company
            or self.desired_salary_usd is not None
        )


@dataclass(frozen=True, slots=True, order=True)
class Interaction:
    """One event of a user on a job at a time."""

    timestamp: datetime
    user_id: str = field(compare=False)
    job_id: str = field(compare=False)
    type: InteractionType = field(compare=False)
