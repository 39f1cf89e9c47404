"""Synthetic demo data with real structure (`jobrec import demo`).

Users belong to an occupation (data science, nursing, retail...) and live in one of 16
US metros; jobs belong to an occupation, a company and a place, state pay for their
occupation (hourly for hourly work; some state none) and ask for a few of the
occupation's skills. Users browse the board in sessions: each session shows them a
slate of jobs (impressions) and they open, click, save and apply to those with the
highest utility:

    utility = 3.0 * skill overlap + 1.6 * same city + 0.6 * same region
              + 0.8 * remote (for remote-friendly occupations) + 0.8 * salary fit
              + job appeal (a hidden per-job quality) + Gumbel noise

so users prefer jobs near them that match their skills and pay, and popularity alone
(job appeal) explains only part of it. Everything is drawn from one seeded generator:
the same seed gives the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import numpy as np
import pandas as pd

from app.demo_sessions import DemoJobs, DemoUsers, DemoWorld, browse
from app.demo_world import (
    CITIES,
    COMPANY_SUFFIX,
    COMPANY_WORDS,
    HIGH_COST,
    OCCUPATIONS,
    SKILL_COLUMN,
    SKILL_NAMES,
    Occupation,
)
from app.repositories.frames import JOB_COLUMNS, USER_COLUMNS, EntityFrames
from ml.locations import Place
from ml.salary import to_annual_usd

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
SHOWCASE_USER = "123"  # the user of the API's example request


@dataclass
class DemoData:
    jobs: EntityFrames  # one row per job (`JOB_COLUMNS`) and their skills
    users: EntityFrames  # one row per user (`USER_COLUMNS`) and their skills
    events: pd.DataFrame  # `EVENT_COLUMNS`, in time order per user
    world: DemoWorld  # the hidden truth the events were drawn from


def generate_demo(n_users: int, n_jobs: int, seed: int) -> DemoData:
    """Users u1..uN (plus "123", the showcase user of the API examples), jobs j1..jN
    and their interactions, from one seeded generator."""
    return DemoDraw(n_users, n_jobs, seed).finish()


class DemoDraw:
    """`generate_demo` in two steps: the jobs first (`jobs`, drawn on construction),
    then the users and their sessions (`finish`), so that the jobs can be written while
    the rest is drawn. The same draws in the same order: the same data."""

    def __init__(self, n_users: int, n_jobs: int, seed: int) -> None:
        if n_users < 1 or n_jobs < 1:
            raise ValueError("the demo needs at least one user and one job")
        self.n_users = n_users
        self.rng = np.random.default_rng(seed)
        self.city_weights = _city_weights()
        self.companies = _companies(self.rng, self.city_weights)
        self.made = _jobs(self.rng, n_jobs, self.companies, self.city_weights, prefix="j")

    @property
    def jobs(self) -> EntityFrames:
        return self.made.jobs

    def finish(self) -> DemoData:
        """The users, their sessions and the whole demo (call once)."""
        users, user_frames = _users(self.rng, self.n_users, self.companies, self.city_weights)
        world = DemoWorld(users, self.made)
        events = browse(self.rng, world, self.made.active, START)
        return DemoData(jobs=self.made.jobs, users=user_frames, events=events, world=world)


def _users(
    rng: np.random.Generator,
    n_users: int,
    companies: list[tuple[str, int, int]],
    city_weights: np.ndarray,
) -> tuple[DemoUsers, EntityFrames]:
    """Users u1..uN and, last, the showcase user "123" of the API examples: a data
    scientist in San Francisco."""
    n_occ = len(OCCUPATIONS)
    user_ids = [f"u{u + 1}" for u in range(n_users)] + [SHOWCASE_USER]
    user_occ = np.append(rng.integers(0, n_occ, n_users), 0)
    user_city = np.append(rng.choice(len(CITIES), size=n_users, p=city_weights), 0)
    rows: list[dict[str, object]] = []
    skill_rows: list[tuple[str, str]] = []
    user_skill_sets: list[set[str]] = []
    user_desired = np.full(len(user_ids), np.nan)
    for u, user_id in enumerate(user_ids):
        occ = OCCUPATIONS[int(user_occ[u])]
        skills = _pick_skills(rng, occ, int(rng.integers(3, 8)))
        if user_id == SHOWCASE_USER:
            skills = {"python", "sql", "machine learning", "statistics", "pandas"}
        if rng.random() < 0.3:  # a secondary occupation's skill
            other = OCCUPATIONS[int(rng.integers(n_occ))]
            skills.add(str(rng.choice(other.skills[:4])))
        amount, period = None, None
        if rng.random() < 0.7:
            yearly = occ.annual_median * float(rng.lognormal(0.0, 0.12))
            if CITIES[int(user_city[u])][0] in HIGH_COST:
                yearly *= 1.2
            amount, period = (
                (round(yearly / 2080, 2), "hour") if occ.hourly else (round(yearly, -3), "year")
            )
            user_desired[u] = to_annual_usd(amount, "USD", period)
        company = None
        if rng.random() < 0.4:
            options = [c for c in companies if c[1] == user_occ[u]]
            company = options[int(rng.integers(len(options)))][0]
        headline = str(rng.choice(occ.titles))
        if user_id == SHOWCASE_USER:
            headline = "Data Scientist"  # as the README introduces them
        rows.append(
            {
                "external_id": user_id,
                "headline": headline,
                "company": company,
                "place": _place(int(user_city[u])),
                "desired_salary_amount": amount,
                "desired_salary_currency": "USD" if amount is not None else None,
                "desired_salary_period": period,
                "desired_salary_annual_usd": user_desired[u] if amount is not None else None,
            }
        )
        skill_rows += [(user_id, skill) for skill in sorted(skills)]
        user_skill_sets.append(skills)
    frames = EntityFrames(
        pd.DataFrame(rows, columns=USER_COLUMNS),
        pd.DataFrame(skill_rows, columns=["external_id", "skill"]),
    )
    return DemoUsers(user_ids, user_occ, user_city, user_skill_sets, user_desired), frames


def generate_catalog(n_jobs: int, seed: int = 7, prefix: str = "c") -> EntityFrames:
    """Jobs only, <prefix>1..<prefix>N, from the companies of `generate_demo(seed)`: a
    large catalog for benchmarks that the demo's model knows the vocabulary of."""
    rng = np.random.default_rng(seed)
    city_weights = _city_weights()
    companies = _companies(rng, city_weights)
    return _jobs(
        np.random.default_rng([seed, n_jobs]), n_jobs, companies, city_weights, prefix=prefix
    ).jobs


def _city_weights() -> np.ndarray:
    weights = np.array([c[2] for c in CITIES])
    return weights / weights.sum()


def _companies(rng: np.random.Generator, city_weights: np.ndarray) -> list[tuple[str, int, int]]:
    """(name, occupation, home city) of six companies per occupation."""
    companies = []
    for occ_index, occ in enumerate(OCCUPATIONS):
        for word in rng.choice(COMPANY_WORDS, size=6, replace=False):
            companies.append(
                (
                    f"{word} {COMPANY_SUFFIX[occ.name]}",
                    occ_index,
                    int(rng.choice(len(CITIES), p=city_weights)),
                )
            )
    return companies


def _jobs(
    rng: np.random.Generator,
    n_jobs: int,
    companies: list[tuple[str, int, int]],
    city_weights: np.ndarray,
    prefix: str,
) -> DemoJobs:
    """n_jobs jobs drawn column by column (a million in seconds)."""
    n = n_jobs
    job_appeal = rng.normal(0.0, 0.4, n)
    company = rng.integers(len(companies), size=n)
    occ = np.array([c[1] for c in companies])[company]
    home = np.array([c[2] for c in companies])[company]
    moved = rng.random(n) >= 0.6
    city = np.where(moved, rng.choice(len(CITIES), size=n, p=city_weights), home)
    remote = _of_occupation("remote_friendly")[occ] & (rng.random(n) < 0.15)
    skills = _pick_skills_many(rng, occ, rng.integers(3, 7, size=n))
    titles = _titles(rng, occ)
    pay = _of_occupation("annual_median")[occ] * np.where(_high_cost()[city], 1.25, 1.0)
    pay = pay * rng.lognormal(0.0, 0.15, n)
    stated = rng.random(n) < 0.85
    hourly = _of_occupation("hourly")[occ] & (rng.random(n) < 0.8)
    low = np.where(hourly, np.round(pay / 2080 * 0.9, 2), np.round(pay * 0.9, -3))
    high = np.where(hourly, np.round(low * 1.2, 2), np.round(low * 1.25, -3))
    per_year = np.where(hourly, to_annual_usd(1.0, "USD", "hour"), 1.0)
    posted = [START - timedelta(days=int(d)) for d in rng.integers(0, 60, size=n)]
    employment = [
        OCCUPATIONS[o].employment[int(k)]
        for o, k in zip(occ, rng.random(n) * _of_occupation("n_employment")[occ], strict=True)
    ]
    active = rng.random(n) < 0.95
    ids = [f"{prefix}{j + 1}" for j in range(n)]
    names = np.array([c[0] for c in companies], dtype=object)[company]
    listed = [", ".join(sorted(names_)) for names_ in _skill_names(skills)]
    perks = np.array(PERKS, dtype=object)[rng.integers(len(PERKS), size=n)]
    places = np.array([_place(c) for c in range(len(CITIES))], dtype=object)[city]
    rows = pd.DataFrame(
        {
            "external_id": ids,
            "title": titles,
            "description": [
                f"{c} is hiring a {t}. Skills we look for: {s}. {p}"
                for c, t, s, p in zip(names, titles, listed, perks, strict=True)
            ],
            "company": names,
            "place": places,
            "remote": remote,
            "salary_min": np.where(stated, low, np.nan),
            "salary_max": np.where(stated, high, np.nan),
            "salary_currency": [("USD" if x else None) for x in stated],
            "salary_period": [
                ("hour" if h else "year") if x else None
                for x, h in zip(stated, hourly, strict=True)
            ],
            "salary_annual_min_usd": np.where(stated, low * per_year, np.nan),
            "salary_annual_max_usd": np.where(stated, high * per_year, np.nan),
            "employment_type": employment,
            "posted_at": posted,
            "expires_at": [p + timedelta(days=120) for p in posted],
            "active": active,
        },
        columns=JOB_COLUMNS,
    )
    owner, column = np.nonzero(skills)
    skill_rows = pd.DataFrame(
        {"external_id": np.array(ids, dtype=object)[owner], "skill": SKILL_NAMES[column]}
    )
    return DemoJobs(
        EntityFrames(rows, skill_rows),
        occ,
        city,
        remote,
        rows["salary_annual_max_usd"].to_numpy(),
        skills,
        job_appeal,
        active,
    )


def _pick_skills(rng: np.random.Generator, occ: Occupation, n: int) -> set[str]:
    weights = 1.0 / (1.0 + np.arange(len(occ.skills)))  # core skills more likely
    picked = rng.choice(
        len(occ.skills), size=min(n, len(occ.skills)), replace=False, p=weights / weights.sum()
    )
    return {occ.skills[i] for i in picked}


PERKS = (
    "Flexible schedule.",
    "Health benefits and paid time off.",
    "Growth opportunities.",
    "Weekly pay.",
)


def _of_occupation(attribute: str) -> np.ndarray:
    """[occupations] one attribute of each (`n_employment`: how many employment types)."""
    if attribute == "n_employment":
        return np.array([len(o.employment) for o in OCCUPATIONS])
    return np.array([getattr(o, attribute) for o in OCCUPATIONS])


def _high_cost() -> np.ndarray:
    return np.array([c[0] in HIGH_COST for c in CITIES])


@cache
def _place(city: int) -> Place:
    name, code, _, region, latitude, longitude = CITIES[city]
    return Place(name, region, code, "US", latitude, longitude)


def _titles(rng: np.random.Generator, occ: np.ndarray) -> list[str]:
    """A title of each job's occupation; 30% of salaried ones Senior, Junior or Lead."""
    pick = rng.random(len(occ))
    ranked = rng.random(len(occ)) < 0.3
    level = rng.integers(3, size=len(occ))
    titles = []
    for o, p, r, lv in zip(occ.tolist(), pick, ranked, level, strict=True):
        occupation = OCCUPATIONS[o]
        title = occupation.titles[int(p * len(occupation.titles))]
        if r and not occupation.hourly:
            title = f"{('Senior', 'Junior', 'Lead')[lv]} {title}"
        titles.append(title)
    return titles


def _pick_skills_many(rng: np.random.Generator, occ: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """[n, SKILL_NAMES] each row's `counts` skills of its occupation, drawn without
    replacement with the core skills more likely (`_pick_skills`' weights; Gumbel top-k)."""
    rows, columns = [], []
    for o, occupation in enumerate(OCCUPATIONS):
        members = np.flatnonzero(occ == o)
        if not len(members):
            continue
        width = len(occupation.skills)
        weights = np.log(1.0 / (1.0 + np.arange(width)))
        keys = weights + rng.gumbel(size=(len(members), width))
        order = np.argsort(-keys, axis=1)
        take = np.arange(width)[None, :] < np.minimum(counts[members], width)[:, None]
        names = np.array([SKILL_COLUMN[s] for s in occupation.skills])
        rows.append(np.broadcast_to(members[:, None], order.shape)[take])
        columns.append(names[order][take])
    row = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    column = np.concatenate(columns) if columns else np.empty(0, dtype=np.int64)
    flags = np.zeros((len(occ), len(SKILL_NAMES)), dtype=np.uint8)
    flags[row, column] = 1
    return flags


def _skill_names(skills: np.ndarray) -> list[list[str]]:
    """Each row's skill names, in SKILL_NAMES order."""
    row, column = np.nonzero(skills)
    names = SKILL_NAMES[column].tolist()
    bounds = np.searchsorted(row, np.arange(skills.shape[0] + 1)).tolist()
    return [names[bounds[r] : bounds[r + 1]] for r in range(skills.shape[0])]
