"""Validated inputs for users, jobs and events: one path for the API and the importers."""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import WithJsonSchema

from ml.locations import Location, make_place, parse_location
from ml.records import INTERACTION_TYPES, InteractionType
from ml.salary import CURRENCIES, PayPeriod, Salary, SalaryError, to_annual_usd

EmploymentType = Literal["full_time", "part_time", "contract", "temporary", "internship"]
EMPLOYMENT_TYPES: tuple[str, ...] = EmploymentType.__args__  # type: ignore[attr-defined]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
SkillName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=100)]
MAX_SKILLS = 100


def _id_to_str(value: Any) -> Any:
    if isinstance(value, bool):
        return value  # let validation refuse it
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError("an integer id must fit in 64 bits")
        return str(value)
    return value


_ID_PATTERN = r"^[^\x00-\x1f]+$"
ExternalId = Annotated[
    str,
    BeforeValidator(_id_to_str),
    Field(min_length=1, max_length=64, pattern=_ID_PATTERN),
    WithJsonSchema({"anyOf": [
        {"type": "string", "minLength": 1, "maxLength": 64, "pattern": _ID_PATTERN},
        {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}],
        "description": "the source's own id: a JSON string or a 64-bit integer"}),
]


def _leaf_types(annotation: Any) -> set[Any]:
    """The plain types inside Optional/Union/Annotated/list annotations."""
    args = typing.get_args(annotation)
    if not args:
        return {annotation}
    if typing.get_origin(annotation) is Annotated:
        return _leaf_types(args[0])
    return set().union(*(_leaf_types(a) for a in args)) | {typing.get_origin(annotation)}


class _Input(BaseModel):
    """Base of every request body: unknown fields refused, and none of pydantic's lax
    coercions that JSON clients would not expect (true as 1, 0 as a timestamp)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_lax_scalars(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, value in data.items():
            field = cls.model_fields.get(name)
            if field is None or value is None:
                continue
            types = _leaf_types(field.annotation)
            if isinstance(value, bool) and bool not in types:
                raise ValueError(f"{name}: a boolean is not allowed here")
            if not isinstance(value, bool) and types - {type(None)} == {bool}:
                raise ValueError(f"{name}: give true or false")
            if isinstance(value, int | float) and datetime in types and not (
                    {int, float} & types):
                raise ValueError(f"{name}: give an ISO 8601 date-time string")
        return data


def _check_currency(value: str) -> str:
    if value not in CURRENCIES:
        raise ValueError(f"unsupported currency {value!r}; supported: {', '.join(CURRENCIES)}")
    return value


class PlaceIn(_Input):
    """A structured place; `region` may be a name or a code ("California" or "CA")."""

    city: ShortText | None = None
    region: ShortText | None = None
    country: ShortText | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)

    @model_validator(mode="after")
    def _coordinates_pair(self) -> PlaceIn:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


LocationText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


def resolve_location(value: LocationText | PlaceIn | None, remote: bool = False) -> Location:
    """Text ("Austin, TX", "Remote") or a structured place -> a normalised Location."""
    if value is None:
        return Location(place=None, remote=remote)
    if isinstance(value, str):
        parsed = parse_location(value)
        return Location(parsed.place, parsed.remote or remote)
    return Location(make_place(value.city, value.region, value.country, value.latitude,
                               value.longitude), remote)


class SalaryIn(_Input):
    """A pay range: `min` and/or `max` per `period`, in `currency`."""

    min: float | None = Field(None, ge=0, le=1e9)
    max: float | None = Field(None, ge=0, le=1e9)
    currency: Currency = "USD"
    period: PayPeriod = "year"

    _currency = field_validator("currency")(_check_currency)

    @model_validator(mode="after")
    def _valid_range(self) -> SalaryIn:
        self.to_salary()
        return self

    def to_salary(self) -> Salary:
        try:
            return Salary(self.min, self.max, self.currency, self.period)
        except SalaryError as exc:
            raise ValueError(str(exc)) from exc


class DesiredSalaryIn(_Input):
    """What a user wants to earn at least: `amount` per `period` in `currency`."""

    amount: float = Field(ge=0, le=1e9)
    currency: Currency = "USD"
    period: PayPeriod = "year"

    _currency = field_validator("currency")(_check_currency)

    @property
    def annual_usd(self) -> float:
        return to_annual_usd(self.amount, self.currency, self.period)


class JobIn(_Input):
    """A job posting as clients and importers send it."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=300)]
    description: Annotated[str, StringConstraints(max_length=50_000)] = ""
    company: ShortText | None = None
    location: LocationText | PlaceIn | None = None
    remote: bool = False
    skills: list[SkillName] = Field(default_factory=list, max_length=MAX_SKILLS)
    salary: SalaryIn | None = None
    employment_type: EmploymentType | None = None
    posted_at: datetime | None = None
    expires_at: datetime | None = None
    active: bool = True


class UserIn(_Input):
    """A job seeker's profile."""

    headline: Annotated[str, StringConstraints(max_length=2000)] = ""
    location: LocationText | PlaceIn | None = None
    current_company: ShortText | None = None
    skills: list[SkillName] = Field(default_factory=list, max_length=MAX_SKILLS)
    desired_salary: DesiredSalaryIn | None = None


class EventIn(_Input):
    """One interaction event. `idempotency_key` makes a retried write a no-op."""

    user_id: ExternalId
    job_id: ExternalId
    type: InteractionType
    timestamp: datetime | None = None
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None

assert set(INTERACTION_TYPES) == set(InteractionType.__args__)  # type: ignore[attr-defined]
