"""Validated inputs for users, jobs and events: one path for the API and the importers."""

from __future__ import annotations

import typing
from collections.abc import Callable
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
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    WithJsonSchema({"type": "string", "enum": list(CURRENCIES), "description": "ISO 4217 code"}),
]
# A text that is not blank once stripped: it holds a character that is not Python's
# whitespace (ECMA's \s lacks \x1c-\x1f and \x85 of it, so they are named too).
# Patterns are searched, not matched whole, in JSON Schema as in pydantic.
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
SkillName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NOT_BLANK)
]
MAX_SKILLS = 100


# Integer ids are taken within I-JSON's exact range (RFC 7493): a JSON number past it may
# reach a client, or come from one, already rounded (JavaScript's numbers are doubles).
MAX_INTEGER_ID = 2**53 - 1


def _id_to_str(value: Any) -> Any:
    if isinstance(value, bool):
        return value  # let validation refuse it
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 42.0 is an integer to JSON (and to JSON Schema)
    if isinstance(value, int):
        if not -MAX_INTEGER_ID <= value <= MAX_INTEGER_ID:
            raise ValueError(
                f"an integer id must be within ±{MAX_INTEGER_ID}: send a larger id as a string"
            )
        return str(value)
    return value


# no control characters, and not blank
_ID_PATTERN = r"^[^\x00-\x1f]*[^\s\x00-\x1f\x85][^\x00-\x1f]*$"
ExternalId = Annotated[
    str,
    BeforeValidator(_id_to_str),
    Field(min_length=1, max_length=64, pattern=_ID_PATTERN),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": 64, "pattern": _ID_PATTERN},
                {"type": "integer", "minimum": -MAX_INTEGER_ID, "maximum": MAX_INTEGER_ID},
            ],
            "description": "the source's own id: a JSON string (1 to 64 characters) or an "
            f"integer within ±{MAX_INTEGER_ID} (2^53 - 1: larger integers "
            "lose digits in JSON clients; send them as strings)",
            "examples": ["u42", 123],
        }
    ),
]

# -- rules across fields, stated in JSON Schema where it can state them ---------------------


MAX_RECOMMENDATIONS = 100  # jobs in one /recommend answer, at most


def number(name: str) -> dict[str, Any]:
    """JSON Schema: `name` is given as a number (not null)."""
    return {"required": [name], "properties": {name: {"type": "number"}}}


def text(name: str) -> dict[str, Any]:
    """JSON Schema: `name` is given as a text that is not blank."""
    return {"required": [name], "properties": {name: {"type": "string", "pattern": NOT_BLANK}}}


def implies(condition: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    return {"if": condition, "then": then}


def both_or_neither(a: str, b: str) -> list[dict[str, Any]]:
    return [implies(number(a), number(b)), implies(number(b), number(a))]


def with_rules(
    *rules: dict[str, Any], examples: list[dict[str, Any]] | None = None
) -> Callable[[dict[str, Any]], None]:
    """A `json_schema_extra` that adds `rules` (allOf) and `examples` to a model's schema."""

    def extra(schema: dict[str, Any]) -> None:
        schema.setdefault("allOf", []).extend(rules)
        if examples:
            schema["examples"] = examples

    return extra


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
            if isinstance(value, int | float) and datetime in types and not ({int, float} & types):
                raise ValueError(f"{name}: give an ISO 8601 date-time string")
        return data


def _check_currency(value: str) -> str:
    if value not in CURRENCIES:
        raise ValueError(f"unsupported currency {value!r}; supported: {', '.join(CURRENCIES)}")
    return value


class PlaceIn(_Input):
    """A structured place; `region` may be a name or a code ("California" or "CA").
    Coordinates come in pairs: latitude and longitude, or neither (the gazetteer's, for
    a city it knows)."""

    model_config = ConfigDict(
        json_schema_extra=with_rules(
            *both_or_neither("latitude", "longitude"),
            examples=[
                {"city": "Austin", "region": "TX", "country": "US"},
                {"city": "Lyon", "country": "France", "latitude": 45.76, "longitude": 4.84},
            ],
        )
    )

    city: ShortText | None = Field(None, description="city name, e.g. Austin")
    region: ShortText | None = Field(None, description="state or region: a name or a code")
    country: ShortText | None = Field(None, description="a name or an ISO code (US, USA)")
    latitude: float | None = Field(None, ge=-90, le=90, description="degrees north")
    longitude: float | None = Field(None, ge=-180, le=180, description="degrees east")

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
    return Location(
        make_place(value.city, value.region, value.country, value.latitude, value.longitude), remote
    )


class SalaryIn(_Input):
    """A pay range: `min`, `max` or both per `period`, in `currency`. When both are given,
    `max` must not be below `min` (422 otherwise: JSON Schema cannot compare two
    fields)."""

    model_config = ConfigDict(
        json_schema_extra=with_rules(
            {"anyOf": [number("min"), number("max")]},
            examples=[
                {"min": 120000, "max": 150000},
                {"min": 25, "max": 32, "period": "hour"},
                {"min": 4000, "currency": "EUR", "period": "month"},
            ],
        )
    )

    min: float | None = Field(None, ge=0, le=1e9, description="lowest pay per period")
    max: float | None = Field(
        None, ge=0, le=1e9, description="highest pay per period; not below min"
    )
    currency: Currency = Field("USD", description="ISO 4217 code")
    period: PayPeriod = Field("year", description="what one amount pays for")

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

    model_config = ConfigDict(json_schema_extra={"examples": [{"amount": 120000}]})

    amount: float = Field(ge=0, le=1e9, description="pay per period")
    currency: Currency = Field("USD", description="ISO 4217 code")
    period: PayPeriod = Field("year", description="what the amount pays for")

    _currency = field_validator("currency")(_check_currency)

    @property
    def annual_usd(self) -> float:
        return to_annual_usd(self.amount, self.currency, self.period)


LOCATION_HELP = (
    'where: text such as "Austin, TX", "Paris, France" or "Remote - US", or '
    "a structured place; normalised to city, state/region and country with "
    "coordinates from an offline gazetteer"
)


class JobIn(_Input):
    """A job posting as clients and importers send it. Skills are also found in the
    title and description; the salary is annualised to US dollars for filtering."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Senior Data Scientist",
                    "company": "Acme Analytics",
                    "description": "Build ranking models in Python and SQL.",
                    "location": "San Francisco, CA",
                    "skills": ["python", "sql", "machine learning"],
                    "salary": {"min": 150000, "max": 190000},
                    "employment_type": "full_time",
                    "posted_at": "2026-11-30T09:00:00Z",
                },
                {
                    "title": "Line Cook",
                    "location": {"city": "Austin", "region": "TX"},
                    "salary": {"min": 18, "max": 22, "period": "hour"},
                    "employment_type": "part_time",
                },
                {"title": "Support Engineer", "location": "Remote - US", "remote": True},
            ]
        }
    )

    title: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=300, pattern=NOT_BLANK),
    ] = Field(description="the posting's title; not blank")
    description: Annotated[str, StringConstraints(max_length=50_000)] = Field(
        "", description="the posting's text (skills are read from it too)"
    )
    company: ShortText | None = Field(None, description="employer name")
    location: LocationText | PlaceIn | None = Field(None, description=LOCATION_HELP)
    remote: bool = Field(False, description='remote work (also set by a location such as "Remote")')
    skills: list[SkillName] = Field(
        default_factory=list, max_length=MAX_SKILLS, description="skills the job asks for"
    )
    salary: SalaryIn | None = Field(None, description="the posted pay range")
    employment_type: EmploymentType | None = None
    posted_at: datetime | None = Field(None, description="ISO 8601 date-time")
    expires_at: datetime | None = Field(None, description="ISO 8601 date-time")
    active: bool = Field(True, description="false takes the job out of recommendations")


class UserIn(_Input):
    """A job seeker's profile: what the model knows of a user beside their events."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "headline": "Data scientist, 5 years in retail analytics",
                    "location": "Seattle, WA",
                    "current_company": "Globex",
                    "skills": ["python", "sql", "forecasting"],
                    "desired_salary": {"amount": 140000},
                },
                {
                    "headline": "Registered nurse",
                    "location": {"city": "Boston", "region": "MA"},
                    "skills": ["nursing", "patient care"],
                    "desired_salary": {"amount": 45, "period": "hour"},
                },
            ]
        }
    )

    headline: Annotated[str, StringConstraints(max_length=2000)] = Field(
        "", description="a line about the person (skills are read from it too)"
    )
    location: LocationText | PlaceIn | None = Field(None, description=LOCATION_HELP)
    current_company: ShortText | None = Field(None, description="employer now")
    skills: list[SkillName] = Field(
        default_factory=list, max_length=MAX_SKILLS, description="the person's skills"
    )
    desired_salary: DesiredSalaryIn | None = Field(
        None, description="the least the person wants to earn"
    )


class EventIn(_Input):
    """One interaction event. `idempotency_key` makes a retried write a no-op."""

    user_id: ExternalId
    job_id: ExternalId
    type: InteractionType
    timestamp: datetime | None = None
    idempotency_key: (
        Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=NOT_BLANK)] | None
    ) = None


assert set(INTERACTION_TYPES) == set(InteractionType.__args__)  # type: ignore[attr-defined]
