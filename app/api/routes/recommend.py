"""POST /recommend and POST /recommend/batch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

from app.api.convert import recommendation
from app.api.deps import RecommenderDep, SessionDep, request_session
from app.api.errors import BODY, error_body, responses
from app.api.schemas import (
    BatchItem,
    BatchRecommendRequest,
    BatchRecommendResponse,
    RecommendRequest,
    RecommendResponse,
)
from app.filters import FilterError
from app.recommender import NotFoundError, Ranked, Recommender

router = APIRouter(tags=["recommendations"])

CacheControl = Annotated[str | None, Header(
    description='"no-cache": score now, even when an answer to the same request is kept '
                "(the fresh answer is then kept)")]


def _fresh(cache_control: str | None) -> bool:
    return cache_control is not None and "no-cache" in cache_control.lower()


def _response(ranked: Ranked, request_id: str, request: Request) -> RecommendResponse:
    metrics = request.app.state.metrics
    metrics.scored_candidates.inc(ranked.scored)
    metrics.recommendations.labels(str(ranked.cold_start).lower()).inc()
    if ranked.kept:
        metrics.kept_answers.inc()
    return RecommendResponse(
        request_id=request_id, user_id=ranked.user_id,
        model_version=ranked.state.model_version,
        catalog_version=ranked.state.catalog.version, cold_start=ranked.cold_start,
        recommendations=[recommendation(job, score) for job, score in ranked.jobs])


@router.post("/recommend", response_model=RecommendResponse,
             summary="Recommend jobs to a user",
             responses=responses(401, 404, *BODY, 429, 503))
async def recommend(body: RecommendRequest, request: Request, recommender: RecommenderDep,
                    cache_control: CacheControl = None) -> RecommendResponse:
    """Rank every active job that passes all filters for the user and return the best.

    The user's skills, place and company come from the store (or from an inline
    `profile` for a user the store does not know); jobs the user already interacted
    with are left out unless `exclude_seen` is false. A repeated request is answered
    from the worker's kept answer while the model, the catalog and the user are
    unchanged (RESULT_CACHE_SIZE), unless the request says `Cache-Control: no-cache`.
    """
    fresh = _fresh(cache_control)
    # a kept answer is served right here on the event loop; scoring (and the database)
    # goes to a worker thread
    ranked = None if fresh else recommender.kept(body)
    if ranked is None:
        ranked = await run_in_threadpool(_recommend, request, recommender, body, fresh)
    return _response(ranked, request.state.request_id, request)


def _recommend(request: Request, recommender: Recommender, body: RecommendRequest,
               fresh: bool) -> Ranked:
    with request_session(request) as session:
        return recommender.recommend(session, body, fresh=fresh)


@router.post("/recommend/batch", response_model=BatchRecommendResponse,
             summary="Recommend jobs to several users",
             responses=responses(401, *BODY, 429, 503))
def recommend_batch(body: BatchRecommendRequest, request: Request, session: SessionDep,
                    recommender: RecommenderDep,
                    cache_control: CacheControl = None) -> BatchRecommendResponse:
    """Several users in one call; each result carries the status it would have alone."""
    results = []
    for i, item in enumerate(body.requests):
        request_id = f"{request.state.request_id}.{i}"
        try:
            ranked = recommender.recommend(session, item, fresh=_fresh(cache_control))
        except NotFoundError as exc:
            results.append(BatchItem(status=404, error=error_body(404, str(exc))))
        except FilterError as exc:
            results.append(BatchItem(status=422,
                                     error=error_body(422, str(exc), exc.details,
                                                      exc.code)))
        else:
            results.append(BatchItem(status=200,
                                     response=_response(ranked, request_id, request)))
    return BatchRecommendResponse(results=results)
