"""Store rows and catalog jobs -> response models."""

from __future__ import annotations

from app import models as m
from app.api.schemas import DesiredSalaryOut, JobOut, PlaceOut, Recommendation, SalaryOut, UserOut
from app.repositories import CatalogJob, as_utc
from ml.locations import Place


def place_out(place: m.Place | None) -> PlaceOut | None:
    if place is None:
        return None
    label = Place(place.city, place.region, place.region_code, place.country).label
    return PlaceOut(city=place.city, region=place.region, region_code=place.region_code,
                    country=place.country, latitude=place.latitude,
                    longitude=place.longitude, label=label)


def job_out(job: m.Job) -> JobOut:
    salary = None
    if job.salary_period is not None:
        salary = SalaryOut(min=job.salary_min, max=job.salary_max,
                           currency=job.salary_currency, period=job.salary_period,
                           annual_min_usd=job.salary_annual_min_usd,
                           annual_max_usd=job.salary_annual_max_usd)
    return JobOut(job_id=job.external_id, title=job.title, description=job.description,
                  company=job.company.name if job.company else None,
                  location=place_out(job.place), remote=job.remote,
                  skills=[s.name for s in job.skills], salary=salary,
                  employment_type=job.employment_type, posted_at=as_utc(job.posted_at),
                  expires_at=as_utc(job.expires_at), active=job.active,
                  updated_at=as_utc(job.updated_at))


def user_out(user: m.User) -> UserOut:
    desired = None
    if user.desired_salary_amount is not None:
        desired = DesiredSalaryOut(amount=user.desired_salary_amount,
                                   currency=user.desired_salary_currency,
                                   period=user.desired_salary_period,
                                   annual_usd=user.desired_salary_annual_usd)
    return UserOut(user_id=user.external_id, headline=user.headline or "",
                   location=place_out(user.place),
                   current_company=user.company.name if user.company else None,
                   skills=[s.name for s in user.skills], desired_salary=desired,
                   updated_at=as_utc(user.updated_at))


def location_label(job: CatalogJob) -> str | None:
    place = job.record.place
    label = place.label if place is not None else ""
    if job.record.remote:
        return f"Remote ({label})" if label else "Remote"
    return label or None


def recommendation(job: CatalogJob, score: float) -> Recommendation:
    r = job.record
    return Recommendation(
        job_id=r.job_id, title=r.title, company=r.company, location=location_label(job),
        remote=r.remote, salary_min=job.salary_min, salary_max=job.salary_max,
        salary_currency=job.salary_currency, salary_period=job.salary_period,
        salary_annual_min_usd=r.salary_min_usd, salary_annual_max_usd=r.salary_max_usd,
        employment_type=job.employment_type, score=min(max(score, 0.0), 1.0))
