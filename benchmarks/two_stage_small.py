"""Would two stages make a 10k catalog cheap enough? Exact ranking against the two stages
with a lowered threshold, on the store and checkpoint of `benchmarks/serving.py`.

    python benchmarks/two_stage_small.py [--jobs 10000] [--users 300]
        [--shortlists 500,1000,2000] [--folder /tmp/jobrec-profile]

In process, one torch thread, the service's `rank` (`app.serving.ranking`) for each of
`--users` demo users, k=100: the CPU time per request of exact scoring (every job) and of
two stages with each shortlist (TWO_STAGE_MIN_CANDIDATES below the catalog), and how far
the two stages' answers are from the exact ones: recall@10 and @100, and how many users
get the same ten best scores (jobs alike in every feature tie, so ids alone
mislead). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from app.db import create_db_engine, session_factory, session_scope
from app.repositories import CatalogReader, EventRepository, JobRepository, UserRepository
from app.serving.catalog import Catalog
from app.serving.filters import JobFilter
from app.serving.ranking import TwoStage, rank
from benchmarks.serving import build_store, train_checkpoint
from ml.checkpoint import load_checkpoint
from ml.data import aggregate_feedback, attach_history

K = 100


def rankings(checkpoint, catalog, users, two_stage: TwoStage) -> tuple[list, list, float]:
    """Each user's top K job ids and their scores, and the median CPU ms of a request."""
    for user in users[:20]:  # warm
        rank(checkpoint, catalog, user, JobFilter(), K, two_stage)
    tops, scores, times = [], [], []
    for user in users:
        started = time.process_time()
        ranked, _ = rank(checkpoint, catalog, user, JobFilter(), K, two_stage)
        times.append(time.process_time() - started)
        tops.append([job.job_id for job, _ in ranked])
        scores.append([score for _, score in ranked])
    return tops, scores, statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--shortlists", default="500,1000,2000")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/jobrec-profile"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.folder.mkdir(parents=True, exist_ok=True)
    checkpoint = load_checkpoint(train_checkpoint(args.folder))
    factory = session_factory(
        create_db_engine(build_store(args.folder / f"store-{args.jobs}.db", args.jobs))
    )
    with session_scope(factory) as s:
        jobs = CatalogReader(s).jobs()
        users = UserRepository(s).records([f"u{i}" for i in range(1, args.users + 1)])
        feedback = aggregate_feedback(EventRepository(s).interactions())
        liked = JobRepository(s).records(
            external_ids=sorted({f.job_id for f in feedback if f.label > 0})
        )
    space = checkpoint.space
    users = attach_history(users, feedback, liked, space.config.max_history)
    catalog = Catalog.build(jobs, checkpoint.model, space)
    exact, exact_scores, exact_ms = rankings(
        checkpoint, catalog, users, TwoStage(len(jobs) + 1, 2000)
    )
    print(f"{len(jobs)} jobs, {len(users)} users, k={K}, one torch thread\n")
    print(
        "| ranking | CPU ms/request (median) | recall@10 (mean, min) | same top-10 scores "
        "| recall@100 (mean, min) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| exact (every job) | {exact_ms:.2f} | 1 | {len(users)}/{len(users)} | 1 |")
    for shortlist in (int(s) for s in args.shortlists.split(",")):
        tops, scores, ms = rankings(checkpoint, catalog, users, TwoStage(1, shortlist))
        cells = []
        for k in (10, 100):
            recall = [len(set(a[:k]) & set(b[:k])) / k for a, b in zip(exact, tops, strict=True)]
            cells.append(f"{statistics.mean(recall):.3f}, {min(recall):.2f}")
        # the same ten scores: equal jobs (the synthetic catalog repeats some) tie
        same = sum(
            max(abs(x - y) for x, y in zip(a[:10], b[:10], strict=True)) < 1e-5
            for a, b in zip(exact_scores, scores, strict=True)
        )
        print(
            f"| two stages, shortlist {shortlist} | {ms:.2f} | {cells[0]} "
            f"| {same}/{len(users)} | {cells[1]} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
