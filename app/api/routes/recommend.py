"""POST /recommend and POST /recommend/batch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

from app.api.convert import (
    profile_change,
    recommend_query,
    recommend_response,
    what_if_response,
)
from app.api.deps import ServicesDep
from app.api.errors import BODY, responses
from app.api.schemas import (
    BatchItem,
    BatchRecommendRequest,
    BatchRecommendResponse,
    RecommendRequest,
    RecommendResponse,
)
from app.api.schemas.what_if import WhatIfRequest, WhatIfResponse
from app.errors import JobrecError
from app.metrics import Metrics
from app.services.recommend import Ranked

router = APIRouter(tags=["recommendations"])

CacheControl = Annotated[
    str | None,
    Header(
        description='"no-cache": score now, even when an answer to the same request is kept '
        "(the fresh answer is then kept)"
    ),
]


def _fresh(cache_control: str | None) -> bool:
    return cache_control is not None and "no-cache" in cache_control.lower()


def _counted(ranked: Ranked, metrics: Metrics) -> Ranked:
    metrics.scored_candidates.inc(ranked.scored)
    metrics.recommendations.labels(str(ranked.cold_start).lower()).inc()
    if ranked.kept:
        metrics.kept_answers.inc()
    return ranked


@router.post(
    "/recommend",
    response_model=RecommendResponse,
    summary="Recommend jobs to a user",
    responses=responses(401, 404, *BODY, 429, 503),
)
async def recommend(
    body: RecommendRequest,
    request: Request,
    services: ServicesDep,
    cache_control: CacheControl = None,
) -> RecommendResponse:
    """Rank every active job that passes all filters for the user and return the best.

    The user's skills, place and company come from the store (or from an inline
    `profile` for a user the store does not know); jobs the user already interacted
    with are left out unless `exclude_seen` is false. A repeated request is answered
    from the worker's kept answer while the model, the catalog and the user are
    unchanged (RESULT_CACHE_SIZE), unless the request says `Cache-Control: no-cache`.
    """
    query, fresh = recommend_query(body), _fresh(cache_control)
    # a kept answer is served right here on the event loop; scoring (and the database)
    # goes to a worker thread
    ranked = None if fresh else services.recommend.kept(query)
    if ranked is None:
        ranked = await run_in_threadpool(services.recommend.recommend, query, fresh=fresh)
    _counted(ranked, request.app.state.metrics)
    return recommend_response(ranked, request.state.request_id)


@router.post(
    "/recommend/batch",
    response_model=BatchRecommendResponse,
    summary="Recommend jobs to several users",
    responses=responses(401, *BODY, 429, 503),
)
def recommend_batch(
    body: BatchRecommendRequest,
    request: Request,
    services: ServicesDep,
    cache_control: CacheControl = None,
) -> BatchRecommendResponse:
    """Several users in one call; each result carries the status it would have alone."""
    results = []
    for i, item in enumerate(body.requests):
        try:
            ranked = services.recommend.recommend(
                recommend_query(item), fresh=_fresh(cache_control)
            )
        except JobrecError as exc:
            results.append(BatchItem(status=exc.status, error=exc.body()))
        else:
            _counted(ranked, request.app.state.metrics)
            results.append(
                BatchItem(
                    status=200,
                    response=recommend_response(ranked, f"{request.state.request_id}.{i}"),
                )
            )
    return BatchRecommendResponse(results=results)


@router.post(
    "/recommend/what-if",
    response_model=WhatIfResponse,
    summary="What a change of profile would do",
    responses=responses(401, 404, *BODY, 429, 503),
)
def what_if(body: WhatIfRequest, request: Request, services: ServicesDep) -> WhatIfResponse:
    """The user's ranking now (`before`, as /recommend answers the same request) and
    after a change of skills, place or desired salary (`after`, as /recommend will
    answer once the change is stored), with each job's rank change and score change;
    and the skills, among those the jobs passing the filters ask for, that would raise
    the user's top jobs the most. Nothing is stored. Ranked by the served model."""
    result = services.what_if.what_if(recommend_query(body), profile_change(body.changes))
    return what_if_response(result, body.user_id, request.state.request_id)
