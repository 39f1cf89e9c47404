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

import numpy as np

from app.demo_world import (
    CITIES,
    COMPANY_SUFFIX,
    COMPANY_WORDS,
    HIGH_COST,
    OCCUPATIONS,
    Occupation,
)
from app.repositories import EventRow
from app.schemas import DesiredSalaryIn, JobIn, SalaryIn, UserIn

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
SHOWCASE_USER = "123"  # the user of the API's example request


@dataclass
class DemoData:
    jobs: list[tuple[str, JobIn]]
    users: list[tuple[str, UserIn]]
    events: list[EventRow]
    world: DemoWorld  # the hidden truth the events were drawn from


def generate_demo(n_users: int, n_jobs: int, seed: int) -> DemoData:
    """Users u1..uN (plus "123", the showcase user of the API examples), jobs j1..jN
    and their interactions, from one seeded generator."""
    if n_users < 1 or n_jobs < 1:
        raise ValueError("the demo needs at least one user and one job")
    rng = np.random.default_rng(seed)
    n_occ = len(OCCUPATIONS)
    city_weights = _city_weights()

    companies = _companies(rng, city_weights)
    made = _jobs(rng, n_jobs, companies, city_weights, prefix="j")
    jobs = made.jobs

    # users; the last one is the showcase user "123" of the API examples: a data
    # scientist in San Francisco
    user_ids = [f"u{u + 1}" for u in range(n_users)] + [SHOWCASE_USER]
    user_occ = np.append(rng.integers(0, n_occ, n_users), 0)
    user_city = np.append(rng.choice(len(CITIES), size=n_users, p=city_weights), 0)
    users: list[tuple[str, UserIn]] = []
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
        desired = None
        if rng.random() < 0.7:
            amount = occ.annual_median * float(rng.lognormal(0.0, 0.12))
            if CITIES[int(user_city[u])][0] in HIGH_COST:
                amount *= 1.2
            desired = (
                DesiredSalaryIn(amount=round(amount / 2080, 2), period="hour")
                if occ.hourly
                else DesiredSalaryIn(amount=round(amount, -3))
            )
            user_desired[u] = desired.annual_usd
        company = None
        if rng.random() < 0.4:
            options = [c for c in companies if c[1] == user_occ[u]]
            company = options[int(rng.integers(len(options)))][0]
        headline = str(rng.choice(occ.titles))
        if user_id == SHOWCASE_USER:
            headline = "Data Scientist"  # as the README introduces them
        users.append(
            (
                user_id,
                UserIn(
                    headline=headline,
                    location=f"{CITIES[int(user_city[u])][0]}, {CITIES[int(user_city[u])][1]}",
                    current_company=company,
                    skills=sorted(skills),
                    desired_salary=desired,
                ),
            )
        )
        user_skill_sets.append(skills)

    world = DemoWorld(_Users(user_ids, user_occ, user_city, user_skill_sets, user_desired), made)
    events = _browse(rng, world, np.array([j.active for _, j in jobs]))
    return DemoData(jobs=jobs, users=users, events=events, world=world)


def generate_catalog(n_jobs: int, seed: int = 7, prefix: str = "c") -> list[tuple[str, JobIn]]:
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


@dataclass
class _Jobs:
    jobs: list[tuple[str, JobIn]]
    occupation: np.ndarray
    city: np.ndarray
    remote: np.ndarray
    salary_max: np.ndarray  # USD per year, NaN when not stated
    skills: list[set[str]]
    appeal: np.ndarray  # hidden per-job quality


@dataclass
class _Users:
    ids: list[str]
    occupation: np.ndarray
    city: np.ndarray
    skills: list[set[str]]
    desired: np.ndarray  # USD per year, NaN when not stated


def _jobs(
    rng: np.random.Generator,
    n_jobs: int,
    companies: list[tuple[str, int, int]],
    city_weights: np.ndarray,
    prefix: str,
) -> _Jobs:
    job_occ = np.empty(n_jobs, dtype=np.int64)
    job_city = np.empty(n_jobs, dtype=np.int64)
    job_remote = np.zeros(n_jobs, dtype=bool)
    job_salary_max = np.full(n_jobs, np.nan)
    job_skill_sets: list[set[str]] = []
    job_appeal = rng.normal(0.0, 0.4, n_jobs)
    jobs: list[tuple[str, JobIn]] = []
    for j in range(n_jobs):
        name, occ_index, home = companies[int(rng.integers(len(companies)))]
        occ = OCCUPATIONS[occ_index]
        city = home if rng.random() < 0.6 else int(rng.choice(len(CITIES), p=city_weights))
        remote = occ.remote_friendly and rng.random() < 0.15
        skills = _pick_skills(rng, occ, int(rng.integers(3, 7)))
        title = str(rng.choice(occ.titles))
        if not occ.hourly and rng.random() < 0.3:
            title = f"{rng.choice(['Senior', 'Junior', 'Lead'])} {title}"
        salary = None
        pay = occ.annual_median * (1.25 if CITIES[city][0] in HIGH_COST else 1.0)
        pay *= float(rng.lognormal(0.0, 0.15))
        if rng.random() < 0.85:
            if occ.hourly and rng.random() < 0.8:
                low = round(pay / 2080 * 0.9, 2)
                salary = SalaryIn(min=low, max=round(low * 1.2, 2), period="hour")
            else:
                low = round(pay * 0.9, -3)
                salary = SalaryIn(min=low, max=round(low * 1.25, -3), period="year")
            job_salary_max[j] = salary.to_salary().annual_max_usd
        posted = START - timedelta(days=int(rng.integers(0, 60)))
        jobs.append(
            (
                f"{prefix}{j + 1}",
                JobIn(
                    title=title,
                    description=_describe(rng, occ, title, name, skills),
                    company=name,
                    location=f"{CITIES[city][0]}, {CITIES[city][1]}",
                    remote=bool(remote),
                    skills=sorted(skills),
                    salary=salary,
                    employment_type=str(rng.choice(occ.employment)),
                    posted_at=posted,
                    expires_at=posted + timedelta(days=120),
                    active=bool(rng.random() < 0.95),
                ),
            )
        )
        job_occ[j], job_city[j], job_remote[j] = occ_index, city, remote
        job_skill_sets.append(skills)
    return _Jobs(jobs, job_occ, job_city, job_remote, job_salary_max, job_skill_sets, job_appeal)


def _pick_skills(rng: np.random.Generator, occ: Occupation, n: int) -> set[str]:
    weights = 1.0 / (1.0 + np.arange(len(occ.skills)))  # core skills more likely
    picked = rng.choice(
        len(occ.skills), size=min(n, len(occ.skills)), replace=False, p=weights / weights.sum()
    )
    return {occ.skills[i] for i in picked}


def _describe(
    rng: np.random.Generator, occ: Occupation, title: str, company: str, skills: set[str]
) -> str:
    listed = ", ".join(sorted(skills))
    perks = rng.choice(
        [
            "Flexible schedule.",
            "Health benefits and paid time off.",
            "Growth opportunities.",
            "Weekly pay.",
        ]
    )
    return f"{company} is hiring a {title}. Skills we look for: {listed}. {perks}"


def _skill_cosine(a: list[set[str]], b: list[set[str]]) -> np.ndarray:
    """Cosine similarity of every set in `a` with every set in `b`: [len(a), len(b)]."""
    names = sorted(set().union(*a, *b))
    column = {name: i for i, name in enumerate(names)}

    def matrix(sets: list[set[str]]) -> np.ndarray:
        out = np.zeros((len(sets), len(names)))
        for row, skills in enumerate(sets):
            out[row, [column[s] for s in skills]] = 1.0
        return out

    ma, mb = matrix(a), matrix(b)
    norms = np.sqrt(ma.sum(1, keepdims=True) * mb.sum(1)[None, :])
    return (ma @ mb.T) / np.maximum(norms, 1.0)


class DemoWorld:
    """The demo's hidden truth: every user's utility for every job (the module
    docstring's formula, noise aside), from which the generator drew the events and a
    simulation can draw new ones (`benchmarks/online.py`). Jobs j1..jN are rows 0..N-1;
    users u1..uN rows 0..N-1, the showcase user the last row."""

    VIEW, CLICK, SAVE, APPLY = 2.6, 3.1, 3.6, 4.0  # noisy utility above which users act
    NOISE = 0.4  # scale of the Gumbel noise of each look at a job

    def __init__(self, users: _Users, jobs: _Jobs) -> None:
        self.users, self.jobs = users, jobs
        self.user_row = {user_id: u for u, user_id in enumerate(users.ids)}
        self._overlaps = _skill_cosine(users.skills, jobs.skills)  # [users, jobs]
        self._city_state = np.array([c[1] for c in CITIES])

    def job_row(self, job_id: str) -> int:
        return int(job_id.lstrip("abcdefghijklmnopqrstuvwxyz")) - 1

    def utility(self, u: int) -> np.ndarray:
        """[jobs] user row `u`'s utility for each job, before noise."""
        users, jobs = self.users, self.jobs
        same_city = jobs.city == users.city[u]
        same_region = self._city_state[jobs.city] == self._city_state[users.city[u]]
        remote_ok = jobs.remote & OCCUPATIONS[int(users.occupation[u])].remote_friendly
        fit = np.zeros(len(jobs.city))
        desired = users.desired[u]
        if not np.isnan(desired):
            known = ~np.isnan(jobs.salary_max)
            fit[known] = np.clip((jobs.salary_max[known] - desired) / desired, -1, 1)
        return (
            3.0 * self._overlaps[u]
            + 1.6 * same_city
            + 0.6 * (same_region & ~same_city)
            + 0.8 * remote_ok
            + 0.8 * fit
            + jobs.appeal
        )


def _browse(rng: np.random.Generator, world: DemoWorld, job_active: np.ndarray) -> list[EventRow]:
    """Sessions of impressions and the events they lead to, in time order per user."""
    users, jobs = world.users, world.jobs
    user_ids, user_occ, user_city = users.ids, users.occupation, users.city
    job_occ, job_city, job_appeal = jobs.occupation, jobs.city, jobs.appeal
    active = np.flatnonzero(job_active)
    events: list[EventRow] = []
    for u in range(len(user_occ)):
        same_city = job_city == user_city[u]
        utility = world.utility(u)
        # the board shows loosely relevant jobs: same occupation or nearby, plus others
        exposure = np.exp(2.0 * (job_occ == user_occ[u]) + 1.2 * same_city + 0.4 * job_appeal)
        exposure = exposure[active] / exposure[active].sum()
        t = START + timedelta(days=float(rng.uniform(0, 30)))
        seen: set[int] = set()
        for _ in range(int(rng.integers(2, 7))):
            slate = active[
                rng.choice(len(active), size=min(12, len(active)), replace=False, p=exposure)
            ]
            noisy = utility[slate] + rng.gumbel(0.0, world.NOISE, len(slate))
            for j, value in sorted(
                zip(slate.tolist(), noisy.tolist(), strict=True), key=lambda item: -item[1]
            ):
                t += timedelta(seconds=float(rng.integers(5, 90)))
                uid, jid = user_ids[u], f"j{j + 1}"
                events.append(EventRow(uid, jid, "impression", t))
                if j in seen:
                    continue
                if value > world.VIEW:
                    seen.add(j)
                    events.append(EventRow(uid, jid, "view", t + timedelta(seconds=3)))
                    acts = (("click", world.CLICK), ("save", world.SAVE), ("apply", world.APPLY))
                    for kind, threshold in acts:
                        if value > threshold:
                            events.append(EventRow(uid, jid, kind, t + timedelta(seconds=20)))
                elif value < 0.6 and rng.random() < 0.3:
                    events.append(EventRow(uid, jid, "dismiss", t + timedelta(seconds=2)))
            t += timedelta(days=float(rng.uniform(1, 12)))
    return events
