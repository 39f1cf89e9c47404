"""The console's pages: thin routes that read the same services as the JSON API and
render a template; the browser then calls the JSON API itself for the interactive parts
(recommend, what-if, experiments and promotions), so the request each panel shows as
curl is exactly the one that ran."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from app.api.convert import user_out
from app.api.deps import ServicesDep, SettingsDep
from app.api.routes.ops import status_out
from app.console import views
from app.errors import JobrecError, NotFoundError
from app.schemas import EMPLOYMENT_TYPES
from app.services.registry import BASELINES

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(pct=views.pct, num=views.num, when=views.when)

router = APIRouter(prefix="/console", include_in_schema=False)


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    settings = request.app.state.settings
    context |= {
        "root": request.scope.get("root_path", ""),
        "keyed": settings.api_key is not None,
        "recommend_keyed": settings.api_key is not None and settings.recommend_requires_api_key,
    }
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def problem(request: Request, status: int, title: str, message: str, **context: Any) -> Response:
    """A page that says what was wrong with the link, with its status."""
    return page(request, "problem.html", status, title=title, message=message, **context)


def error_page(request: Request, exc: JobrecError, missing: str, failed: str) -> Response:
    """The problem page of a service's typed error: titled `missing` for a 404, else
    `failed`."""
    return problem(request, exc.status, missing if exc.status == 404 else failed, exc.message)


@router.get("")
async def index(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/console/try")


@router.get("/try")
def try_it(
    request: Request,
    services: ServicesDep,
    employment_types: list[str] = Query(default_factory=list),
) -> Response:
    """Ranked jobs for a stored user or an inline profile, with every filter, and a
    what-if; the page posts the bodies built here (the query string is the state)."""
    params = dict(request.query_params)
    try:
        body = views.recommend_body(params, employment_types)
        what_if = views.what_if_body(params, body)
    except views.BadQuery as exc:
        title = "This link asks for a request the API refuses"
        return problem(request, 422, title, str(exc), problems=exc.problems)
    user = None
    if "profile" not in body:
        try:
            user = user_out(services.users.get(str(body["user_id"])))
        except NotFoundError as exc:
            if "fallback" not in body:  # with one, the API answers the trending jobs
                return problem(
                    request,
                    404,
                    "No such user",
                    f"{exc.message}. Look up another id, or tick “inline profile” to score "
                    "someone the store does not know.",
                )
    return page(
        request,
        "try.html",
        params=params,
        body=body,
        what_if=what_if,
        user=user,
        employment_types=EMPLOYMENT_TYPES,
        chosen_types=employment_types,
    )


@router.get("/experiments")
def experiments(request: Request, services: ServicesDep) -> Response:
    """Every experiment, and a form to start one between the known models."""
    rows = services.experiments.all()
    models = [r.version for r in services.registry.versions() if r.status != "retired"]
    serving = services.serving.state.model_version
    choices = [*dict.fromkeys([serving, *models]), *BASELINES]
    return page(request, "experiments.html", experiments=rows, models=choices)


@router.get("/experiments/{name}")
def experiment(name: str, request: Request, services: ServicesDep) -> Response:
    """One experiment's report; its chart is drawn from GET /experiments/{name}/report."""
    try:
        report = services.experiments.report(name)
    except JobrecError as exc:
        return error_page(request, exc, "No such experiment", "The report cannot be read")
    registered = {r.version: r.status for r in services.registry.versions()}
    return page(request, "experiment.html", report=report, registered=registered)


@router.get("/models")
def models(request: Request, services: ServicesDep) -> Response:
    """Registered versions, and the checkpoint served when it is not registered."""
    rows = services.registry.versions()
    serving = services.serving.state.model_version
    unregistered = all(r.version != serving for r in rows)
    return page(request, "models.html", rows=rows, serving=serving, unregistered=unregistered)


@router.get("/models/{version}")
def model(version: str, request: Request, services: ServicesDep) -> Response:
    """One version: metrics, learning curve, importances, the convolution's response."""
    try:
        detail = services.model_details.get(version)
    except JobrecError as exc:
        return error_page(request, exc, "No such model version", "The model cannot be read")
    columns, metric_rows = views.metric_rows(detail.metrics, detail.baselines)
    return page(request, "model.html", m=detail, columns=columns, metric_rows=metric_rows)


@router.get("/health")
def health(request: Request, services: ServicesDep, settings: SettingsDep) -> Response:
    """Catalog, events per minute, latency, retraining: GET /status as a page."""
    return page(request, "health.html", s=status_out(request, services, settings))
