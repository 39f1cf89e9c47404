"""benchmarks/serving.py writes its report again from a serving.json (`--render`), with
the serving targets checked against the numbers."""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks import serving
from tests.support.paths import REPO


def measured(rec_p50: float, rec_p99: float, rps: float, errors: int, p99_1m: float) -> dict:
    def load(p50, p99, rps=50.0, errors=0):
        return {"p50_ms": p50, "p90_ms": p50, "p99_ms": p99, "rps": rps, "errors": errors}

    small = {
        "GET /healthz @1": load(0.5, 1.0),
        "POST /recommend @1": load(rec_p50, rec_p99),
        "POST /recommend @32": load(400.0, 600.0, rps=rps, errors=errors),
    }
    return {
        "generator": "wrk",
        "machine": "a test machine",
        "seconds": 60.0,
        "args": {
            "jobs": 10000,
            "rss_sizes": "10000,1000000",
            "duration": 10.0,
            "connections": "1,32",
            "workers": None,
            "threads": None,
            "compare_layout": "",
            "generator": "auto",
        },
        "sizes": {
            "10000": {
                "startup_s": 5,
                "rss_mb": 700,
                "rss_after_mb": 701,
                "catalog_size": 9542,
                "load": small,
                "in_process": {
                    "candidates": 9542,
                    "scorer_ms": 7.0,
                    "reference_ms": 420.0,
                    "speedup": 60.0,
                    "max_abs_diff": 1e-7,
                    "flops_per_candidate": {"reference": 654016, "scorer": 41172, "ratio": 15.9},
                },
            },
            "1000000": {
                "startup_s": 140,
                "rss_mb": 7000,
                "rss_after_mb": 7001,
                "catalog_size": 950148,
                "load": {"POST /recommend @1": load(40.0, p99_1m)},
                "in_process": {
                    "two_stage": {
                        "shortlist": 2000,
                        "recall@100": 0.95,
                        "recall@100_min": 0.9,
                        "users": 20,
                        "two_stage_ms": 40.0,
                        "full_ms": 900.0,
                    }
                },
            },
        },
    }


def render(tmp_path, report: dict, *, command: bool = False) -> str:
    """serving.md of `report` through `serving.py --render` (in this process, or as the
    command a person runs with `command`)."""
    source = tmp_path / "serving.json"
    source.write_text(json.dumps(report))
    argv = ["--render", str(source), "--out", str(tmp_path)]
    if command:
        subprocess.run(
            [sys.executable, "benchmarks/serving.py", *argv], cwd=REPO, check=True, timeout=120
        )
    else:
        serving.main(argv)
    return (tmp_path / "serving.md").read_text()


def test_the_report_checks_each_target_against_the_run(tmp_path):
    run = measured(rec_p50=1.2, rec_p99=2.5, rps=650, errors=0, p99_1m=45)
    text = render(tmp_path, run, command=True)
    assert "Measured on a test machine" in text
    assert "9,542 candidates: serving scorer 7.00 ms" in text
    targets = text[text.index("## Targets") :]
    assert targets.count("| met |") == 6 and "not met" not in targets
    assert "| 1M: /recommend p99 <= 50 ms (every request scored) | 45.00 ms | met |" in targets

    report = measured(rec_p50=20.0, rec_p99=30.0, rps=650, errors=3, p99_1m=86)
    report["sizes"]["10000"]["load"]["POST /recommend @32"]["cpu_ms"] = 2.5
    text = render(tmp_path, report)
    targets = text[text.index("## Targets") :]
    assert (
        "| 10k, 1 connection: /recommend p50 <= 3x the /healthz p50 (every request "
        "scored) | 40.0x " in targets
    )
    assert (
        "| 10k, 32 connections: >= 500 req/s with 0 errors (every request scored) | "
        "650 req/s, 3 errors; server CPU 2.5 ms/request, at most 800 req/s on 2 cores | "
        "not met |" in targets
    )
    assert "| POST /recommend | 32 | 400.00 | 400.00 | 600.00 | 650 | 3 | 2.50 |" in text
    assert "| 1M: /recommend p99 <= 50 ms (every request scored) | 86.00 ms | not met |" in targets
    assert targets.count("not met") == 4


def test_the_report_shows_repeated_requests_apart(tmp_path):
    """Kept answers get their own table and their own target rows; they never stand in
    for the scored ones."""
    report = measured(rec_p50=20.0, rec_p99=30.0, rps=40, errors=0, p99_1m=86)
    kept = {
        "p50_ms": 0.9,
        "p90_ms": 1.0,
        "p99_ms": 2.0,
        "rps": 900.0,
        "errors": 0,
        "kept_share": 1.0,
    }
    health = {"p50_ms": 0.4, "p90_ms": 0.5, "p99_ms": 1.0, "rps": 2000.0, "errors": 0}
    report["sizes"]["10000"]["kept"] = {
        "GET /healthz @1": health,
        "POST /recommend @1": kept,
        "POST /recommend @32": kept | {"p50_ms": 30.0},
    }
    report["sizes"]["1000000"]["kept"] = {"POST /recommend @1": kept | {"p99_ms": 3.0}}
    text = render(tmp_path, report)
    assert "| POST /recommend | 1 | 0.90 | 1.00 | 2.00 | 900 | 0 | - | 100% |" in text
    assert "At 1 connection a repeated /recommend p50 is 2.2x and p99 5.0x" in text
    targets = text[text.index("## Targets") :]
    assert (
        "| 10k, 1 connection: /recommend p50 <= 3x the /healthz p50 (repeated requests, "
        "kept answers) | 2.2x (0.90 vs 0.40 ms) | met |" in targets
    )
    assert (
        "| 10k, 32 connections: >= 500 req/s with 0 errors (repeated requests, kept "
        "answers) | 900 req/s, 0 errors | met |" in targets
    )
    assert (
        "| 1M: /recommend p99 <= 50 ms (repeated requests, kept answers) | 3.00 ms | "
        "met |" in targets
    )
    assert "| 1M: /recommend p99 <= 50 ms (every request scored) | 86.00 ms | not met |" in targets
    assert (
        "| 1,000,000 | 950,148 | 140 | 7000 | 7001 | 40.00 | 86.00 | - | - | - | 0.90 | "
        "3.00 |" in text
    )


def test_the_report_gives_the_two_stages_step_by_step(tmp_path):
    report = measured(rec_p50=20.0, rec_p99=30.0, rps=40, errors=0, p99_1m=86)
    assert "step by step" not in render(tmp_path, report)  # a run from before the steps
    report["sizes"]["1000000"]["in_process"]["two_stage"] |= {
        "user_parts_ms": 1.0,
        "pairs_ms": 20.0,
        "first_stage_ms": 25.0,
        "shortlist_ms": 0.5,
        "rerank_ms": 4.0,
        "read_mb": 512.0,
        "read_gb_s": 16.0,
        "floor_ms": 31.25,
    }
    text = render(tmp_path, report)
    assert "| 1,000,000 | 1.0 | 20.0 | 25.0 | 0.5 | 4.0 | 512 | 16.0 | 31.2 |" in text


def test_the_report_renders_a_load_tested_catalog_past_the_reference_limit(tmp_path):
    """The reference forward is timed up to REFERENCE_LIMIT candidates: a run whose
    load-tested catalog is larger has no scorer-vs-reference numbers to show."""
    report = measured(rec_p50=20.0, rec_p99=30.0, rps=40, errors=0, p99_1m=45)
    report["args"]["jobs"] = 1_000_000
    report["sizes"]["1000000"]["in_process"] |= {
        "candidates": 950148,
        "flops_per_candidate": {"reference": 654016, "scorer": 41172, "ratio": 15.9},
    }
    text = render(tmp_path, report)
    assert "950,148 candidates: the reference forward is timed up to 200,000" in text
    assert "| 1M: /recommend p99 <= 50 ms (every request scored) | 45.00 ms | met |" in text


def test_stage_times_measure_every_step_on_a_real_scorer():
    """`stage_times` runs the service's two stages step by step on a real scorer."""
    from benchmarks.serving import stage_times
    from ml.scoring import CatalogScorer
    from tests.support.builders import fitted_space, random_model, random_records

    users, jobs, interactions = random_records(n_users=5, n_jobs=60, seed=2)
    space = fitted_space(users, jobs, interactions)
    scorer = CatalogScorer(random_model(space), space, space.encode_jobs(jobs))
    steps = stage_times(
        scorer, space.encode_users(users), lambda fn: (fn(), 0.001)[1], shortlist=10
    )
    assert set(steps) == {
        "user_parts_ms",
        "pairs_ms",
        "first_stage_ms",
        "shortlist_ms",
        "rerank_ms",
        "read_mb",
        "read_gb_s",
        "floor_ms",
    }
    assert all(value > 0 for value in steps.values())
