"""Bodies of POST /recommend/what-if."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas.recommend import Recommendation, RecommendRequest
from app.schemas import MAX_SKILLS, DesiredSalaryIn, LocationText, PlaceIn, SkillName, _Input


class ProfileChangesIn(_Input):
    add_skills: list[SkillName] = Field(default_factory=list, max_length=MAX_SKILLS)
    remove_skills: list[SkillName] = Field(default_factory=list, max_length=MAX_SKILLS)
    location: LocationText | PlaceIn | None = Field(
        None, description="move the user here (a place the gazetteer or a job knows)"
    )
    desired_salary: DesiredSalaryIn | None = Field(None, description="a new desired salary")


class WhatIfRequest(RecommendRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "123",
                    "max_recommendations": 5,
                    "changes": {"add_skills": ["spark"], "location": "Seattle, WA"},
                }
            ]
        }
    )

    changes: ProfileChangesIn = Field(description="the change to the user's profile")


class WhatIfRecommendation(Recommendation):
    rank_change: int | None = Field(
        description="positions gained (negative: lost) against `before`; null: new in the list"
    )
    score_delta: float = Field(description="this job's score now minus its score before")


class SkillSuggestion(BaseModel):
    skill: str
    gain: float = Field(description="rise of the mean score of the user's top jobs")
    jobs_gained: int = Field(description="jobs that would enter the user's top jobs")


class WhatIfResponse(BaseModel):
    request_id: str
    user_id: str
    model_version: str
    catalog_version: str
    before: list[Recommendation] = Field(description="what /recommend answers now")
    after: list[WhatIfRecommendation] = Field(
        description="what /recommend would answer once the change is stored"
    )
    skill_suggestions: list[SkillSuggestion] = Field(
        description="skills, among those the jobs passing the filters ask for, that would "
        "raise the user's top jobs the most, best first"
    )
