"""`jobrec experiments ...`: list experiments and report one."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from app.cli.common import app, console, fail, store_sessions
from app.errors import JobrecError

if TYPE_CHECKING:
    from app.services.experiments import Report
    from app.services.reports import Rate

experiments_app = typer.Typer(help="A/B experiments between models.", no_args_is_help=True)
app.add_typer(experiments_app, name="experiments")


def _report(name: str) -> Report:
    from app.services.experiments import ExperimentService

    return ExperimentService(store_sessions(), None).report(name)


def _rate(rate: Rate) -> str:
    if rate.value is None:
        return ""
    return f"{rate.value:.4f} [{rate.ci_low:.4f}, {rate.ci_high:.4f}]"


@experiments_app.command("report")
def report(
    name: Annotated[str, typer.Argument(help="the experiment")],
    plot: Annotated[Path | None, typer.Option(help="write a PNG of the rates here")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the report as JSON here ('-': stdout)")
    ] = None,
) -> None:
    """Per variant: slates, CTR and apply rate with 95% intervals; lift and p-value
    against the control."""
    from app.services.reports import plot_rates

    try:
        result = _report(name)
    except JobrecError as exc:
        raise fail(exc.message) from None
    table = Table(title=f"experiment {name} ({result.experiment.status})")
    for column in ("variant", "model", "users", "slates", "CTR", "apply rate"):
        table.add_column(column)
    for v in result.variants:
        table.add_row(
            v.name, v.model, str(v.users), str(v.slates), _rate(v.ctr), _rate(v.apply_rate)
        )
    console.print(table)
    for c in result.comparisons:
        if c.lift is not None:
            p = "n/a" if c.p_value is None else f"{c.p_value:.3g}"
            console.print(f"{c.variant} vs control, {c.metric}: lift {c.lift:+.1%}, p = {p}")
    if json_out is not None:
        data = json.dumps(asdict(result), indent=1, default=str)
        if str(json_out) == "-":
            typer.echo(data)
        else:
            json_out.write_text(data)
    if plot is not None:
        plot_rates(result.variants, f"experiment {name}", str(plot))
        console.print(f"plot: {plot}")
