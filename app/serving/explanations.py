"""Explanations of a ranked list: each job's logit split by field (`ml.explain`) and up
to three reasons a person can read, ranked by what their fields contribute.

A reason is given only when its fields add to the score and its facts hold: the
matched skills are the user's and the job's, the distance is measured between both
places, the salary is at or above what the user wants, the job it resembles is one the
user engaged with, the company is the job's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ml.checkpoint import Checkpoint
from ml.explain import explain
from ml.features import EntityFeatures
from ml.geo import great_circle_km
from ml.records import JobRecord, UserRecord
from ml.text import name_key

MAX_REASONS = 3
REASON_FIELDS: dict[str, tuple[str, ...]] = {
    "skills_match": ("user_skills", "job_skills", "skill_match"),
    "near_you": (
        "user_city",
        "job_city",
        "user_region",
        "job_region",
        "same_city",
        "proximity",
        "same_region",
    ),
    "salary_fit": ("salary_fit",),
    "similar_to_your_activity": (
        "history_skill",
        "history_city",
        "history_proximity",
        "history_region",
        "history_company",
    ),
    "your_company_or_field": ("user_company", "job_company"),
    "trending": ("job",),
}


@dataclass(frozen=True)
class Reason:
    code: str
    text: str
    value: float  # what its fields add to the logit
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobExplanation:
    logit: float
    contributions: list[tuple[str, float]]  # adding up to the logit
    reasons: list[Reason]


def explain_ranked(
    checkpoint: Checkpoint,
    user: UserRecord,
    jobs: Sequence[JobRecord],
    users: EntityFeatures | None = None,
) -> list[JobExplanation]:
    """The explanation of each job for `user` (`users`: already encoded, one row), in
    the order given."""
    if not jobs:
        return []
    space = checkpoint.space
    x = space.user_against(user, jobs, users)
    user_skills = set(space.user_skills(user))
    out = []
    for job, e in zip(jobs, explain(checkpoint.model, x), strict=True):
        facts = Facts(user, job, user_skills, set(space.job_skills(job)), space.job_skills)
        out.append(
            JobExplanation(
                logit=e.logit, contributions=e.contributions(), reasons=reasons(e.fields, facts)
            )
        )
    return out


@dataclass(frozen=True)
class Facts:
    user: UserRecord
    job: JobRecord
    user_skills: set[str]
    job_skills: set[str]
    skills_of: Callable[[JobRecord], list[str]]


def reasons(fields: dict[str, float], facts: Facts) -> list[Reason]:
    """Up to MAX_REASONS reasons whose fields add to the logit, largest first."""
    found = []
    for code, names in REASON_FIELDS.items():
        value = sum(fields.get(n, 0.0) for n in names)
        if value <= 0:
            continue
        made = READERS[code](facts)
        if made is not None:
            text, data = made
            found.append(Reason(code, text, value, data))
    found.sort(key=lambda r: -r.value)
    return found[:MAX_REASONS]


Made = tuple[str, dict[str, Any]] | None


def _skills(f: Facts) -> Made:
    matched = sorted(f.user_skills & f.job_skills)
    if not matched:
        return None
    return f"Matches your skills: {', '.join(matched[:5])}", {"skills": matched}


def _near(f: Facts) -> Made:
    mine, theirs = f.user.place, f.job.place
    if mine is None or theirs is None:
        return None
    a, b = (mine.latitude, mine.longitude), (theirs.latitude, theirs.longitude)
    if a[0] is None or a[1] is None or b[0] is None or b[1] is None:
        return None
    km = float(great_circle_km(a[0], a[1], b[0], b[1]))
    return f"In {theirs.label}, {km:.0f} km from you", {"distance_km": round(km, 1)}


def _salary(f: Facts) -> Made:
    wanted, offered = f.user.desired_salary_usd, f.job.salary_annual_max_usd
    if wanted is None or offered is None or offered < wanted:
        return None
    return (
        f"Pays up to ${offered:,.0f} a year, at or above the ${wanted:,.0f} you want",
        {"salary_annual_max_usd": offered, "desired_salary_usd": wanted},
    )


def _activity(f: Facts) -> Made:
    best, best_overlap = None, 0.0
    for past in f.user.history:
        if past.job_id == f.job.job_id:
            continue
        theirs = set(f.skills_of(past))
        union = theirs | f.job_skills
        overlap = len(theirs & f.job_skills) / len(union) if union else 0.0
        same_place = past.place is not None and past.place == f.job.place
        overlap += 0.5 * same_place
        if overlap > best_overlap:
            best, best_overlap = past, overlap
    if best is None:
        return None
    return f"Like {best.title}, which you looked at", {"job_id": best.job_id, "title": best.title}


def _company(f: Facts) -> Made:
    company = f.job.company
    if not company:
        return None
    if f.user.company and name_key(f.user.company) == name_key(company):
        return f"At {company}, where you work", {"company": company}
    return f"{company} hires people with your background", {"company": company}


def _trending(f: Facts) -> Made:
    return "Popular with other job seekers", {}


READERS: dict[str, Callable[[Facts], Made]] = {
    "skills_match": _skills,
    "near_you": _near,
    "salary_fit": _salary,
    "similar_to_your_activity": _activity,
    "your_company_or_field": _company,
    "trending": _trending,
}
