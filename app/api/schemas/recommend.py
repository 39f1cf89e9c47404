"""Bodies of POST /recommend and /recommend/batch."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.schemas.ops import ErrorBody
from app.schemas import (
    EMPLOYMENT_TYPES,
    MAX_RECOMMENDATIONS,
    Currency,
    EmploymentType,
    ExternalId,
    LocationText,
    ShortText,
    UserIn,
    _check_currency,
    _Input,
    both_or_neither,
    implies,
    number,
    text,
    with_rules,
)
from ml.salary import PayPeriod

MAX_LIST = 100


class LocationFilter(_Input):
    """Structured location filter. city/region/country match the job's normalised place
    (case- and accent-insensitive; region as a name or a code). With `radius_km`, jobs
    within that distance of `latitude`/`longitude`, or of the named city, pass instead.
    Give at least one of city, region, country and radius_km; latitude and longitude
    come together and need radius_km; radius_km needs a centre (coordinates or a city).
    A city that neither the gazetteer nor any job knows is refused (422, with close
    matches).
    """

    model_config = ConfigDict(
        json_schema_extra=with_rules(
            *both_or_neither("latitude", "longitude"),
            implies(number("latitude"), number("radius_km")),
            implies(number("radius_km"), {"anyOf": [number("latitude"), text("city")]}),
            {"anyOf": [text("city"), text("region"), text("country"), number("radius_km")]},
            examples=[
                {"city": "Austin", "region": "TX"},
                {"city": "San Francisco", "radius_km": 50},
                {"latitude": 47.61, "longitude": -122.33, "radius_km": 25},
            ],
        )
    )

    city: ShortText | None = None
    region: ShortText | None = None
    country: ShortText | None = None
    latitude: float | None = Field(None, ge=-90, le=90, description="degrees north")
    longitude: float | None = Field(None, ge=-180, le=180, description="degrees east")
    radius_km: float | None = Field(None, gt=0, le=20_000)

    @model_validator(mode="after")
    def _consistent(self) -> LocationFilter:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        if self.latitude is not None and self.radius_km is None:
            raise ValueError("latitude/longitude need radius_km")
        if self.radius_km is not None and self.latitude is None and not self.city:
            raise ValueError("radius_km needs a centre: latitude/longitude or a city")
        if not (self.city or self.region or self.country or self.radius_km):
            raise ValueError("give at least one of city, region, country, radius_km")
        return self


class RecommendRequest(_Input):
    """Who to recommend for, how many, and the filters every result must satisfy."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": 123,
                    "max_recommendations": 10,
                    "location_preference": "San Francisco",
                    "salary_min": 100000,
                },
                {
                    "user_id": "u42",
                    "max_recommendations": 5,
                    "location": {"city": "Austin", "region": "TX", "radius_km": 40},
                    "salary_min": 25,
                    "salary_period": "hour",
                    "include_unspecified_salary": True,
                    "remote": "exclude",
                    "employment_types": ["full_time", "part_time"],
                },
                {
                    "user_id": "new-visitor-7",
                    "profile": {
                        "skills": ["python", "sql", "machine learning"],
                        "location": "Seattle, WA",
                        "headline": "data scientist",
                    },
                },
            ]
        }
    )

    user_id: ExternalId
    max_recommendations: int = Field(
        10, ge=1, le=MAX_RECOMMENDATIONS, description="at most this many jobs"
    )
    location_preference: LocationText | None = Field(
        None,
        description='a place name: a city ("San Francisco", "Austin, TX"), a state '
        'name or code, a country, "Remote", a common short name ("SF", "NYC") or a '
        'metropolitan area ("Bay Area": jobs within 75 km of San Francisco). A city that '
        "neither the gazetteer nor any job knows is refused (422, with close matches)",
    )
    location: LocationFilter | None = None
    salary_min: float | None = Field(
        None,
        ge=0,
        le=1e9,
        description="per salary_period, in salary_currency: a job "
        "passes when the top of its range reaches it",
    )
    salary_max: float | None = Field(
        None,
        ge=0,
        le=1e9,
        description="per salary_period, in salary_currency: a job "
        "passes when the bottom of its range is at most this; not below salary_min (422 "
        "otherwise: JSON Schema cannot compare two fields)",
    )
    salary_currency: Currency = Field("USD", description="ISO 4217 code of the salary filters")
    salary_period: PayPeriod = Field("year", description="what the salary filters pay for")
    include_unspecified_salary: bool = Field(
        False, description="with a salary filter, also keep jobs that state no salary"
    )
    remote: Literal["include", "only", "exclude"] = Field(
        "include", description="remote jobs: kept, the only ones, or left out"
    )
    companies: list[ShortText] = Field(
        default_factory=list, max_length=MAX_LIST, description="only jobs of these employers"
    )
    employment_types: list[EmploymentType] = Field(
        default_factory=list,
        max_length=len(EMPLOYMENT_TYPES),
        description="only jobs of these types",
    )
    exclude_job_ids: list[ExternalId] = Field(
        default_factory=list, max_length=1000, description="jobs never to return"
    )
    exclude_seen: bool = Field(True, description="leave out jobs the user interacted with")
    profile: UserIn | None = Field(
        None,
        description="inline profile: scores a user who is not in the store (cold "
        "start), or overrides the stored profile for this request",
    )
    explain: bool = Field(
        False,
        description="explain each recommendation: the logit split by field (adding up to "
        "it) and up to three reasons a person can read (ConvFM models; a baseline's "
        "answer has none)",
    )
    fallback: Literal["trending"] | None = Field(
        None,
        description='"trending": a user the store does not know, sent without a profile, '
        "gets the jobs with the most recent clicks and applications (every filter "
        "applies) instead of a 404; the answer says `fallback`",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RecommendRequest:
        _check_currency(self.salary_currency)
        if (
            self.salary_min is not None
            and self.salary_max is not None
            and self.salary_max < self.salary_min
        ):
            raise ValueError("salary_max is below salary_min")
        return self


class ContributionOut(BaseModel):
    name: str = Field(description='a field, "bias" or "residual"')
    value: float = Field(description="what it adds to the logit")


class ReasonOut(BaseModel):
    """A reason a person can read, with its facts (`skills`, `distance_km`, `job_id` and
    `title`, `company`, `salary_annual_max_usd` and `desired_salary_usd`)."""

    model_config = ConfigDict(extra="allow")

    code: Literal[
        "skills_match",
        "near_you",
        "salary_fit",
        "similar_to_your_activity",
        "your_company_or_field",
        "trending",
    ]
    text: str
    contribution: float = Field(description="what its fields add to the logit (> 0)")


class ExplanationOut(BaseModel):
    logit: float = Field(description="score = sigmoid(logit)")
    contributions: list[ContributionOut] = Field(
        description="bias, each field (first-order and FM terms exactly, the convolution "
        "and deep tower by DeepLIFT's rescale rule against the all-padding input), and a "
        "float-rounding residual: they add up to the logit"
    )
    reasons: list[ReasonOut] = Field(description="at most three, largest contribution first")


class Recommendation(BaseModel):
    job_id: str
    title: str
    company: str | None
    location: str | None = Field(description='"City, ST", a country, or "Remote"')
    remote: bool
    salary_min: float | None = Field(description="as posted, per salary_period")
    salary_max: float | None
    salary_currency: str | None
    salary_period: str | None
    salary_annual_min_usd: float | None = Field(
        description="the range per year in US dollars (what salary filters compare)"
    )
    salary_annual_max_usd: float | None
    employment_type: str | None
    score: float = Field(
        ge=0,
        le=1,
        description=(
            "the model's estimate, between 0 and 1, that this user engages with this job "
            "(sigmoid of ConvFM's logit, trained on views, clicks, saves and applies). It "
            "orders the list; compare scores within one answer, and across answers of the "
            "same model_version only"
        ),
    )
    explanation: ExplanationOut | None = Field(
        None, description='why it is here, when the request says "explain": true'
    )


class RecommendResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": "5f0c1b7e9a7d4c4e",
                    "recommendation_id": "3q2-7wEAAAAbBwAA.pmWkWSBC.Wd5hNmWz0hZ9JLsA",
                    "user_id": "123",
                    "model_version": "convfm-20261126-101500-1a2b3c4d",
                    "variant": None,
                    "catalog_version": "1427-0f3e2a9b1c",
                    "cold_start": False,
                    "recommendations": [
                        {
                            "job_id": "j17",
                            "title": "Data Scientist",
                            "company": "Acme Analytics",
                            "location": "San Francisco, CA",
                            "remote": False,
                            "salary_min": 120000,
                            "salary_max": 150000,
                            "salary_currency": "USD",
                            "salary_period": "year",
                            "salary_annual_min_usd": 120000,
                            "salary_annual_max_usd": 150000,
                            "employment_type": "full_time",
                            "score": 0.93,
                        }
                    ],
                }
            ]
        }
    )

    request_id: str
    recommendation_id: str = Field(
        description="this answer's id, new for every answer (a repeated request's too): "
        "send it with the events it leads to (`POST /events`) so that they are "
        "attributed to it. Only this user's events may name it"
    )
    user_id: str
    model_version: str = Field(
        description="the model that ranked this answer: a registered version, or a "
        "baseline's name (`popularity`, `content`)"
    )
    variant: str | None = Field(
        description="the experiment variant this user is in; null when no experiment runs"
    )
    fallback: str | None = Field(
        None, description='"trending" when the request\'s fallback answered for an unknown user'
    )
    catalog_version: str
    cold_start: bool = Field(
        description="true when the user was scored from an inline profile only"
    )
    recommendations: list[Recommendation]


class BatchRecommendRequest(_Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "requests": [
                        {"user_id": "u1", "max_recommendations": 3},
                        {
                            "user_id": "u2",
                            "max_recommendations": 3,
                            "location_preference": "Remote",
                        },
                    ]
                }
            ]
        }
    )

    requests: list[RecommendRequest] = Field(min_length=1, max_length=50)


class BatchItem(BaseModel):
    status: int = Field(description="the HTTP status this request would have had alone")
    response: RecommendResponse | None = None
    error: ErrorBody | None = None


class BatchRecommendResponse(BaseModel):
    results: list[BatchItem]
