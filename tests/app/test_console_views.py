"""The console's helpers without a server: query strings to API bodies, formatting,
latency percentiles from histogram buckets."""

from __future__ import annotations

import math

import pytest

from app.console.views import BadQuery, metric_rows, recommend_body, what_if_body
from app.metrics import quantile


def test_a_query_string_becomes_the_recommend_body():
    params = {
        "user_id": " u42 ",
        "max_recommendations": "5",
        "salary_min": "100000",
        "salary_period": "",
        "location_preference": "Bay Area",
        "companies": "Globex, Initech,",
        "exclude_seen": "no",
        "include_unspecified_salary": "1",
        "city": "Austin",
        "radius_km": "40.5",
    }
    assert recommend_body(params, ["full_time"]) == {
        "user_id": "u42",
        "max_recommendations": 5,
        "salary_min": 100000,
        "location_preference": "Bay Area",
        "companies": ["Globex", "Initech"],
        "employment_types": ["full_time"],
        "include_unspecified_salary": True,
        "exclude_seen": False,
        "location": {"city": "Austin", "radius_km": 40.5},
        "explain": True,
    }


def test_no_user_means_the_showcase_user_and_inline_means_a_profile():
    assert recommend_body({}) == {"user_id": "123", "explain": True}
    body = recommend_body(
        {"user_id": "visitor", "inline": "1", "skills": "python, sql", "home": "Seattle, WA",
         "desired_salary": "120000"}
    )  # fmt: skip
    assert body["profile"] == {
        "skills": ["python", "sql"],
        "location": "Seattle, WA",
        "desired_salary": {"amount": 120000},
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"salary_min": "lots"}, "salary_min"),
        ({"max_recommendations": "0"}, "max_recommendations"),
        ({"remote": "sometimes"}, "remote"),
        ({"latitude": "91", "longitude": "0", "radius_km": "5"}, "location.latitude"),
    ],
)
def test_a_query_the_api_would_refuse_names_the_field(params, field):
    with pytest.raises(BadQuery) as caught:
        recommend_body(params)
    assert any(f == field for f, _ in caught.value.problems), caught.value.problems


def test_the_what_if_body_is_the_recommend_body_with_its_changes():
    base = recommend_body({"user_id": "123", "max_recommendations": "5"})
    assert what_if_body({}, base) is None
    params = {"add_skills": "spark", "remove_skills": "sql", "move_to": "Seattle, WA",
              "new_desired_salary": "150000"}  # fmt: skip
    assert what_if_body(params, base) == {
        "user_id": "123",
        "max_recommendations": 5,
        "changes": {
            "add_skills": ["spark"],
            "remove_skills": ["sql"],
            "location": "Seattle, WA",
            "desired_salary": {"amount": 150000},
        },
    }


def test_metric_rows_line_up_the_baselines():
    columns, rows = metric_rows({"auc": 0.9, "note": "x"}, {"content": {"auc": 0.7}, "pop": {}})
    assert columns == ["convfm", "content", "pop"] and rows == [("auc", [0.9, 0.7, None])]


def test_quantiles_from_cumulative_buckets():
    buckets = [(0.01, 50.0), (0.1, 90.0), (1.0, 100.0), (math.inf, 100.0)]
    assert quantile(buckets, 0.5) == pytest.approx(0.01)
    assert quantile(buckets, 0.7) == pytest.approx(0.01 + 0.09 * 20 / 40)
    assert quantile(buckets, 0.99) == pytest.approx(0.1 + 0.9 * 9 / 10)
    assert quantile([(0.1, 1.0), (math.inf, 2.0)], 0.99) == 0.1  # in +Inf: the last bound
    assert quantile([(0.1, 0.0), (math.inf, 0.0)], 0.5) is None
