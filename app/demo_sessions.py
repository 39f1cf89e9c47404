"""The demo's hidden truth and the sessions drawn from it (`app.demo`).

Users browse the board in sessions: each session shows them a slate of 12 jobs
(impressions), drawn in proportion to exp(2.0 * same occupation + 1.2 * same city + 0.4 *
appeal), and they view, click, save and apply to the jobs whose noisy utility passes each
threshold (`DemoWorld`), dismissing some of those far below. Every session of every user
is drawn at once, column by column: a million events in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from app.demo_world import CITIES, OCCUPATIONS, SKILL_COLUMN, SKILL_NAMES
from app.repositories.frames import EVENT_COLUMNS, EntityFrames

SLATE = 12  # jobs per session
ACTS = ("view", "click", "save", "apply")  # in the order one look leads to them


@dataclass
class DemoJobs:
    """The jobs' hidden truth, one row per job (j1..jN are rows 0..N-1)."""

    jobs: EntityFrames
    occupation: np.ndarray
    city: np.ndarray
    remote: np.ndarray
    salary_max: np.ndarray  # USD per year, NaN when not stated
    skills: np.ndarray  # [jobs, SKILL_NAMES] uint8, 1 where the job asks for the skill
    appeal: np.ndarray  # hidden per-job quality
    active: np.ndarray


@dataclass
class DemoUsers:
    """The users' hidden truth, one row per user (the showcase user last)."""

    ids: list[str]
    occupation: np.ndarray
    city: np.ndarray
    skills: list[set[str]]
    desired: np.ndarray  # USD per year, NaN when not stated


class DemoWorld:
    """Every user's utility for every job (the `app.demo` docstring's formula, noise
    aside), from which the generator drew the events and a simulation can draw new ones
    (`benchmarks/online.py`). Jobs j1..jN are rows 0..N-1; users u1..uN rows 0..N-1, the
    showcase user the last row."""

    VIEW, CLICK, SAVE, APPLY = 2.6, 3.1, 3.6, 4.0  # noisy utility above which users act
    NOISE = 0.4  # scale of the Gumbel noise of each look at a job

    def __init__(self, users: DemoUsers, jobs: DemoJobs) -> None:
        self.users, self.jobs = users, jobs
        self.user_row = {user_id: u for u, user_id in enumerate(users.ids)}
        self._state = np.array([c[1] for c in CITIES])
        self._job_sizes = jobs.skills.sum(axis=1)  # [jobs]
        self._user_sizes = np.array([len(s) for s in users.skills])  # [users]
        self._user_skills = np.zeros((len(users.ids), len(SKILL_NAMES)), dtype=np.float32)
        for u, names in enumerate(users.skills):
            self._user_skills[u, [SKILL_COLUMN[n] for n in names if n in SKILL_COLUMN]] = 1.0
        self._remote_friendly = np.array([o.remote_friendly for o in OCCUPATIONS])

    def job_row(self, job_id: str) -> int:
        return int(job_id.lstrip("abcdefghijklmnopqrstuvwxyz")) - 1

    def overlaps(self, u: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Cosine of user row `u`'s skill set with each job's (all, or `rows`)."""
        rows = np.arange(len(self._job_sizes)) if rows is None else rows
        return self.pair_overlaps(np.full(len(rows), u), rows)

    def pair_overlaps(self, users: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """[P] cosine of users[p]'s skill set with jobs[rows[p]]'s."""
        common = np.einsum("ps,ps->p", self._user_skills[users], self.jobs.skills[rows])
        sizes = self._user_sizes[users] * self._job_sizes[rows]
        return common / np.maximum(np.sqrt(sizes), 1.0)

    def utility(self, u: int, rows: np.ndarray | None = None) -> np.ndarray:
        """User row `u`'s utility for each job (all, or `rows`), before noise."""
        rows = np.arange(len(self._job_sizes)) if rows is None else rows
        return self.pair_utility(np.full(len(rows), u), rows)

    def pair_utility(self, users: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """[P] users[p]'s utility for jobs[rows[p]], before noise."""
        mine, theirs = self.users, self.jobs
        city = theirs.city[rows]
        same_city = city == mine.city[users]
        same_region = self._state[city] == self._state[mine.city[users]]
        remote_ok = theirs.remote[rows] & self._remote_friendly[mine.occupation[users]]
        desired, offered = mine.desired[users], theirs.salary_max[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            fit = np.nan_to_num(np.clip((offered - desired) / desired, -1, 1), nan=0.0)
        return (
            3.0 * self.pair_overlaps(users, rows)
            + 1.6 * same_city
            + 0.6 * (same_region & ~same_city)
            + 0.8 * remote_ok
            + 0.8 * fit
            + theirs.appeal[rows]
        )


class Board:
    """What the board shows: active jobs drawn in proportion to their exposure, as
    successive draws without replacement. Jobs are grouped by (occupation, city): a draw
    picks a group by its summed exposure, then a job in it by appeal (a binary search), so
    a slate costs O(groups + log jobs), not O(jobs)."""

    def __init__(self, jobs: DemoJobs, active: np.ndarray) -> None:
        group = jobs.occupation[active] * len(CITIES) + jobs.city[active]
        order = np.argsort(group, kind="stable")
        self.members = active[order]  # active job rows, grouped
        weight = np.exp(0.4 * jobs.appeal[self.members])
        self.cumulative = np.cumsum(weight)
        groups, self.starts, self.sizes = np.unique(
            group[order], return_index=True, return_counts=True
        )
        self.mass = np.add.reduceat(weight, self.starts)
        self.before = np.where(self.starts > 0, self.cumulative[self.starts - 1], 0.0)
        self.occupation, self.city = groups // len(CITIES), groups % len(CITIES)

    def group_odds(self, occupation: int, city: int) -> np.ndarray:
        """[groups] a user's chance of drawing from each group."""
        odds = np.exp(2.0 * (self.occupation == occupation) + 1.2 * (self.city == city))
        odds *= self.mass
        return odds / odds.sum()

    def slates(
        self, rng: np.random.Generator, occupation: np.ndarray, city: np.ndarray
    ) -> np.ndarray:
        """[S, size] distinct job rows per session (size: SLATE, or the whole board when
        it has fewer), in draw order, for sessions of users of `occupation`, `city` [S]."""
        size = min(SLATE, len(self.members))
        out = np.empty((len(occupation), size), dtype=np.int64)
        kinds = occupation * len(CITIES) + city
        for kind in np.unique(kinds):
            rows = np.flatnonzero(kinds == kind)
            odds = self.group_odds(int(kind) // len(CITIES), int(kind) % len(CITIES))
            out[rows] = self._draw(rng, odds, len(rows), size)
        return out

    def _draw(self, rng: np.random.Generator, odds: np.ndarray, n: int, size: int) -> np.ndarray:
        """[n, size] slates: draws with replacement, each slate keeping its first
        occurrences (that is successive sampling); short ones are drawn again."""
        out = np.empty((n, size), dtype=np.int64)
        todo = np.arange(n)
        draws = 3 * size
        for _ in range(64):
            jobs = self._jobs_of(rng, odds, (len(todo), draws))
            first = _first_occurrences(jobs)
            full = first.sum(1) >= size
            positions = np.argsort(~first, axis=1, kind="stable")[:, :size]
            out[todo[full]] = np.take_along_axis(jobs, positions, axis=1)[full]
            todo = todo[~full]
            if not len(todo):
                return out
            draws *= 2  # a small board with a few likely jobs: draw more
        raise RuntimeError("could not fill the demo's slates")  # 64 doublings: unreachable

    def _jobs_of(
        self, rng: np.random.Generator, odds: np.ndarray, shape: tuple[int, int]
    ) -> np.ndarray:
        """Job rows of the given shape, drawn with replacement."""
        group = rng.choice(len(odds), size=shape, p=odds)
        target = self.before[group] + rng.random(shape) * self.mass[group]
        index = np.searchsorted(self.cumulative, target, side="right")
        index = np.clip(index, self.starts[group], self.starts[group] + self.sizes[group] - 1)
        return self.members[index]


def _first_occurrences(rows: np.ndarray) -> np.ndarray:
    """[n, m] bool: whether each entry is the first of its value in its row."""
    order = np.argsort(rows, axis=1, kind="stable")
    ranked = np.take_along_axis(rows, order, axis=1)
    new = np.ones_like(ranked, dtype=bool)
    new[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    first = np.empty_like(new)
    np.put_along_axis(first, order, new, axis=1)
    return first


def browse(
    rng: np.random.Generator, world: DemoWorld, job_active: np.ndarray, start: datetime
) -> pd.DataFrame:
    """Every user's sessions and the events they lead to (`EVENT_COLUMNS`, no keys), in
    each user's order of looking.

    A user's first session starts 0-30 days after `start`, the next 1-12 days after the
    last; each look at a job takes 5-90 s. Looks are in order of noisy utility within a
    session; a job the user already viewed is only shown again (an impression).
    """
    if not job_active.any():  # nothing on the board: nothing to see
        return pd.DataFrame(columns=list(EVENT_COLUMNS))
    users = world.users
    board = Board(world.jobs, np.flatnonzero(job_active))
    n_users = len(users.ids)
    session_user = np.repeat(np.arange(n_users), rng.integers(2, 7, size=n_users))
    slates = board.slates(rng, users.occupation[session_user], users.city[session_user])
    size = slates.shape[1]
    user = np.repeat(session_user, size)
    session = np.repeat(np.arange(len(session_user)), size)
    job = slates.ravel()
    value = world.pair_utility(user, job) + rng.gumbel(0.0, world.NOISE, len(job))
    order = np.lexsort((-value, session))  # sessions in order, best look first
    user, session, job, value = user[order], session[order], job[order], value[order]

    seconds = _look_times(rng, user, session, session_user)
    # a job is skipped (impression only) once an earlier look at it led to a view
    pair = user.astype(np.int64) * len(world.jobs.city) + job
    by_pair = np.lexsort((np.arange(len(pair)), pair))
    viewed = (value > world.VIEW)[by_pair]
    earlier: np.ndarray = np.cumsum(viewed) - viewed  # views of this pair before this look ...
    starts = np.r_[True, pair[by_pair][1:] != pair[by_pair][:-1]]
    earlier = earlier - np.maximum.accumulate(np.where(starts, earlier, 0))  # ... in its pair
    skipped = np.empty(len(pair), dtype=bool)
    skipped[by_pair] = earlier > 0
    dismissed = ~skipped & (value < 0.6) & (rng.random(len(value)) < 0.3)

    look = np.arange(len(value))
    kinds = [("impression", np.ones(len(value), dtype=bool), 0)]
    for kind, threshold in zip(
        ACTS, (world.VIEW, world.CLICK, world.SAVE, world.APPLY), strict=True
    ):
        kinds.append((kind, ~skipped & (value > threshold), 3 if kind == "view" else 20))
    kinds.append(("dismiss", dismissed, 2))
    parts = []
    for rank, (kind, mask, delay) in enumerate(kinds):
        parts.append(
            pd.DataFrame(
                {
                    "look": look[mask],
                    "rank": rank,
                    "user": user[mask],
                    "job": job[mask],
                    "type": kind,
                    "seconds": seconds[mask] + delay,
                }
            )
        )
    events = pd.concat(parts, ignore_index=True).sort_values(["look", "rank"], kind="stable")
    user_ids = np.array(users.ids, dtype=object)
    job_ids = np.array([f"j{j + 1}" for j in range(len(world.jobs.city))], dtype=object)
    frame = pd.DataFrame(
        {
            "user_id": user_ids[events["user"].to_numpy()],
            "job_id": job_ids[events["job"].to_numpy()],
            "type": events["type"].to_numpy(),
            "occurred_at": (
                pd.Timestamp(start) + pd.to_timedelta(events["seconds"], unit="s")
            ).astype("datetime64[us, UTC]"),
        }
    )
    return frame.reindex(columns=EVENT_COLUMNS).reset_index(drop=True)


def _look_times(
    rng: np.random.Generator, user: np.ndarray, session: np.ndarray, session_user: np.ndarray
) -> np.ndarray:
    """[looks] seconds from the demo's start to each look (looks in user order): the
    user's first day, plus the 5-90 s of each of their looks so far, plus the 1-12 days
    after each of their earlier sessions."""
    n_users = int(session_user.max()) + 1
    first_day = rng.uniform(0, 30, n_users)
    gap = rng.uniform(1, 12, len(session_user))  # days after each session
    gaps_before = _within_groups(np.cumsum(gap), session_user) - gap
    step = rng.integers(5, 90, len(user)).astype(np.float64)
    steps_so_far = _within_groups(np.cumsum(step), user)
    return (first_day[user] + gaps_before[session]) * 86400.0 + steps_so_far


def _within_groups(running: np.ndarray, group: np.ndarray) -> np.ndarray:
    """A running total restarted at each group (`group` sorted): the total minus what it
    was just before the group's first entry."""
    starts = np.r_[0, np.flatnonzero(group[1:] != group[:-1]) + 1]
    before = np.r_[0.0, running][starts]  # the running total before each group
    return running - np.repeat(before, np.diff(np.r_[starts, len(group)]))
