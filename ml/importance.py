"""The model as a whole: which fields it relies on, where its convolution responds, and
its strongest field interactions, measured on validation pairs.

- Permutation importance: each validation user's held-out job is ranked among sampled
  negatives; a field's values are shuffled across the pairs and the drop in NDCG@k and
  AUC is its importance, with a bootstrap 95% interval over users.
- The convolution's response: its mean ReLU output per filter and field position.
- The FM's interactions: the mean <e_f, e_g> per field pair, strongest in size first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ml.features import FIELDS, ModelInput
from ml.metrics import bootstrap_interval
from ml.model import ConvFM

if TYPE_CHECKING:
    from ml.config import Config
    from ml.experiment import Prepared

KINDS = {"categorical": "categorical", "bag": "bags", "dense": "dense"}


def permuted(x: ModelInput, field: str, order: Tensor) -> ModelInput:
    """`x` with one field's values reordered across the pairs by `order` [B]."""
    kind = next(f.kind for f in FIELDS if f.name == field)
    index = [f.name for f in FIELDS if f.kind == kind].index(field)
    key = KINDS[kind]
    values = getattr(x, key).clone()
    values[:, index] = values[order, index]
    return x._replace(**{key: values})


def ranking_metrics(scores: Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """scores [U, 1 + N], the held-out job first: (NDCG@k, AUC) per user [U]."""
    positive = scores[:, :1]
    above = (scores[:, 1:] > positive).sum(1).numpy()
    ties = (scores[:, 1:] == positive).sum(1).numpy()
    rank = 1 + above + ties / 2  # 1 is best
    ndcg = np.where(rank <= k, 1.0 / np.log2(rank + 1), 0.0)
    auc = 1.0 - (above + ties / 2) / (scores.shape[1] - 1)
    return ndcg, auc


@torch.inference_mode()
def model_report(
    model: ConvFM, x: ModelInput, users: int, *, k: int = 10, boot: int = 200, seed: int = 0
) -> dict[str, Any]:
    """`x`: `users` blocks of pairs, each the user's held-out job then its negatives."""
    model.eval()
    rng = np.random.default_rng(seed)
    per_user = len(x.dense) // users

    def metrics(inputs: ModelInput) -> tuple[np.ndarray, np.ndarray]:
        return ranking_metrics(model.predict(inputs).view(users, per_user), k)

    base_ndcg, base_auc = metrics(x)
    generator = torch.Generator().manual_seed(seed)
    importance = {}
    for f in model.fields:
        order = torch.randperm(len(x.dense), generator=generator)
        ndcg, auc = metrics(permuted(x, f.name, order))
        drop_ndcg, drop_auc = base_ndcg - ndcg, base_auc - auc
        importance[f.name] = {
            f"ndcg@{k}_drop": float(drop_ndcg.mean()),
            f"ndcg@{k}_drop_ci": bootstrap_interval(drop_ndcg, boot, rng),
            "auc_drop": float(drop_auc.mean()),
            "auc_drop_ci": bootstrap_interval(drop_auc, boot, rng),
        }
    embeddings = model.field_embeddings(x)
    report: dict[str, Any] = {
        "users": users,
        "candidates_per_user": per_user,
        f"ndcg@{k}": float(base_ndcg.mean()),
        "auc": float(base_auc.mean()),
        "importance": importance,
        "conv_response": None,
        "fm_pairs": [],
    }
    if model.conv is not None:
        stacked = embeddings.index_select(1, model.conv_index).transpose(1, 2)
        response = torch.relu(model.conv.conv(stacked)).mean(0)  # [C, P]
        report["conv_response"] = {
            "positions": [model.fields[i].name for i in model.conv_fields],
            "filters": response.tolist(),
        }
    if model.fm is not None:
        gram = (embeddings @ embeddings.transpose(1, 2)).mean(0)  # [F, F]
        names = [f.name for f in model.fields]
        pairs = [
            (names[a], names[b], float(gram[a, b]))
            for a in range(len(names))
            for b in range(a + 1, len(names))
        ]
        pairs.sort(key=lambda p: -abs(p[2]))
        report["fm_pairs"] = [{"fields": [a, b], "mean": v} for a, b, v in pairs[:10]]
    return report


def plot_report(report: dict[str, Any], out: Any) -> list[str]:
    """PNGs of the importances, the conv response and the FM pairs in folder `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    key = next(k for k in report if k.startswith("ndcg@"))
    drops = report["importance"]
    names = sorted(drops, key=lambda n: drops[n][f"{key}_drop"])
    values = [drops[n][f"{key}_drop"] for n in names]
    low = [max(0.0, v - drops[n][f"{key}_drop_ci"][0]) for n, v in zip(names, values, strict=True)]
    high = [max(0.0, drops[n][f"{key}_drop_ci"][1] - v) for n, v in zip(names, values, strict=True)]
    fig, ax = plt.subplots(figsize=(7, 6), constrained_layout=True)
    ax.barh(names, values, xerr=[low, high], color="#4c72b0")
    ax.set_xlabel(f"drop in {key.upper()} when the field is shuffled (95% interval)")
    fig.savefig(out / "importance.png", dpi=110)
    plt.close(fig)
    written.append("importance.png")
    conv = report["conv_response"]
    if conv:
        fig, ax = plt.subplots(figsize=(8, 5), constrained_layout=True)
        image = ax.imshow(np.array(conv["filters"]), aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(conv["positions"])), conv["positions"], rotation=60, ha="right")
        ax.set_ylabel("filter")
        ax.set_title("the convolution's mean response per field position")
        fig.colorbar(image)
        fig.savefig(out / "conv_response.png", dpi=110)
        plt.close(fig)
        written.append("conv_response.png")
    if report["fm_pairs"]:
        labels = [" x ".join(p["fields"]) for p in report["fm_pairs"]][::-1]
        fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
        ax.barh(labels, [p["mean"] for p in report["fm_pairs"]][::-1], color="#dd8452")
        ax.set_xlabel("mean FM interaction <e_f, e_g> (logit)")
        fig.savefig(out / "fm_pairs.png", dpi=110)
        plt.close(fig)
        written.append("fm_pairs.png")
    return written


def validation_pairs(
    data: Prepared, *, negatives: int, max_users: int, seed: int
) -> tuple[ModelInput, int]:
    """(pairs, users): for each validation user whose held-out job is in the catalog (at
    most `max_users`), that job then `negatives` catalog jobs they had not seen."""
    rng = np.random.default_rng(seed)
    users = sorted(u for u, j in data.split.validation.items() if j in data.catalog_index)
    if len(users) > max_users:
        users = [users[i] for i in sorted(rng.choice(len(users), max_users, replace=False))]
    n = len(data.catalog_index)
    user_rows, job_rows = [], []
    for user in users:
        seen = {
            data.catalog_index[j] for j in data.split.seen.get(user, ()) if j in data.catalog_index
        }
        target = data.catalog_index[data.split.validation[user]]
        pool = np.setdiff1d(np.arange(n), [target, *seen])
        if not len(pool):
            continue
        picked = rng.choice(pool, min(negatives, len(pool)), replace=False)
        if len(picked) < negatives:  # a tiny catalog: repeat negatives to keep blocks equal
            picked = rng.choice(pool, negatives, replace=True)
        user_rows += [data.user_index[user]] * (1 + negatives)
        job_rows += [target, *picked.tolist()]
    x = data.space.pairs(
        data.user_features,
        torch.tensor(user_rows, dtype=torch.long),
        data.catalog,
        torch.tensor(job_rows, dtype=torch.long),
    )
    return x, len(user_rows) // (1 + negatives)


EXPLAIN_USERS, EXPLAIN_NEGATIVES = 300, 49  # validation users, negatives each


def explain_model(data: Prepared, model: ConvFM, config: Config) -> dict[str, Any] | None:
    """`ml.importance.model_report` on the validation split (None without one)."""
    x, users = validation_pairs(
        data, negatives=EXPLAIN_NEGATIVES, max_users=EXPLAIN_USERS, seed=config.train.seed
    )
    if not users:
        return None
    return model_report(model, x, users, k=config.train.eval_k, seed=config.train.seed)
