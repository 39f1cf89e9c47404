"""What a training run writes beside its checkpoint: the learning-curve chart, the
report as JSON and the machine it ran on."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch


def plot_learning_curve(training: dict[str, Any], k: int, path: str | Path) -> None:
    """PNG with training loss and validation NDCG@k per epoch, best epoch marked.

    `training` is the report's "training" section: {"epochs": [...], "best_epoch": n,
    "ablations": {name: same shape}}.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(11, 4))
    runs = {"convfm": training, **training.get("ablations", {})}
    for name, run in runs.items():
        epochs = [e["epoch"] for e in run["epochs"]]
        style = "-" if name == "convfm" else "--"
        ax_loss.plot(epochs, [e["loss"] for e in run["epochs"]], style, label=name)
        values = [e.get(f"val_ndcg@{k}") for e in run["epochs"]]
        if any(v is not None for v in values):
            ax_val.plot(epochs, values, style, marker="o", markersize=3, label=name)
    if training.get("best_epoch"):
        ax_val.axvline(
            training["best_epoch"], color="grey", linestyle=":", label="best epoch (restored)"
        )
    ax_loss.set(title="training loss (weighted BCE)", xlabel="epoch", ylabel="loss")
    ax_val.set(title=f"validation NDCG@{k}", xlabel="epoch", ylabel=f"NDCG@{k}")
    for ax in (ax_loss, ax_val):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def machine_info() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str))
