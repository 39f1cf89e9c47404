"""Serving speed: `jobrec serve` driven over real HTTP, and the scorer in-process.

    python benchmarks/serving.py [--jobs 10000] [--rss-sizes 10000,100000,1000000]
                                 [--duration 10] [--connections 1,8,32]

1. A checkpoint of the default configuration is trained on the demo data (3 epochs).
2. For each catalog size, a temporary SQLite store gets the demo (users with their
   history, 1,500 jobs) plus synthetic jobs up to that size; the server is started as
   `jobrec serve` runs it (its own process), and its resident memory is read once ready.
3. On the main size (--jobs), a load generator (wrk when installed, else an async httpx
   client in its own process; both bounded by --duration) drives GET /healthz and
   POST /recommend (k=10, random demo users, without and with filters) at each
   connection count, every request scored (`Cache-Control: no-cache`). Then the same
   requests again, each answered once beforehand: repeated requests get the answer
   the worker kept (RESULT_CACHE_SIZE), and /metrics counts how many did. Latency
   percentiles, requests/s and errors come from the generator.
4. In-process: one request's candidates scored by the serving scorer vs the reference
   forward, side by side; the FLOPs per candidate of each; and, on every size past
   the two-stage threshold, the two stages' recall@100 against full scoring.
Writes docs/benchmarks/serving.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import torch

from app.db import create_db_engine, session_factory, session_scope
from app.demo import generate_catalog
from app.importers import write_frames
from app.importers.demo import import_demo
from app.migrate import upgrade
from app.repositories import CatalogReader, EventRepository, JobRepository, UserRepository
from app.serving.catalog import Catalog
from app.serving.filters import JobFilter
from app.serving.ranking import TwoStage, largest
from app.serving.ranking import rank as rank_catalog
from app.serving.state import ServingState
from app.settings import Settings
from benchmarks.common import REPO, load_records, machine
from ml.checkpoint import load_checkpoint
from ml.config import Config
from ml.data import aggregate_feedback, attach_history
from ml.experiment import run_training
from ml.scoring import score_catalog

DEMO_USERS, DEMO_JOBS = 2000, 1500
FILTERS = {"salary_min": 60000, "location_preference": "CA", "remote": "exclude"}
FRESH = {"Cache-Control": "no-cache"}  # score the request even when its answer is kept
SERVICE_TWO_STAGE = TwoStage.of(Settings())  # what the served app uses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000, help="catalog of the load test")
    parser.add_argument("--rss-sizes", default="10000,100000,1000000")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--connections", default="1,8,32")
    parser.add_argument("--workers", type=int, default=None, help="[WORKERS setting]")
    parser.add_argument("--threads", type=int, default=None, help="[TORCH_THREADS setting]")
    parser.add_argument(
        "--compare-layout",
        default="2x1",
        metavar="WORKERSxTHREADS",
        help="also load-test the main size with this worker x torch-thread layout ('' to skip)",
    )
    parser.add_argument("--generator", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the checkpoint and stores in this folder and reuse them on the next run",
    )
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="SERVING_JSON",
        help="measure nothing: write serving.md again from a serving.json",
    )
    args = parser.parse_args(argv)
    if args.render:
        report = json.loads(args.render.read_text())
        report["sizes"] = {int(size): entry for size, entry in report["sizes"].items()}
        args.__dict__.update(
            {k: v for k, v in report["args"].items() if k not in ("out", "keep", "render")}
        )
        (args.out / "serving.md").write_text(render(report, args))
        return
    generator = (
        args.generator if args.generator != "auto" else ("wrk" if shutil.which("wrk") else "httpx")
    )
    sizes = sorted({args.jobs, *(int(s) for s in args.rss_sizes.split(",") if s)})
    connections = [int(c) for c in args.connections.split(",")]
    started = time.perf_counter()
    report: dict = {
        "generator": generator,
        "machine": machine(),
        "sizes": {},
        "args": vars(args) | {"keep": str(args.keep), "out": str(args.out)},
    }
    with tempfile.TemporaryDirectory(prefix="jobrec-serving-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        model = train_checkpoint(folder)
        for size in sizes:
            url = build_store(folder / f"store-{size}.db", size)
            entry = report["sizes"][size] = {}
            with Server(url, model, args.workers, args.threads) as server:
                entry["startup_s"] = server.startup_s
                entry["rss_mb"] = server.rss_mb()
                entry["catalog_size"] = server.catalog_size
                if size == args.jobs:
                    entry["load"] = load_tests(server, generator, connections, args.duration)
                    entry["explain"] = load_tests(
                        server,
                        generator,
                        [1],
                        args.duration,
                        filtered=False,
                        healthz=False,
                        explain=True,
                    )
                    entry["kept"] = load_tests(
                        server, generator, connections, args.duration, kept=True
                    )
                else:
                    entry["load"] = load_tests(server, generator, [1], args.duration, healthz=False)
                    entry["kept"] = load_tests(
                        server,
                        generator,
                        [1],
                        args.duration,
                        filtered=False,
                        healthz=False,
                        kept=True,
                    )
                entry["rss_after_mb"] = server.rss_mb()
            if size == args.jobs and args.compare_layout:
                workers, threads = (int(n) for n in args.compare_layout.split("x"))
                with Server(url, model, workers, threads) as server:
                    entry["layout"] = {
                        "workers": workers,
                        "threads": threads,
                        "rss_mb": server.rss_mb(),
                        "load": load_tests(
                            server,
                            generator,
                            connections,
                            args.duration,
                            filtered=False,
                            healthz=False,
                        ),
                    }
            entry["in_process"] = in_process(
                url, model, two_stage=size > SERVICE_TWO_STAGE.min_candidates
            )
            print(json.dumps({size: entry}, indent=1), flush=True)
    report["seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serving.json").write_text(json.dumps(report, indent=1))
    text = render(report, args)
    (args.out / "serving.md").write_text(text)
    print(text)


# -- set-up -------------------------------------------------------------------------------


def train_checkpoint(folder: Path) -> Path:
    if (folder / "model" / "metadata.json").is_file():
        return folder / "model"
    url = f"sqlite:///{folder / 'train.db'}"
    upgrade(url)
    engine = create_db_engine(url)
    factory = session_factory(engine)
    import_demo(factory, users=DEMO_USERS, jobs=DEMO_JOBS, seed=Settings().demo_seed)
    config = Config.load(**{"train.epochs": 3, "train.ablations": []})
    run_training(*load_records(factory), config, folder / "model", progress=False)
    engine.dispose()
    return folder / "model"


def build_store(path: Path, size: int) -> str:
    """The demo (users, history, 1,500 jobs) plus synthetic jobs up to `size` jobs."""
    url = f"sqlite:///{path}"
    if path.is_file():
        upgrade(url)  # a store kept from an earlier schema
        return url
    upgrade(url)
    engine = create_db_engine(url)
    factory = session_factory(engine)
    import_demo(factory, users=DEMO_USERS, jobs=DEMO_JOBS, seed=Settings().demo_seed)
    extra = size - DEMO_JOBS
    if extra > 0:
        write_frames(factory, jobs=generate_catalog(extra))
    engine.dispose()
    return url


class Server:
    """`jobrec serve` in its own process on a free port."""

    def __init__(
        self,
        url: str,
        model: Path,
        workers: int | None,
        threads: int | None,
        checkout: Path = REPO,  # whose code serves (an earlier commit's worktree)
        env: dict[str, str] | None = None,  # more settings
    ):
        from tests.support.server import free_port

        self.checkout = checkout
        self.lines: list[tuple[float, str]] = []  # (perf_counter, line) of its stderr
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "MODEL_PATH": str(model),
            "LOG_LEVEL": "warning",
            **(env or {}),
        }
        if workers:
            self.env["WORKERS"] = str(workers)
        if threads:
            self.env["TORCH_THREADS"] = str(threads)

    def __enter__(self) -> Server:
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
            env=self.env,
            cwd=self.checkout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            text=True,
        )
        threading.Thread(target=self._read_stderr, daemon=True).start()
        while True:
            try:
                ready = httpx.get(f"{self.base}/readyz", timeout=5)
                if ready.status_code == 200:
                    self.catalog_size = ready.json()["catalog_size"]
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                time.sleep(0.5)  # the last lines
                said = "".join(line for _, line in self.lines)
                raise RuntimeError(f"server died: {said[-2000:]}")
            time.sleep(0.5)
        self.startup_s = time.perf_counter() - started
        return self

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.lines.append((time.perf_counter(), line))

    def pids(self) -> set[int]:
        """The server and its worker processes."""
        pids = {self.proc.pid}
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(
                    line.split(":\t", 1)
                    for line in status.read_text().splitlines()
                    if ":\t" in line
                )
            except OSError:
                continue
            if int(fields.get("PPid", "0").strip()) in pids:
                pids.add(int(status.parent.name))
        return pids

    def _proc(self, name: str) -> list[str]:
        """/proc/PID/`name` of the server and each worker still running."""
        texts = []
        for pid in self.pids():
            with contextlib.suppress(OSError):  # a worker that has just exited
                texts.append(Path(f"/proc/{pid}/{name}").read_text())
        return texts

    def rss_mb(self) -> float:
        """Resident memory of the server and its worker processes, in MiB."""
        return (
            sum(
                int(line.split()[1])
                for text in self._proc("status")
                for line in text.splitlines()
                if line.startswith("VmRSS:")
            )
            / 1024
        )

    def pss_mb(self) -> float:
        """Proportional set size of the server and its workers, in MiB: pages shared
        between them (a mapped catalog snapshot, the libraries) counted once in all."""
        return (
            sum(
                int(line.split()[1])
                for text in self._proc("smaps_rollup")
                for line in text.splitlines()
                if line.startswith("Pss:")
            )
            / 1024
        )

    def kept_answers(self) -> float:
        """Answers served from the kept ones so far (the server's /metrics)."""
        text = httpx.get(f"{self.base}/metrics", timeout=30).text
        return next(
            float(line.split()[1])
            for line in text.splitlines()
            if line.startswith("jobrec_kept_answers_total ")
        )

    def cpu_s(self) -> float:
        """CPU time (user + system, every thread) the server and its workers used so far."""
        ticks = 0
        for stat in self._proc("stat"):
            utime, stime = stat[stat.rindex(")") + 2 :].split()[11:13]
            ticks += int(utime) + int(stime)
        return ticks / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


# -- load ---------------------------------------------------------------------------------


def request_bodies(filtered: bool, n: int = 500, explain: bool = False) -> list[str]:
    rng = random.Random(1)
    bodies = []
    for _ in range(n):
        body = {"user_id": f"u{rng.randint(1, DEMO_USERS)}", "max_recommendations": 10}
        if filtered:
            body |= FILTERS
        if explain:
            body["explain"] = True
        bodies.append(json.dumps(body))
    return bodies


def load_tests(
    server: Server,
    generator: str,
    connections: list[int],
    duration: float,
    *,
    filtered: bool = True,
    healthz: bool = True,
    kept: bool = False,
    explain: bool = False,
) -> dict:
    """Each scenario at each connection count: every /recommend scored (`kept` False),
    or every one asked once beforehand so that the worker has its answer kept."""
    scenarios = {}
    if healthz:
        scenarios["GET /healthz"] = ("GET", "/healthz", None)
    scenarios["POST /recommend"] = ("POST", "/recommend", request_bodies(False))
    if explain:  # the same requests, explained, beside them
        scenarios["POST /recommend (explain)"] = (
            "POST",
            "/recommend",
            request_bodies(False, explain=True),
        )
    if filtered:
        scenarios["POST /recommend (filters)"] = ("POST", "/recommend", request_bodies(True))
    results = {}
    for name, (method, path, bodies) in scenarios.items():
        if kept and bodies:
            for body in dict.fromkeys(bodies):
                httpx.post(
                    server.base + path,
                    content=body,
                    timeout=120,
                    headers={"Content-Type": "application/json"},
                ).raise_for_status()
        for c in connections:
            run = run_wrk if generator == "wrk" else run_httpx
            cpu, before = server.cpu_s(), server.kept_answers()
            result = run(server.base, method, path, bodies, c, duration, fresh=not kept)
            # the server's CPU per answered request, every thread and worker summed
            result["cpu_ms"] = 1000 * (server.cpu_s() - cpu) / max(1, result["requests"])
            if bodies:
                result["kept_share"] = (server.kept_answers() - before) / max(1, result["requests"])
            results[f"{name} @{c}"] = result
            drain(server)
    return results


def drain(server: Server) -> None:
    """Wait until requests the generator left queued in the server are answered: one
    recommendation request (scored, not kept) queues behind them."""
    time.sleep(1)
    httpx.post(f"{server.base}/recommend", json={"user_id": "u1"}, timeout=120, headers=FRESH)
    time.sleep(1)


WRK_SCRIPT = """
local bodies = {}
for line in io.lines("%s") do bodies[#bodies + 1] = line end
local i = 0
request = function()
  if #bodies == 0 then return wrk.format("%s", "%s") end
  i = i %% #bodies + 1
  return wrk.format("%s", "%s", {["Content-Type"] = "application/json"%s}, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"p50":%%d,"p90":%%d,"p99":%%d,"requests":%%d,"duration_us":%%d,' ..
    '"errors":%%d,"non_2xx":%%d}\\n',
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def run_wrk(base, method, path, bodies, connections, duration, fresh) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "bodies.txt"
        body_file.write_text("\n".join(bodies or []) + ("\n" if bodies else ""))
        script = Path(tmp) / "run.lua"
        headers = "".join(f', ["{k}"] = "{v}"' for k, v in FRESH.items()) if fresh else ""
        script.write_text(WRK_SCRIPT % (body_file, method, path, method, path, headers))
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(duration))}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                base + path,
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
        )
    lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"wrk gave no result: {out.stdout[-1500:]} {out.stderr[-1500:]}")
    line = lines[0]
    data = json.loads(line[len("RESULT ") :])
    return {
        "p50_ms": data["p50"] / 1000,
        "p90_ms": data["p90"] / 1000,
        "p99_ms": data["p99"] / 1000,
        "rps": data["requests"] / (data["duration_us"] / 1e6),
        "errors": data["errors"] + data["non_2xx"],
        "requests": data["requests"],
    }


def run_httpx(base, method, path, bodies, connections, duration, fresh) -> dict:
    """The same measurement with an async httpx client in a child process."""
    headers = {"content-type": "application/json", **(FRESH if fresh else {})}
    code = f"""
import asyncio, json, sys, time, httpx
async def worker(client, bodies, deadline, out, k):
    i = k
    while time.perf_counter() < deadline:
        body = bodies[i % len(bodies)] if bodies else None
        i += 1
        t = time.perf_counter()
        try:
            r = await client.request({method!r}, {path!r}, content=body,
                                     headers={headers!r})
            ok = r.status_code < 400
        except httpx.HTTPError:
            ok = False
        out.append((time.perf_counter() - t, ok))
async def main():
    bodies = json.loads(sys.stdin.read())
    limits = httpx.Limits(max_connections={connections})
    async with httpx.AsyncClient(base_url={base!r}, limits=limits, timeout=10) as client:
        out = []
        deadline = time.perf_counter() + {duration}
        start = time.perf_counter()
        await asyncio.gather(*(worker(client, bodies, deadline, out, k)
                               for k in range({connections})))
        print(json.dumps({{"latencies": [x for x, _ in out],
                           "errors": sum(not ok for _, ok in out),
                           "seconds": time.perf_counter() - start}}))
asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(bodies or []),
        capture_output=True,
        text=True,
        timeout=duration + 120,
    )
    data = json.loads(out.stdout)
    lat = sorted(data["latencies"])

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000

    return {
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "rps": len(lat) / data["seconds"],
        "errors": data["errors"],
        "requests": len(lat),
    }


# -- in-process --------------------------------------------------------------------------

# the reference forward runs about 35 us per candidate: past this, one request takes seconds
REFERENCE_LIMIT = 200_000


def in_process(url: str, model: Path, *, two_stage: bool, repeats: int = 15) -> dict:
    """Scorer vs reference forward on one request's candidates (the whole catalog)."""
    checkpoint = load_checkpoint(model)
    engine = create_db_engine(url)
    factory = session_factory(engine)
    with session_scope(factory) as session:
        jobs = CatalogReader(session).jobs()
        users = UserRepository(session).records([f"u{i}" for i in range(1, 51)])
        feedback = aggregate_feedback(EventRepository(session).interactions())
        liked = JobRepository(session).records(
            external_ids=sorted({f.job_id for f in feedback if f.label > 0})
        )
    engine.dispose()
    space = checkpoint.space
    records = attach_history(users, feedback, liked, space.config.max_history)
    users = space.encode_users(records)
    started = time.perf_counter()
    catalog = Catalog.build(jobs, checkpoint.model, space)
    build_s = time.perf_counter() - started
    part = catalog.base
    scorer = part.scorer
    features = scorer.jobs
    out: dict = {"candidates": len(part), "catalog_build_s": build_s}

    def timed(fn) -> float:
        fn()
        samples = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t)
        return statistics.median(samples)

    if len(part) <= REFERENCE_LIMIT:
        rows = torch.tensor([0])
        fast = timed(lambda: scorer.score(users, 0))
        reference = timed(
            lambda: score_catalog(checkpoint.model, space, users, rows, features, max_pairs=16384)
        )
        diff = (
            (
                scorer.score(users, 0)
                - score_catalog(checkpoint.model, space, users, rows, features)[0]
            )
            .abs()
            .max()
            .item()
        )
        out |= {
            "scorer_ms": fast * 1000,
            "reference_ms": reference * 1000,
            "speedup": reference / fast,
            "max_abs_diff": diff,
        }
    out["flops_per_candidate"] = flops(checkpoint.model)
    if two_stage:
        state = ServingState(checkpoint, catalog, synced_at=datetime.now(UTC))
        out["two_stage"] = recall_at_100(state, records, timed)
        out["two_stage"] |= stage_times(scorer, users, timed)
    return out


def stage_times(scorer, users, timed, shortlist: int = SERVICE_TWO_STAGE.shortlist) -> dict:
    """In-process ms of each step of a two-stage request over the whole catalog (user 0),
    and the floor memory bandwidth sets: the per-job arrays the whole-catalog steps
    read (the job vectors' int8 codes, pair-field dots, first-stage bias, setting codes,
    salaries; of the skill lists, only the user's skills' are read) and the per-job
    pair fields of the `PairTable` they write and read back, over the bandwidth of one
    summing pass over the float32 job vectors."""
    user = scorer.user_parts(users, 0)
    pairs = scorer.pair_table(users, 0, stand_in=True)
    cheap = scorer.first_stage(users, 0, None, user, pairs, exact=False)
    keep = largest(cheap, shortlist)

    def rerank():
        kept = scorer.mend_pairs(users, 0, keep, pairs.rows(keep))
        return scorer.score(users, 0, keep, user, kept)

    read = [
        scorer.shortlist_codes,
        scorer.shortlist_scales,
        scorer.pair_job_dots,
        scorer.first_stage_bias,
        scorer.pairs.setting_of,
        scorer.jobs.salary,
    ]
    per_job_mb = sum(t.numel() * t.element_size() for t in read) / 2**20
    pairs_mb = pairs.per_job.numel() * pairs.per_job.element_size() / 2**20
    vectors = scorer.job.s  # float32
    pass_s = timed(lambda: vectors.sum())
    gb_s = vectors.numel() * vectors.element_size() / 2**30 / pass_s
    return {
        "user_parts_ms": timed(lambda: scorer.user_parts(users, 0)) * 1000,
        "pairs_ms": timed(lambda: scorer.pair_table(users, 0, stand_in=True)) * 1000,
        "first_stage_ms": timed(
            lambda: scorer.first_stage(users, 0, None, user, pairs, exact=False)
        )
        * 1000,
        "shortlist_ms": timed(lambda: largest(cheap, shortlist)) * 1000,
        "rerank_ms": timed(rerank) * 1000,
        "read_mb": per_job_mb + 2 * pairs_mb,
        "read_gb_s": gb_s,
        "floor_ms": (per_job_mb + 2 * pairs_mb) / 1024 / gb_s * 1000,
    }


def recall_at_100(state: ServingState, records, timed, n_users: int = 20) -> dict:
    """The service's ranking (`app.recommender.rank`) in two stages, as configured by
    default, against full scoring of every job: recall@100, and the time of each."""
    two_stages = SERVICE_TWO_STAGE
    full = TwoStage(min_candidates=state.catalog.size, shortlist=SERVICE_TWO_STAGE.shortlist)

    def top_100(record, two_stage: TwoStage) -> set[str]:
        ranked, _ = rank_catalog(
            state.checkpoint, state.catalog, record, JobFilter(), 100, two_stage
        )
        return {job.job_id for job, _ in ranked}

    recalls = [len(top_100(r, full) & top_100(r, two_stages)) / 100 for r in records[:n_users]]
    return {
        "shortlist": two_stages.shortlist,
        "recall@100": statistics.mean(recalls),
        "recall@100_min": min(recalls),
        "users": len(recalls),
        "two_stage_ms": timed(
            lambda: rank_catalog(
                state.checkpoint, state.catalog, records[0], JobFilter(), 100, two_stages
            )
        )
        * 1000,
        "full_ms": timed(
            lambda: rank_catalog(
                state.checkpoint, state.catalog, records[0], JobFilter(), 100, full
            )
        )
        * 1000,
    }


def flops(model) -> dict:
    """Multiply-adds x 2 per candidate, reference forward vs the serving scorer."""
    c = model.config
    d, f, cf = c.embedding_dim, len(model.fields), c.conv_filters
    p, k = len(model.conv_fields), c.conv_kernel_size
    hidden = (f * d + cf, *c.hidden_dims)
    tower = sum(a * b for a, b in pairwise(hidden)) + hidden[-1]
    reference = 2 * (f * d + p * k * d * cf + tower)
    n_pair = sum(fl.side == "pair" for fl in model.fields)
    n_dense = sum(fl.kind == "dense" for fl in model.fields)
    later = sum(a * b for a, b in pairwise(hidden[1:])) + hidden[-1]
    # first-order and FM (`CatalogScorer.first_stage`): S_job . S_user, x . (dots +
    # linear) and x G x over the dense fields
    first_stage = d + n_dense * (n_dense + 2)
    scorer = 2 * (first_stage + n_pair * hidden[1] + (k - 1) * cf + cf * hidden[1] + later)
    return {"reference": reference, "scorer": scorer, "ratio": reference / scorer}


# -- report -------------------------------------------------------------------------------


def load_rows(load: dict, *, kept: bool = False) -> list[str]:
    rows = []
    for name, r in load.items():
        request, _, c = name.rpartition(" @")
        cpu = f"{r['cpu_ms']:.2f}" if "cpu_ms" in r else "-"
        share = (f" {r['kept_share']:.0%} |" if "kept_share" in r else " - |") if kept else ""
        rows.append(
            f"| {request} | {c} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['rps']:.0f} | {r['errors']} | {cpu} |{share}"
        )
    return rows


def floor_ratio(load: dict, what: str) -> list[str]:
    health, rec = load.get("GET /healthz @1"), load.get("POST /recommend @1")
    if not (health and rec):
        return []
    return [
        f"At 1 connection {what} p50 is {rec['p50_ms'] / health['p50_ms']:.1f}x and p99 "
        f"{rec['p99_ms'] / health['p50_ms']:.1f}x the p50 of /healthz "
        f"({health['p50_ms']:.2f} ms in the same phase)."
    ]


def connections_of(load: dict) -> list[str]:
    return [name.rpartition(" @")[2] for name in load if name.startswith("POST /recommend @")]


def render(report: dict, args) -> str:
    main_size = args.jobs
    main = report["sizes"][main_size]
    lines = [
        "# Serving speed",
        "",
        f"Measured on {report.get('machine', '(machine not recorded)')}; "
        f"load generator: {report['generator']} "
        "(1 thread, on the same machine, loopback).",
        "",
        "A fresh request's cost beside scoring, measured against an earlier commit, and a "
        "flame graph of where its time goes: [request-cost.md](request-cost.md). Memory "
        "and start-up of 1 and 2 workers with and without catalog snapshots (the RSS "
        "below is of private catalogs, as built by earlier commits): "
        "[catalog-memory.md](catalog-memory.md).",
        "",
        "Command:",
        "",
        "    python benchmarks/serving.py --jobs "
        + str(args.jobs)
        + f" --rss-sizes {args.rss_sizes} --duration {args.duration:g}"
        + f" --connections {args.connections}"
        + (f" --compare-layout {args.compare_layout}" if args.compare_layout else ""),
        "",
        f"## HTTP, {main['catalog_size']:,} active jobs",
        "",
        "Server CPU ms/request: CPU time of the server process (every thread) over the "
        "run, per answered request; with 2 cores, 2000 / it bounds the requests/s.",
        "",
        "| request | connections | p50 ms | p90 ms | p99 ms | req/s | errors | "
        "server CPU ms/request |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += load_rows(main["load"])
    lines += ["", *floor_ratio(main["load"], "/recommend")]
    if "kept" in main:
        lines += [
            "",
            "### Repeated requests: kept answers",
            "",
            "The same requests again on the same server, each one asked once "
            "beforehand: the worker answers a repeated request with the answer it "
            "kept, as long as the model, the catalog and the user are unchanged "
            "(RESULT_CACHE_SIZE). Kept: the share of the run's answers the server's "
            "/metrics counted as kept.",
            "",
            "| request | connections | p50 ms | p90 ms | p99 ms | req/s | errors | "
            "server CPU ms/request | kept |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *load_rows(main["kept"], kept=True),
            "",
            *floor_ratio(main["kept"], "a repeated /recommend"),
        ]
    if "layout" in main:
        other = main["layout"]
        here = f"{args.workers or 1} worker(s) x {args.threads or 2} threads"
        there = f"{other['workers']} workers x {other['threads']} thread(s)"
        lines += [
            "",
            f"Process layout, POST /recommend (no filters): {here} (the default, "
            f"above) vs {there} (RSS {other['rss_mb']:.0f} MiB vs "
            f"{main['rss_mb']:.0f} MiB ready):",
            "",
            f"| connections | p50 ms ({here}) | req/s | p50 ms ({there}) | req/s |",
            "| ---: | ---: | ---: | ---: | ---: |",
        ]
        for c in connections_of(main["load"]):
            a = main["load"][f"POST /recommend @{c}"]
            b = other["load"][f"POST /recommend @{c}"]
            lines.append(
                f"| {c} | {a['p50_ms']:.2f} | {a['rps']:.0f} | {b['p50_ms']:.2f} | {b['rps']:.0f} |"
            )
    ip = main["in_process"]
    compared = (
        f"serving scorer {ip['scorer_ms']:.2f} ms, reference forward "
        f"{ip['reference_ms']:.2f} ms ({ip['speedup']:.1f}x), max abs score "
        f"difference {ip['max_abs_diff']:.1e}"
        if "scorer_ms" in ip
        else f"the reference forward is timed up to {REFERENCE_LIMIT:,} candidates only"
    )
    lines += [
        "",
        "## In-process, one request's candidates",
        "",
        f"{ip['candidates']:,} candidates: {compared}. FLOPs per candidate: reference "
        f"{ip['flops_per_candidate']['reference']:,}, scorer "
        f"{ip['flops_per_candidate']['scorer']:,} "
        f"({ip['flops_per_candidate']['ratio']:.0f}x fewer).",
        "",
        "## Catalog size",
        "",
        "/recommend at 1 connection, every request scored, without and with the filters "
        f"`{json.dumps(FILTERS)}`; and repeated requests (kept answers, no filters):",
        "",
        "| jobs | active | start-up s | RSS MiB (ready) | RSS MiB (after load) | "
        "p50 ms | p99 ms | server CPU ms/request | filtered p50 ms | p99 ms | "
        "kept p50 ms | p99 ms |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size, entry in sorted(report["sizes"].items(), key=lambda kv: int(kv[0])):
        r = entry["load"]["POST /recommend @1"]
        f = entry["load"].get("POST /recommend (filters) @1")
        k = entry.get("kept", {}).get("POST /recommend @1")
        filtered = f"{f['p50_ms']:.2f} | {f['p99_ms']:.2f}" if f else "- | -"
        kept = f"{k['p50_ms']:.2f} | {k['p99_ms']:.2f}" if k else "- | -"
        cpu = f"{r['cpu_ms']:.2f}" if "cpu_ms" in r else "-"
        lines.append(
            f"| {int(size):,} | {entry['catalog_size']:,} | {entry['startup_s']:.0f} "
            f"| {entry['rss_mb']:.0f} | {entry['rss_after_mb']:.0f} | "
            f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {cpu} | {filtered} | {kept} |"
        )
    staged = {
        size: e["in_process"]["two_stage"]
        for size, e in report["sizes"].items()
        if "two_stage" in e["in_process"]
    }
    if staged:
        lines += [
            "",
            f"Past {SERVICE_TWO_STAGE.min_candidates:,} candidates the service ranks in "
            "two stages: the first stage (the model's first-order and FM terms, "
            "pair fields included, with a stand-in for the history skill match; "
            "one compiled pass reading the job vectors as int8 codes) "
            "shortlists, ConvFM re-ranks the shortlist with the true features. "
            "Recall@100 of the two stages against full ConvFM scoring of the "
            "whole catalog, and in-process time for one request:",
            "",
            "| jobs | shortlist | recall@100 (mean) | min | users | two stages ms | "
            "full scoring ms |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for size, ts in sorted(staged.items(), key=lambda kv: int(kv[0])):
            lines.append(
                f"| {int(size):,} | {ts['shortlist']:,} | {ts['recall@100']:.3f} | "
                f"{ts['recall@100_min']:.2f} | {ts['users']} | "
                f"{ts['two_stage_ms']:.1f} | {ts['full_ms']:.1f} |"
            )
        steps = {size: ts for size, ts in staged.items() if "floor_ms" in ts}
        if steps:
            lines += [
                "",
                "The two stages step by step, in-process, ms (user's parts; pair "
                "features, per job and per setting; first stage; shortlist; "
                "mending and re-ranking the shortlist), and the floor memory "
                "bandwidth sets on the whole-catalog steps: the per-job arrays "
                "they read and the per-job pair features they write and read "
                "back, at the bandwidth of one summing pass over the float32 "
                "job vectors:",
                "",
                "| jobs | user | pair features | first stage | shortlist | re-rank | "
                "MiB read | GiB/s | floor ms |",
                "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
            for size, ts in sorted(steps.items(), key=lambda kv: int(kv[0])):
                lines.append(
                    f"| {int(size):,} | {ts['user_parts_ms']:.1f} | "
                    f"{ts['pairs_ms']:.1f} | {ts['first_stage_ms']:.1f} | "
                    f"{ts['shortlist_ms']:.1f} | {ts['rerank_ms']:.1f} | "
                    f"{ts['read_mb']:.0f} | {ts['read_gb_s']:.1f} | "
                    f"{ts['floor_ms']:.1f} |"
                )
    lines += targets(report)
    lines += ["", f"Whole benchmark: {report['seconds'] / 60:.1f} minutes.", ""]
    return "\n".join(lines)


def targets(report: dict) -> list[str]:
    """The serving targets (issue 5) against this run, for the sizes it measured."""
    sizes = report["sizes"]
    rows = []
    if 10_000 in sizes:
        rows += _targets_10k(sizes[10_000])
    if 100_000 in sizes:
        r = sizes[100_000]["load"]["POST /recommend @1"]
        rows.append(
            _row(
                "100k: /recommend p50 <= 25 ms (every request scored)",
                f"{r['p50_ms']:.2f} ms",
                r["p50_ms"] <= 25,
            )
        )
    if 1_000_000 in sizes:
        rows += _targets_1m(sizes[1_000_000])
    if not rows:
        return []
    return ["", "## Targets", "", "| target | this run | |", "| --- | --- | --- |", *rows]


def _row(target: str, measured: str, met: bool) -> str:
    return f"| {target} | {measured} | {'met' if met else 'not met'} |"


def _targets_10k(entry: dict) -> list[str]:
    rows = []
    explained = entry.get("explain") or {}
    plain, why = explained.get("POST /recommend @1"), explained.get("POST /recommend (explain) @1")
    if plain and why:
        ratio = why["p50_ms"] / plain["p50_ms"]
        rows.append(
            _row(
                "10k, 1 connection: explain on k=10 <= 1.5x the p50 without it",
                f"{ratio:.2f}x ({why['p50_ms']:.2f} vs {plain['p50_ms']:.2f} ms)",
                ratio <= 1.5,
            )
        )
    ip = entry["in_process"]
    if "speedup" in ip:
        rows.append(
            _row(
                "in-process scoring of 10k candidates >= 7x faster than the reference forward",
                f"{ip['speedup']:.1f}x",
                ip["speedup"] >= 7,
            )
        )
    for load, how in (
        (entry["load"], "every request scored"),
        (entry.get("kept"), "repeated requests, kept answers"),
    ):
        load = load or {}
        health, rec = load.get("GET /healthz @1"), load.get("POST /recommend @1")
        if health and rec:
            p50, p99 = rec["p50_ms"] / health["p50_ms"], rec["p99_ms"] / health["p50_ms"]
            rows.append(
                _row(
                    f"10k, 1 connection: /recommend p50 <= 3x the /healthz p50 ({how})",
                    f"{p50:.1f}x ({rec['p50_ms']:.2f} vs {health['p50_ms']:.2f} ms)",
                    p50 <= 3,
                )
            )
            rows.append(
                _row(
                    f"10k, 1 connection: /recommend p99 <= 6x the /healthz p50 ({how})",
                    f"{p99:.1f}x ({rec['p99_ms']:.2f} ms)",
                    p99 <= 6,
                )
            )
        busy = load.get("POST /recommend @32")
        if busy:
            bound = (
                f"; server CPU {busy['cpu_ms']:.1f} ms/request, at most "
                f"{2000 / busy['cpu_ms']:.0f} req/s on 2 cores"
                if busy.get("cpu_ms")
                else ""
            )
            rows.append(
                _row(
                    f"10k, 32 connections: >= 500 req/s with 0 errors ({how})",
                    f"{busy['rps']:.0f} req/s, {busy['errors']} errors{bound}",
                    busy["rps"] >= 500 and busy["errors"] == 0,
                )
            )
    return rows


def _targets_1m(entry: dict) -> list[str]:
    rows = []
    for load, how in (
        (entry["load"], "every request scored"),
        (entry.get("kept"), "repeated requests, kept answers"),
    ):
        r = (load or {}).get("POST /recommend @1")
        if r:
            rows.append(
                _row(
                    f"1M: /recommend p99 <= 50 ms ({how})",
                    f"{r['p99_ms']:.2f} ms",
                    r["p99_ms"] <= 50,
                )
            )
    staged = entry["in_process"].get("two_stage")
    if staged:
        rows.append(
            _row(
                "1M: first-stage recall@100 >= 0.9",
                f"{staged['recall@100']:.3f} (min {staged['recall@100_min']:.2f})",
                staged["recall@100"] >= 0.9,
            )
        )
    return rows


if __name__ == "__main__":
    main()
