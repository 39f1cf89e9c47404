"""Experiment reports: per variant the slates served and what users did with them, with
95% Wilson intervals, and each variant against the control (lift with its interval, and
a two-proportion z-test's p-value), from the logged slates and the attributed events.

Tables are pandas frames: `slates` has one row per served slate (id, user_id, variant,
items as [[job_id, score], ...]); `events` one row per attributed event
(recommendation_id, type, position); `companies` maps job ids to a company key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

ALPHA = 0.05  # 95% intervals


def _proportion() -> Any:
    """statsmodels' tests of proportions, imported on a worker's first report: with
    scipy they hold about 40 MB in every worker, which most never use."""
    from statsmodels.stats import proportion

    return proportion


METRICS = ("ctr", "apply_rate")  # slates with >= 1 click (apply) over slates served
MAX_POSITIONS = 20  # per-position click rates reported for the first positions


@dataclass(frozen=True)
class Rate:
    value: float | None  # None when nothing was served
    ci_low: float | None
    ci_high: float | None

    @classmethod
    def of(cls, successes: int, trials: int) -> Rate:
        """successes / trials with its 95% Wilson interval."""
        if trials == 0:
            return cls(None, None, None)
        low, high = _proportion().proportion_confint(
            successes, trials, alpha=ALPHA, method="wilson"
        )
        return cls(successes / trials, max(0.0, float(low)), min(1.0, float(high)))


@dataclass(frozen=True)
class VariantReport:
    name: str
    model: str
    users: int
    slates: int
    clicked_slates: int
    applied_slates: int
    clicks: int
    applies: int
    ctr: Rate
    apply_rate: Rate
    position_ctr: list[dict[str, Any]] = field(default_factory=list)  # position, slates, ...
    coverage: float | None = None  # distinct jobs served over the catalog's size
    diversity: float | None = None  # mean distinct companies per slate


@dataclass(frozen=True)
class Comparison:
    variant: str
    metric: str
    lift: float | None  # rate / control's rate - 1
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


def variant_reports(
    variants: list[tuple[str, str]],
    slates: pd.DataFrame,
    events: pd.DataFrame,
    companies: dict[str, str | None],
    catalog_size: int,
) -> list[VariantReport]:
    """One report per (variant name, model), in the order given."""
    kinds = (
        events.pivot_table(index="recommendation_id", columns="type", aggfunc="size", fill_value=0)
        if len(events)
        else pd.DataFrame(index=pd.Index([], name="recommendation_id"))
    ).reindex(columns=["click", "apply"], fill_value=0)
    per_slate = slates.join(kinds, on="id").fillna({"click": 0, "apply": 0})
    reports = []
    for name, model in variants:
        own = per_slate[per_slate["variant"] == name]
        ids = set(own["id"])
        clicks_at = events[(events["type"] == "click") & events["recommendation_id"].isin(ids)]
        n, clicked = len(own), int((own["click"] > 0).sum())
        applied = int((own["apply"] > 0).sum())
        reports.append(
            VariantReport(
                name=name,
                model=model,
                users=int(own["user_id"].nunique()),
                slates=n,
                clicked_slates=clicked,
                applied_slates=applied,
                clicks=int(own["click"].sum()),
                applies=int(own["apply"].sum()),
                ctr=Rate.of(clicked, n),
                apply_rate=Rate.of(applied, n),
                position_ctr=_position_ctr(own, clicks_at),
                coverage=_coverage(own, catalog_size),
                diversity=_diversity(own, companies),
            )
        )
    return reports


def _position_ctr(own: pd.DataFrame, clicks: pd.DataFrame) -> list[dict[str, Any]]:
    """Per position p: slates with at least p jobs, clicks at p, and their share."""
    if own.empty:
        return []
    lengths = own["items"].map(len).to_numpy()
    at = clicks["position"].dropna().astype(int).value_counts()
    out = []
    for p in range(1, min(int(lengths.max()), MAX_POSITIONS) + 1):
        shown = int((lengths >= p).sum())
        n = int(at.get(p, 0))
        out.append({"position": p, "slates": shown, "clicks": n, "rate": n / shown})
    return out


def _coverage(own: pd.DataFrame, catalog_size: int) -> float | None:
    if own.empty or catalog_size == 0:
        return None
    served = {job for items in own["items"] for job, _ in items}
    return len(served) / catalog_size


def _diversity(own: pd.DataFrame, companies: dict[str, str | None]) -> float | None:
    """Mean number of distinct companies per slate (jobs without one count apart)."""
    if own.empty:
        return None
    counts = [
        len({companies.get(job) or f"job:{job}" for job, _ in items}) for items in own["items"]
    ]
    return float(np.mean(counts))


def comparisons(control: VariantReport, others: list[VariantReport]) -> list[Comparison]:
    """Each variant's CTR and apply rate against the control's."""
    out = []
    for variant in others:
        for metric, (ours, theirs) in {
            "ctr": (variant.clicked_slates, control.clicked_slates),
            "apply_rate": (variant.applied_slates, control.applied_slates),
        }.items():
            out.append(_compare(variant.name, metric, ours, variant.slates, theirs, control.slates))
    return out


def _compare(name: str, metric: str, ours: int, n: int, theirs: int, m: int) -> Comparison:
    if n == 0 or m == 0 or theirs == 0:
        return Comparison(name, metric, None, None, None, None)
    lift = (ours / n) / (theirs / m) - 1
    low, high = _proportion().confint_proportions_2indep(
        ours, n, theirs, m, compare="ratio", method="log-adjusted", alpha=ALPHA
    )
    p_value = None
    if 0 < ours + theirs < n + m:  # a test needs both outcomes somewhere
        _, p = _proportion().proportions_ztest([ours, theirs], [n, m])
        p_value = float(p)
    return Comparison(name, metric, lift, _finite(low - 1), _finite(high - 1), p_value)


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def rate_bars(ax: Any, names: list[str], rates: list[Rate], colors: Any = "#4c72b0") -> None:
    """Bars of `rates` on the matplotlib axes `ax`, their 95% intervals as error bars."""
    values = [r.value or 0.0 for r in rates]
    below = [max(0.0, v - (r.ci_low or 0.0)) for v, r in zip(values, rates, strict=True)]
    above = [max(0.0, (r.ci_high or 0.0) - v) for v, r in zip(values, rates, strict=True)]
    ax.bar(names, values, yerr=[below, above], capsize=6, color=colors)
    ax.set_ylim(bottom=0)


def plot_rates(variants: list[VariantReport], title: str, path: str) -> None:
    """A PNG at `path`: each variant's CTR and apply rate with their 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for ax, metric in zip(axes, METRICS, strict=True):
        rate_bars(ax, [v.name for v in variants], [getattr(v, metric) for v in variants])
        ax.set_title(f"{metric} (95% Wilson interval)")
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
