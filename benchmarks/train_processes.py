"""Training throughput and quality of 1 against N processes (torch.distributed, gloo).

    python benchmarks/train_processes.py [--nproc 2] [--users 2000] [--jobs 1500]
        [--config configs/demo.toml] [--epochs 6]

Imports the demo into a temporary SQLite store, then trains the same configuration
(ablations off, a fixed number of epochs: no early stop) once in one process and once
in `--nproc` processes (`ml.distributed.train_in_processes`, as `jobrec train --nproc`),
one after the other on this machine. Reports training examples per second (each epoch's
examples over the training time, validation included) and the test metrics. Prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.importers.demo import import_demo
from benchmarks.common import REPO, load_records, machine, temporary_store
from ml.config import Config
from ml.distributed import train_in_processes
from ml.experiment import REPORT_FILE, run_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=1500)
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "demo.toml")
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    config = Config.load(
        args.config,
        **{"train.ablations": [], "train.epochs": args.epochs, "train.patience": args.epochs},
    )
    with temporary_store("jobrec-procs-") as (_, factory, _folder):
        import_demo(factory, users=args.users, jobs=args.jobs, seed=7)
        users, jobs, interactions = load_records(factory)
    print(f"{machine()}; {args.users} users, {args.jobs} jobs, {args.epochs} epochs\n")
    print("| processes | train seconds | examples/s | NDCG@10 | HR@10 |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for nproc in (1, args.nproc):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            if nproc == 1:
                run_training(users, jobs, interactions, config, out, progress=False)
            else:
                train_in_processes(
                    nproc, run_training, users, jobs, interactions, config, out, progress=False
                )
            wall = time.perf_counter() - started
            report = json.loads((Path(out) / REPORT_FILE).read_text())
        seconds = report["seconds"]["train"]
        examples = report["data"]["examples_per_epoch"] * len(report["training"]["epochs"])
        metrics = report["metrics"]
        print(
            f"| {nproc} | {seconds:.1f} (wall {wall:.0f}) | {examples / seconds:,.0f} | "
            f"{metrics['ndcg@10']:.4f} | {metrics['hr@10']:.4f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
