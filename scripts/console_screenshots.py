"""Screenshots of every /console view for docs/console.md, taken in Debian's Chromium.

By default it builds a small demo of its own in a temporary folder: the demo data, a
checkpoint of configs/tiny.toml, simulated job seekers clicking and applying through the
real API, one `jobrec retrain` run whose candidate challenges production in an
experiment, then more traffic. With --database-url and --model-path it shoots a store
that exists instead (the one `make run` made), as it is.

    .venv/bin/python scripts/console_screenshots.py            # writes docs/console/*.png
    .venv/bin/python scripts/console_screenshots.py --out /tmp/shots --width 1440
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support: the tests' Chromium settings and free port
KEY = "console-demo-key"
VIEWS = {  # file name -> path, and what to wait for before the shot
    "try": ("/console/try?user_id=123&max_recommendations=8&add_skills=spark", "#what-if-table"),
    "experiments": ("/console/experiments", "#experiments"),
    "experiment": (None, "#rates-chart[data-drawn]"),
    "models": ("/console/models", "#models"),
    "model": (None, "#curve-chart[data-drawn]"),
    "health": ("/console/health", "#events-chart[data-drawn]"),
}


def build_demo(folder: Path, users: int, jobs: int) -> tuple[str, Path]:
    """A migrated SQLite store with the demo data and a tiny trained checkpoint."""
    from app.db import create_db_engine, session_factory
    from app.importers.demo import import_demo
    from app.migrate import upgrade
    from app.services.training import training_records
    from ml.config import Config
    from ml.experiment import run_training

    url = f"sqlite:///{folder / 'store.db'}"
    upgrade(url)
    factory = session_factory(create_db_engine(url))
    import_demo(factory, users=users, jobs=jobs, seed=7)
    config = Config.load(ROOT / "configs" / "tiny.toml", **{"train.ablations": []})
    run_training(*training_records(factory), config, folder / "model", progress=False)
    return url, folder / "model"


def simulate(client: httpx.Client, users: list[str], seed: int) -> None:
    """Job seekers who get a slate, click some jobs (the top ones more often) and apply."""
    rng = random.Random(seed)
    for user in users:
        answer = client.post("/recommend", json={"user_id": user, "max_recommendations": 10})
        answer.raise_for_status()
        body = answer.json()
        for position, job in enumerate(body["recommendations"], start=1):
            if rng.random() < 0.35 / position:
                for kind in ("click", "apply") if rng.random() < 0.3 else ("click",):
                    event = {
                        "user_id": user,
                        "job_id": job["job_id"],
                        "type": kind,
                        "recommendation_id": body["recommendation_id"],
                        "position": position,
                    }
                    client.post("/events", json=event, headers={"X-API-Key": KEY})


def retrain(url: str, model_path: Path, folder: Path) -> str | None:
    """One retraining whose candidate challenges production on half of the users."""
    from app.db import create_db_engine, session_factory
    from app.services.registry import ModelRegistry
    from app.services.retraining import Retrainer

    factory = session_factory(create_db_engine(url))
    registry = ModelRegistry(factory, folder / "registry")
    retrainer = Retrainer(factory, registry, model_path=model_path, work_dir=folder / "retrain")
    outcome = retrainer.run(tolerance=1.0, replay_share=0.5, epochs=2, challenge=0.5)
    return outcome.experiment


def shoot(base: str, out: Path, width: int, height: int) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from tests.support.browser import CHROMIUM_ARGS, chromium_path

    executable = chromium_path()
    if executable is None:
        raise SystemExit("no Chromium: install Debian's chromium (make browser, as root)")
    with httpx.Client(base_url=base) as client:
        experiments = client.get("/experiments").json()
        serving = client.get("/models").json()["serving"]
    paths = dict(VIEWS)
    if experiments:
        paths["experiment"] = (
            f"/console/experiments/{experiments[0]['name']}",
            VIEWS["experiment"][1],
        )
    else:
        paths.pop("experiment")
    paths["model"] = (f"/console/models/{serving}", VIEWS["model"][1])
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        for name, (path, ready) in paths.items():
            page.goto(base + path)
            page.wait_for_selector(ready, timeout=30_000)
            if name == "try":
                page.locator("#jobs details.why").first.evaluate("d => d.open = true")
            if name == "model":  # the charts, below the metrics table
                page.locator("#curve-chart").evaluate("c => c.closest('.columns').scrollIntoView()")
            target = out / f"{name}.png"
            page.screenshot(path=str(target))
            written.append(target)
        browser.close()
    return written


def serve(app) -> tuple[uvicorn.Server, str]:
    from tests.support.server import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--database-url", help="shoot this store instead of a new demo")
    parser.add_argument("--model-path", type=Path)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--jobs", type=int, default=250)
    args = parser.parse_args()

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from app.main import create_app
    from app.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="console-shots-"))
    try:
        demo = args.database_url is None
        if demo:
            url, model_path = build_demo(folder, args.users, args.jobs)
        else:
            url, model_path = args.database_url, args.model_path or Settings().model_path
        settings = Settings(
            database_url=url,
            model_path=model_path,
            model_registry_dir=folder / "registry" if demo else Settings().model_registry_dir,
            api_key=KEY if demo else Settings().api_key,
            retrain_every="2h",
            log_level="warning",
            catalog_refresh_seconds=0.5,
        )
        server, base = serve(create_app(settings))
        try:
            if demo:
                users = ["123", *(f"u{i}" for i in range(1, args.users + 1))]
                with httpx.Client(base_url=base, timeout=60) as client:
                    simulate(client, users[: args.users // 2], seed=1)
                    retrain(url, model_path, folder)
                    time.sleep(1.5)  # the server finds the experiment
                    simulate(client, users, seed=2)
                time.sleep(2.0)  # the slate log's batches are written
            for path in shoot(base, args.out, args.width, args.height):
                print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        finally:
            server.should_exit = True
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
