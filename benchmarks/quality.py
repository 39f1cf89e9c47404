"""Ranking quality on the real job-views data: ConvFM, its ablations and the baselines.

    python benchmarks/quality.py [--data ../shared/data/job_views] [--config FILE]

Protocol: the raw files are imported into a temporary store with `jobrec import
job-views`; per user, the last viewed job (by first view time) is held out for test and
the one before for validation (early stopping); every job of the catalog is ranked for
every held-out user, the jobs the user already viewed excluded. The default
configuration is also trained on the demo data (`--demo-users 0` skips it) to check
that it still beats popularity there. Writes docs/benchmarks/quality.md and quality.png.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.importers.demo import import_demo
from app.importers.job_views import import_job_views
from app.settings import Settings
from benchmarks.common import REPO, load_records, machine, temporary_store
from ml.config import Config
from ml.experiment import run_training

K = 10
METRICS = (f"hr@{K}", f"ndcg@{K}", "mrr", "auc")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/job_views")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML hyper-parameters (default: the code's defaults)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    parser.add_argument("--demo-users", type=int, default=2000)
    parser.add_argument("--demo-jobs", type=int, default=1500)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    if not (args.data / "Job_Views.csv").is_file():
        sys.exit(f"{args.data} does not hold the job-views files (Job_Views.csv, ...)")
    config = Config.load(args.config)
    started = time.perf_counter()

    with temporary_store() as (_, factory, folder):
        imported = import_job_views(factory, args.data)
        real = run_training(
            *load_records(factory), config, folder / "model", progress=not args.no_progress
        )
    demo = None
    if args.demo_users > 0:
        with temporary_store() as (_, factory, folder):
            import_demo(
                factory, users=args.demo_users, jobs=args.demo_jobs, seed=Settings().demo_seed
            )
            demo = run_training(
                *load_records(factory), config, folder / "model", progress=not args.no_progress
            )

    args.out.mkdir(parents=True, exist_ok=True)
    rows = table_rows(real)
    write_chart(rows, args.out / "quality.png")
    text = render(args, config, imported, real, demo, rows, time.perf_counter() - started)
    (args.out / "quality.md").write_text(text)
    print(text)


def table_rows(report: dict) -> list[tuple[str, dict, float | None]]:
    """(name, metrics, training seconds) for ConvFM, its ablations and the baselines."""
    histories = report["training"]["ablations"]
    rows = [("ConvFM (default config)", report["metrics"], report["training"]["seconds"])]
    rows += [
        (f"ConvFM, {name.replace('_', ' ')}", metrics, histories[name]["seconds"])
        for name, metrics in report["ablations"].items()
    ]
    rows += [(f"baseline: {name}", metrics, None) for name, metrics in report["baselines"].items()]
    return rows


def render(args, config, imported, real, demo, rows, seconds) -> str:
    best_name, best = max(real["baselines"].items(), key=lambda item: item[1][f"ndcg@{K}"])
    gain = real["metrics"][f"ndcg@{K}"] / best[f"ndcg@{K}"] - 1
    data = real["data"]
    lines = [
        "# Ranking quality on real data (job views)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}.",
        "",
        "Command:",
        "",
        "    python benchmarks/quality.py --data "
        + str(args.data)
        + (f" --config {args.config}" if args.config else ""),
        "",
        "Protocol: per-user leave-last-out by first view time (last viewed job = test, the "
        "one before = validation for early stopping); every job of the catalog ranked for "
        "every test user, jobs the user already viewed excluded.",
        "",
        f"Data: {data['jobs']} jobs, {data['users']} users, {data['interactions']} views "
        f"({imported.events_inserted} distinct), {data['train_positives']} training "
        f"positives, {data['validation_users']} validation users, {data['test_users']} test "
        "users.",
        "",
        f"| model | HR@{K} | NDCG@{K} | MRR | AUC | training time |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, metrics, train_seconds in rows:
        cells = " | ".join(f"{metrics[m]:.4f}" for m in METRICS)
        timing = f"{train_seconds:.0f} s" if train_seconds is not None else "-"
        lines.append(f"| {name} | {cells} | {timing} |")
    lines += [
        "",
        f"ConvFM's NDCG@{K} is {gain:+.0%} over the best baseline ({best_name}, "
        f"{best[f'ndcg@{K}']:.4f}). Training took {real['seconds']['train']:.0f} s for "
        f"{len(real['training']['epochs'])} epochs (best epoch "
        f"{real['training']['best_epoch']}, restored).",
    ]
    if demo is not None:
        pop = demo["baselines"]["popularity"][f"ndcg@{K}"]
        lines += [
            "",
            f"Same default configuration on the demo data ({demo['data']['users']} users, "
            f"{demo['data']['jobs']} jobs): ConvFM NDCG@{K} {demo['metrics'][f'ndcg@{K}']:.4f} "
            f"vs popularity {pop:.4f} ({demo['metrics'][f'ndcg@{K}'] / pop:.1f}x), "
            f"trained in {demo['seconds']['train']:.0f} s.",
        ]
    lines += [
        "",
        "Configuration: "
        + ", ".join(f"{k}={v}" for k, v in config.model.model_dump().items())
        + "; "
        + ", ".join(f"{k}={v}" for k, v in config.features.model_dump().items())
        + "; "
        + ", ".join(f"{k}={v}" for k, v in config.train.model_dump().items() if k != "ablations")
        + ".",
        "",
        f"Whole benchmark: {seconds / 60:.1f} minutes. Chart: quality.png.",
        "",
    ]
    return "\n".join(lines)


def write_chart(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name, _, _ in rows][::-1]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(rows) + 1.5), sharey=True)
    for ax, metric in zip(axes, (f"ndcg@{K}", f"hr@{K}"), strict=True):
        values = [metrics[metric] for _, metrics, _ in rows][::-1]
        colors = ["tab:blue" if n.startswith("ConvFM") else "tab:gray" for n in names]
        ax.barh(names, values, color=colors)
        ax.set_title(metric.upper())
        ax.grid(axis="x", alpha=0.3)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.3f}", va="center", fontsize=8)
    fig.suptitle("job views: full-catalog ranking, leave-last-out")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
