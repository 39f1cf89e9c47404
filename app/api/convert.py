"""Between the HTTP models and the domain: requests -> service queries, store rows and
ranked jobs -> response models."""

from __future__ import annotations

from typing import Any

from app import models as m
from app.api.schemas import (
    DesiredSalaryOut,
    JobOut,
    LocationFilter,
    PlaceOut,
    Recommendation,
    RecommendRequest,
    RecommendResponse,
    SalaryOut,
    UserOut,
)
from app.api.schemas.recommend import ContributionOut, ExplanationOut, ReasonOut
from app.api.schemas.what_if import (
    ProfileChangesIn,
    SkillSuggestion,
    WhatIfRecommendation,
    WhatIfResponse,
)
from app.repositories import CatalogJob, as_utc
from app.schemas import UserIn, resolve_location
from app.services.recommend import Profile, Ranked, RecommendQuery
from app.services.what_if import ProfileChange, WhatIf
from app.serving.explanations import JobExplanation
from app.serving.filters import FilterSpec, LocationSpec
from ml.locations import Place


def recommend_query(body: RecommendRequest) -> RecommendQuery:
    """The service's query for a request body."""
    return RecommendQuery(
        user_id=body.user_id,
        k=body.max_recommendations,
        filters=FilterSpec(
            salary_min=body.salary_min,
            salary_max=body.salary_max,
            salary_currency=body.salary_currency,
            salary_period=body.salary_period,
            include_unspecified_salary=body.include_unspecified_salary,
            location_preference=body.location_preference,
            location=_location(body.location),
            remote=body.remote,
            companies=tuple(body.companies),
            employment_types=tuple(body.employment_types),
            exclude_job_ids=tuple(body.exclude_job_ids),
            exclude_seen=body.exclude_seen,
        ),
        profile=None if body.profile is None else profile(body.profile),
        fallback=body.fallback,
        explain=body.explain,
    )


def _location(loc: LocationFilter | None) -> LocationSpec | None:
    if loc is None:
        return None
    return LocationSpec(
        city=loc.city,
        region=loc.region,
        country=loc.country,
        latitude=loc.latitude,
        longitude=loc.longitude,
        radius_km=loc.radius_km,
    )


def profile(body: UserIn) -> Profile:
    """The fields the client gave, as the model's user record names them."""
    given = body.model_fields_set
    fields: list[tuple[str, Any]] = []
    if "skills" in given:
        fields.append(("skills", tuple(body.skills)))
    if "headline" in given:
        fields.append(("headline", body.headline))
    if "location" in given:
        fields.append(("place", resolve_location(body.location).place))
    if "current_company" in given:
        fields.append(("company", body.current_company))
    if "desired_salary" in given:
        fields.append(
            ("desired_salary_usd", body.desired_salary.annual_usd if body.desired_salary else None)
        )
    return Profile(tuple(fields))


def recommend_response(ranked: Ranked, request_id: str) -> RecommendResponse:
    return RecommendResponse(
        request_id=request_id,
        recommendation_id=ranked.recommendation_id,
        user_id=ranked.user_id,
        model_version=ranked.model_version,
        variant=ranked.variant,
        fallback=ranked.fallback,
        catalog_version=ranked.state.catalog.version,
        cold_start=ranked.cold_start,
        recommendations=[
            recommendation(job, score, ranked.explanations[i] if ranked.explanations else None)
            for i, (job, score) in enumerate(ranked.jobs)
        ],
    )


def place_out(place: m.Place | None) -> PlaceOut | None:
    if place is None:
        return None
    label = Place(place.city, place.region, place.region_code, place.country).label
    return PlaceOut(
        city=place.city,
        region=place.region,
        region_code=place.region_code,
        country=place.country,
        latitude=place.latitude,
        longitude=place.longitude,
        label=label,
    )


def job_out(job: m.Job) -> JobOut:
    salary = None
    if job.salary_period is not None:
        salary = SalaryOut(
            min=job.salary_min,
            max=job.salary_max,
            currency=job.salary_currency,
            period=job.salary_period,
            annual_min_usd=job.salary_annual_min_usd,
            annual_max_usd=job.salary_annual_max_usd,
        )
    return JobOut(
        job_id=job.external_id,
        title=job.title,
        description=job.description,
        company=job.company.name if job.company else None,
        location=place_out(job.place),
        remote=job.remote,
        skills=[s.name for s in job.skills],
        salary=salary,
        employment_type=job.employment_type,
        posted_at=as_utc(job.posted_at),
        expires_at=as_utc(job.expires_at),
        active=job.active,
        updated_at=as_utc(job.updated_at),
    )


def user_out(user: m.User) -> UserOut:
    desired = None
    if user.desired_salary_amount is not None:
        desired = DesiredSalaryOut(
            amount=user.desired_salary_amount,
            currency=user.desired_salary_currency,
            period=user.desired_salary_period,
            annual_usd=user.desired_salary_annual_usd,
        )
    return UserOut(
        user_id=user.external_id,
        headline=user.headline or "",
        location=place_out(user.place),
        current_company=user.company.name if user.company else None,
        skills=[s.name for s in user.skills],
        desired_salary=desired,
        updated_at=as_utc(user.updated_at),
    )


def location_label(job: CatalogJob) -> str | None:
    place = job.record.place
    label = place.label if place is not None else ""
    if job.record.remote:
        return f"Remote ({label})" if label else "Remote"
    return label or None


def explanation_out(e: JobExplanation) -> ExplanationOut:
    return ExplanationOut(
        logit=e.logit,
        contributions=[ContributionOut(name=n, value=v) for n, v in e.contributions],
        reasons=[
            ReasonOut(code=r.code, text=r.text, contribution=r.value, **r.data) for r in e.reasons
        ],
    )


def recommendation(
    job: CatalogJob, score: float, explanation: JobExplanation | None = None
) -> Recommendation:
    r = job.record
    return Recommendation(
        job_id=r.job_id,
        title=r.title,
        company=r.company,
        location=location_label(job),
        remote=r.remote,
        salary_min=job.salary_min,
        salary_max=job.salary_max,
        salary_currency=job.salary_currency,
        salary_period=job.salary_period,
        salary_annual_min_usd=r.salary_annual_min_usd,
        salary_annual_max_usd=r.salary_annual_max_usd,
        employment_type=job.employment_type,
        score=min(max(score, 0.0), 1.0),
        explanation=explanation_out(explanation) if explanation is not None else None,
    )


def profile_change(body: ProfileChangesIn) -> ProfileChange:
    """The service's change for a what-if body (a location resolved as PUT /users does)."""
    given = body.model_fields_set
    text = body.location if isinstance(body.location, str) else ""
    return ProfileChange(
        add_skills=tuple(body.add_skills),
        remove_skills=tuple(body.remove_skills),
        place=resolve_location(body.location).place if "location" in given else None,
        move="location" in given,
        place_text=text,
        desired_salary_usd=body.desired_salary.annual_usd if body.desired_salary else None,
        new_salary="desired_salary" in given,
    )


def what_if_response(result: WhatIf, user_id: str, request_id: str) -> WhatIfResponse:
    return WhatIfResponse(
        request_id=request_id,
        user_id=user_id,
        model_version=result.state.model_version,
        catalog_version=result.state.catalog.version,
        before=[recommendation(job, score) for job, score in result.before],
        after=[
            WhatIfRecommendation(
                **recommendation(c.job, c.score).model_dump(),
                rank_change=c.rank_change,
                score_delta=c.score_delta,
            )
            for c in result.after
        ],
        skill_suggestions=[
            SkillSuggestion(skill=s.skill, gain=s.gain, jobs_gained=s.jobs_gained)
            for s in result.suggestions
        ],
    )
