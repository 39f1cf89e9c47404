"""What the console's pages compute, apart from HTTP: the JSON bodies of `POST /recommend`
and `POST /recommend/what-if` built from a page's query string (so a link restores the
page), checked by the API's own request models, and the formatting filters of the
templates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from app.api.schemas import RecommendRequest
from app.api.schemas.what_if import WhatIfRequest

# query parameters of /console/try that map one to one onto the request's fields
NUMBERS = ("max_recommendations", "salary_min", "salary_max")
TEXTS = ("location_preference", "salary_currency", "salary_period", "remote", "fallback")
LISTS = ("companies", "exclude_job_ids")
PROFILE_TEXTS = ("headline", "current_company")
LOCATION_TEXTS = ("city", "region", "country")
LOCATION_NUMBERS = ("latitude", "longitude", "radius_km")
WHAT_IF = ("add_skills", "remove_skills", "move_to", "new_desired_salary")
DEFAULT_USER = "123"


class BadQuery(ValueError):
    """A query string that makes no valid request: `problems` lists (field, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))
        self.problems = problems


def split_list(text: str | None) -> list[str]:
    """Comma-separated values, trimmed, empty ones dropped.

    >>> split_list(" python, sql ,, spark ")
    ['python', 'sql', 'spark']
    """
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _number(params: Mapping[str, str], name: str, problems: list[tuple[str, str]]) -> Any:
    text = (params.get(name) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        problems.append((name, f"{text!r} is not a number"))
        return None
    return int(value) if value.is_integer() else value


def _profile(params: Mapping[str, str], problems: list[tuple[str, str]]) -> dict[str, Any]:
    profile: dict[str, Any] = {k: params[k].strip() for k in PROFILE_TEXTS if params.get(k)}
    if params.get("skills"):
        profile["skills"] = split_list(params["skills"])
    if params.get("home"):
        profile["location"] = params["home"].strip()
    salary = _number(params, "desired_salary", problems)
    if salary is not None:
        profile["desired_salary"] = {"amount": salary}
    return profile


def recommend_body(params: Mapping[str, str], employment_types: Sequence[str] = ()) -> dict:
    """The `POST /recommend` body of a /console/try query string (always explained):
    the stored user `user_id`, or an inline profile when `inline` is set. BadQuery
    when it is not a request the API accepts."""
    problems: list[tuple[str, str]] = []
    body: dict[str, Any] = {"user_id": (params.get("user_id") or "").strip() or DEFAULT_USER}
    for name in NUMBERS:
        value = _number(params, name, problems)
        if value is not None:
            body[name] = value
    body |= {k: params[k].strip() for k in TEXTS if (params.get(k) or "").strip()}
    body |= {k: split_list(params[k]) for k in LISTS if split_list(params.get(k))}
    if employment_types:
        body["employment_types"] = list(employment_types)
    if params.get("include_unspecified_salary"):
        body["include_unspecified_salary"] = True
    if params.get("exclude_seen") == "no":
        body["exclude_seen"] = False
    location: dict[str, Any] = {k: params[k].strip() for k in LOCATION_TEXTS if params.get(k)}
    for name in LOCATION_NUMBERS:
        value = _number(params, name, problems)
        if value is not None:
            location[name] = value
    if location:
        body["location"] = location
    if params.get("inline"):
        body["profile"] = _profile(params, problems)
    body["explain"] = True
    _check(RecommendRequest, body, problems)
    return body


def what_if_body(params: Mapping[str, str], base: dict) -> dict | None:
    """The `POST /recommend/what-if` body: `base` (the recommend body) and the changes
    the query string asks for; None when it asks for none."""
    if not any((params.get(k) or "").strip() for k in WHAT_IF):
        return None
    problems: list[tuple[str, str]] = []
    changes: dict[str, Any] = {}
    for key in ("add_skills", "remove_skills"):
        if split_list(params.get(key)):
            changes[key] = split_list(params.get(key))
    if (params.get("move_to") or "").strip():
        changes["location"] = params["move_to"].strip()
    salary = _number(params, "new_desired_salary", problems)
    if salary is not None:
        changes["desired_salary"] = {"amount": salary}
    body = {k: v for k, v in base.items() if k != "explain"} | {"changes": changes}
    _check(WhatIfRequest, body, problems)
    return body


def _check(model: type[RecommendRequest], body: dict, problems: list[tuple[str, str]]) -> None:
    """BadQuery with the problems found so far and those of the API's own model."""
    try:
        model.model_validate(body)
    except ValidationError as exc:
        problems += [(".".join(map(str, e["loc"])) or "body", e["msg"]) for e in exc.errors()]
    if problems:
        raise BadQuery(problems)


def pct(value: float | None, digits: int = 1) -> str:
    """A share as a percentage; an em dash for none.

    >>> pct(0.1234), pct(None)
    ('12.3%', '—')
    """
    return "—" if value is None else f"{100 * value:.{digits}f}%"


def num(value: Any, digits: int = 4) -> str:
    """A metric for a table: floats rounded, other values as they are, a dash for none.

    >>> num(0.123456), num(3), num(None)
    ('0.1235', '3', '—')
    """
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def when(value: datetime | str | None) -> str:
    """A time for people: UTC to the second.

    >>> when("2026-12-05T09:20:08.123+00:00")
    '2026-12-05 09:20:08 UTC'
    """
    if value is None:
        return "—"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def metric_rows(
    metrics: Mapping[str, Any], baselines: Mapping[str, Mapping[str, Any]] | None
) -> tuple[list[str], list[tuple[str, list[Any]]]]:
    """Offline metrics as a table: the column names (convfm, then each baseline) and one
    row per numeric metric.

    >>> metric_rows({"auc": 0.8, "users": 5}, {"popularity": {"auc": 0.6}})
    (['convfm', 'popularity'], [('auc', [0.8, 0.6]), ('users', [5, None])])
    """
    baselines = baselines or {}
    columns = ["convfm", *baselines]
    rows = [
        (name, [value, *(b.get(name) for b in baselines.values())])
        for name, value in metrics.items()
        if isinstance(value, int | float)
    ]
    return columns, rows
