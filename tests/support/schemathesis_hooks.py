"""A schemathesis check for the test run (SCHEMATHESIS_HOOKS=tests.support.schemathesis_hooks).

`schema_valid_requests_pass_validation` holds the schema to the server: a request that
the schema says is valid must not fail the server's validation (422 `validation_error`).
It stands in for schemathesis' `positive_data_acceptance`, which refuses every 4xx but
404 and so cannot tell a schema gap from what no schema can know: a place that no
gazetteer or job knows (422 `unknown_place`), a user who is not in the store (404).
One rule is left to the descriptions, as JSON Schema cannot compare two fields: a range's
top is not below its bottom (`salary.max`, `salary_max`).
"""

from __future__ import annotations

import re

import schemathesis

ACROSS_FIELDS = re.compile(
    r"salary_max is below salary_min|salary maximum \S+ is below "
    r"minimum"
)


@schemathesis.check
def schema_valid_requests_pass_validation(ctx, response, case) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    error = response.json().get("error") or {}
    if error.get("code") != "validation_error":
        return None  # refused for what the data means, not for its form
    details = error.get("details") or []
    if not isinstance(details, list):  # a service's own validation_error: one message
        raise AssertionError(f"a schema-valid request failed validation: {error.get('message')}")
    messages = [str(d.get("msg", "")) for d in details]
    if messages and all(ACROSS_FIELDS.search(m) for m in messages):
        return None
    raise AssertionError(f"a schema-valid request failed validation: {messages}")
