"""Recommendation filters as vectorised boolean masks over a catalog part's columns.

Every filter of a request is turned into one `JobFilter` once; `mask(part)` then costs a
handful of numpy comparisons over the part's columns, whatever the catalog size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from app.errors import UnknownPlaceError
from app.serving.catalog import CatalogPart, Columns
from ml.locations import (
    Circle,
    LocationQuery,
    gazetteer,
    location_query,
    make_place,
    parse_location_query,
)
from ml.salary import to_annual_usd
from ml.text import name_key


@dataclass(frozen=True)
class LocationSpec:
    """A structured location filter: city / region / country, or with `radius_km` a
    circle around `latitude`/`longitude` or around the city."""

    city: str | None = None
    region: str | None = None
    country: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    radius_km: float | None = None


@dataclass(frozen=True)
class FilterSpec:
    """Every filter a recommendation request can give, as the client gave it (amounts
    per `salary_period` in `salary_currency`). Hashable: part of a kept answer's key."""

    salary_min: float | None = None
    salary_max: float | None = None
    salary_currency: str = "USD"
    salary_period: str = "year"
    include_unspecified_salary: bool = False
    location_preference: str | None = None
    location: LocationSpec | None = None
    remote: str = "include"  # include | only | exclude
    companies: tuple[str, ...] = ()
    employment_types: tuple[str, ...] = ()
    exclude_job_ids: tuple[str, ...] = ()
    exclude_seen: bool = True


@dataclass(frozen=True)
class JobFilter:
    """All filters of one request; None / empty means "no constraint"."""

    salary_annual_min_usd: float | None = None  # per year
    salary_annual_max_usd: float | None = None
    include_unspecified_salary: bool = False
    places: tuple[LocationQuery, ...] = ()  # each must match
    radius: Circle | None = None
    remote: str = "include"  # include | only | exclude
    companies: frozenset[str] = frozenset()  # name keys
    employment_types: frozenset[str] = frozenset()
    excluded_ids: frozenset[str] = frozenset()

    def mask(self, part: CatalogPart) -> np.ndarray:
        """bool [len(part)]: True where the job satisfies every filter."""
        c = part.columns
        keep = np.ones(len(part), dtype=bool)
        if self.salary_annual_min_usd is not None or self.salary_annual_max_usd is not None:
            stated = ~np.isnan(c.annual_max_usd)
            ok = stated.copy()
            with np.errstate(invalid="ignore"):
                if self.salary_annual_min_usd is not None:
                    ok &= c.annual_max_usd >= self.salary_annual_min_usd
                if self.salary_annual_max_usd is not None:
                    ok &= c.annual_min_usd <= self.salary_annual_max_usd
            keep &= ok | (~stated if self.include_unspecified_salary else False)
        for query in self.places:
            keep &= _place_mask(c, query)
        if self.radius is not None:
            keep &= self.radius.contains(c.latitude, c.longitude)
        if self.remote == "only":
            keep &= c.remote
        elif self.remote == "exclude":
            keep &= ~c.remote
        if self.companies:
            keep &= c.company.isin(self.companies)
        if self.employment_types:
            keep &= c.employment_type.isin(self.employment_types)
        if self.excluded_ids:  # a few ids: look their rows up
            keep[part.rows.rows(self.excluded_ids)] = False
        return keep


def _place_mask(c: Columns, q: LocationQuery) -> np.ndarray:
    keep = np.ones(len(c.city), dtype=bool)
    if q.remote:
        keep &= c.remote
    if q.city:
        keep &= c.city.isin((q.city, *q.city_names)) if q.city_names else c.city.equals(q.city)
    if q.region:
        keep &= c.region_code.equals(q.region) | c.region.equals(q.region)
    if q.country:
        keep &= c.country.equals(q.country)
    if q.within:
        keep &= q.within.contains(c.latitude, c.longitude)
    return keep


def build_filter(
    spec: FilterSpec,
    *,
    seen: Iterable[str] = (),
    known_city: Callable[[str], bool] = lambda city: False,
) -> JobFilter:
    """The `JobFilter` of `spec`; the `seen` job ids are excluded when it says so.

    A place filter naming a city that neither the gazetteer nor `known_city` (the
    catalog's own cities, folded) knows raises UnknownPlaceError with close matches: it
    would match nothing, most likely a misspelling."""

    def per_year(amount: float | None) -> float | None:
        if amount is None:
            return None
        return to_annual_usd(amount, spec.salary_currency, spec.salary_period)

    places = []
    if spec.location_preference:
        query = parse_location_query(spec.location_preference)
        check_city(query, "location_preference", spec.location_preference, known_city)
        if not query.is_empty:
            places.append(query)
    radius = None
    loc = spec.location
    if loc is not None:
        if loc.radius_km is not None:
            radius = _radius(loc)
        else:
            query = location_query(loc.city, loc.region, loc.country)
            check_city(query, "location.city", loc.city, known_city)
            places.append(query)
    excluded = set(spec.exclude_job_ids)
    if spec.exclude_seen:
        excluded.update(seen)
    return JobFilter(
        salary_annual_min_usd=per_year(spec.salary_min),
        salary_annual_max_usd=per_year(spec.salary_max),
        include_unspecified_salary=spec.include_unspecified_salary,
        places=tuple(places),
        radius=radius,
        remote=spec.remote,
        companies=frozenset(name_key(c) for c in spec.companies),
        employment_types=frozenset(spec.employment_types),
        excluded_ids=frozenset(excluded),
    )


def check_city(
    query: LocationQuery, field: str, text: str | None, known_city: Callable[[str], bool]
) -> None:
    """UnknownPlaceError (naming `field`, with close matches) when `query` names a city
    that neither the gazetteer nor `known_city` (folded names) knows."""
    if not query.city or known_city(query.city) or gazetteer().knows_city(query.city):
        return
    raise _unknown_place(field, text or query.city, "")


def _unknown_place(field: str, text: str, why: str) -> UnknownPlaceError:
    suggestions = gazetteer().suggest(text.split(",")[0])
    hint = f"; did you mean {' or '.join(suggestions)}?" if suggestions else ""
    return UnknownPlaceError(
        f"unknown place {text!r} in {field}{why}{hint}",
        {"field": field, "value": text, "suggestions": suggestions},
    )


def _radius(loc: LocationSpec) -> Circle:
    assert loc.radius_km is not None
    if loc.latitude is not None and loc.longitude is not None:
        return Circle(loc.latitude, loc.longitude, loc.radius_km)
    place = make_place(loc.city, loc.region, loc.country)
    if place is None or place.latitude is None or place.longitude is None:
        where = ", ".join(p for p in (loc.city, loc.region, loc.country) if p)
        raise _unknown_place(
            "location",
            where,
            " for a radius search: give latitude and "
            "longitude, or a city of the gazetteer (15,000+ people)",
        )
    return Circle(place.latitude, place.longitude, loc.radius_km)
