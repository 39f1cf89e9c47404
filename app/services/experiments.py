"""A/B experiments between models: start (checked), list, stop, report.

A running experiment splits users by `app.serving.variants.assign`; every worker finds
it within CATALOG_REFRESH_SECONDS (the worker that starts or stops it at once), loads
the registered versions it names and ranks each user with their variant's model. The
report reads the slates logged under it and the events attributed to them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.errors import InvalidInputError, NotFoundError
from app.repositories.experiments import ExperimentRepository, ExperimentRow, Variant
from app.repositories.registry import RegistryRepository
from app.repositories.slates import ExperimentData
from app.services.reports import Comparison, VariantReport, comparisons, variant_reports
from app.serving.baselines import BASELINES
from app.serving.state import Serving

TRAFFIC_TOLERANCE = 1e-6  # shares must sum to 1 within this


class InvalidExperimentError(InvalidInputError):
    """Variants that cannot make an experiment: shares not summing to 1, a control that
    is not one of them, a name used twice (rules across fields, which JSON Schema cannot
    state)."""

    code = "invalid_experiment"


class UnknownModelError(InvalidInputError):
    """A variant names a model that is neither registered nor a baseline."""

    code = "unknown_model"


@dataclass(frozen=True)
class Report:
    experiment: ExperimentRow
    variants: list[VariantReport]
    comparisons: list[Comparison]


class ExperimentService:
    def __init__(self, factory: sessionmaker[Session], serving: Serving | None) -> None:
        """`serving`: this worker's (None: reads and reports only, as on the command
        line)."""
        self.factory = factory
        self.serving = serving

    def start(self, name: str, control: str, variants: tuple[Variant, ...]) -> ExperimentRow:
        """Start an experiment. InvalidExperimentError for shares that do not sum to 1,
        a control that is not a variant, repeated variant names; UnknownModelError for a
        model that is neither registered (and not retired), served, nor a baseline;
        ConflictError when the name is taken or another experiment runs."""
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise InvalidExperimentError("variant names must differ", {"field": "variants"})
        if control not in names:
            raise InvalidExperimentError(
                f"control {control!r} is not one of the variants {names}",
                {"field": "control", "value": control},
            )
        total = math.fsum(v.traffic for v in variants)
        if abs(total - 1) > TRAFFIC_TOLERANCE:
            raise InvalidExperimentError(
                f"the variants' traffic shares sum to {total:g}, not 1", {"field": "variants"}
            )
        with session_scope(self.factory) as session:
            self._check_models(RegistryRepository(session), variants)
            row = ExperimentRepository(session).add(name, control, variants)
        if self.serving is not None:
            self.serving.refresh()  # this worker ranks by it from the next request
        return row

    def _check_models(self, registry: RegistryRepository, variants: tuple[Variant, ...]) -> None:
        usable = {r.version for r in registry.all() if r.status != "retired"}
        usable |= set(BASELINES)
        if self.serving is not None:
            usable.add(self.serving.state.model_version)
        for i, variant in enumerate(variants):
            if variant.model not in usable:
                raise UnknownModelError(
                    f"variant {variant.name!r} names model {variant.model!r}, which is not "
                    "registered (jobrec models register), nor a baseline "
                    f"({', '.join(BASELINES)})",
                    {"field": f"variants[{i}].model", "value": variant.model},
                )

    def all(self) -> list[ExperimentRow]:
        with session_scope(self.factory) as session:
            return ExperimentRepository(session).all()

    def get(self, name: str) -> ExperimentRow:
        with session_scope(self.factory) as session:
            row = ExperimentRepository(session).get(name)
        if row is None:
            raise NotFoundError(f"experiment {name!r} not found")
        return row

    def stop(self, name: str) -> ExperimentRow:
        """Stop it (stopping a stopped experiment changes nothing)."""
        self.get(name)
        with session_scope(self.factory) as session:
            ExperimentRepository(session).stop(name)
        if self.serving is not None:
            self.serving.refresh()
        return self.get(name)

    def report(self, name: str) -> Report:
        experiment = self.get(name)
        with session_scope(self.factory) as session:
            data = ExperimentData(session)
            slates = pd.DataFrame(data.slates(name), columns=["id", "user_id", "variant", "items"])
            events = pd.DataFrame(
                data.events(name), columns=["recommendation_id", "type", "position"]
            )
            served = {job for items in slates["items"] for job, _ in items}
            companies = data.companies(sorted(served))
            catalog_size = data.active_jobs()
        reports = variant_reports(
            [(v.name, v.model) for v in experiment.variants],
            slates,
            events,
            companies,
            catalog_size,
        )
        control = next(r for r in reports if r.name == experiment.control)
        others = [r for r in reports if r.name != experiment.control]
        return Report(experiment, reports, comparisons(control, others))
