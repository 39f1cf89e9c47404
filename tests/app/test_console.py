"""/console as people use it: Chromium (Playwright) against a real server, a trained
model and a real store, with every request that would leave the server blocked."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.support.browser import offline_page
from tests.support.console import CONSOLE_KEY

pytestmark = pytest.mark.slow

PAGES = ("/console/try?user_id=123", "/console/experiments", "/console/models", "/console/health")


def csp_violations(page) -> list[str]:
    """Console messages of Content-Security-Policy violations, recorded from now on."""
    seen: list[str] = []
    page.on(
        "console",
        lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return seen


def test_every_page_has_the_csp_and_no_inline_script(console_service):
    with console_service.server.client() as client:
        served = f"/console/models/{console_service.served}"
        for path in (*PAGES, served, "/console/static/js/api.js"):
            response = client.get(path)
            assert response.status_code == 200, path
            policy = response.headers["content-security-policy"]
            assert "script-src 'self';" in policy and "unsafe-inline" not in policy
            if path.startswith("/console/static"):
                continue
            scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", response.text, re.S)
            assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
            assert " style=" not in response.text and "<style" not in response.text
            assert CONSOLE_KEY not in response.text
        assert (
            client.get("/console", follow_redirects=False)
            .headers["location"]
            .endswith("/console/try")
        )


def test_a_bad_link_renders_a_page_with_its_status(console_service):
    with console_service.server.client() as client:
        for path, status, words in (
            ("/console/try?user_id=nobody", 404, "not found"),
            ("/console/try?user_id=123&salary_min=lots", 422, "not a number"),
            ("/console/try?user_id=123&max_recommendations=0", 422, "max_recommendations"),
            ("/console/try?user_id=123&remote=sometimes", 422, "remote"),
            ("/console/experiments/no-such-test", 404, "not found"),
            ("/console/models/convfm-nope", 404, "not registered"),
        ):
            response = client.get(path)
            assert response.status_code == status, path
            assert response.headers["content-type"].startswith("text/html")
            assert words in response.text and 'id="problem"' in response.text
        trending = client.get("/console/try?user_id=nobody&fallback=trending")
        assert trending.status_code == 200  # the API answers it with the trending jobs


def test_an_integrator_looks_up_user_123_explains_and_runs_a_what_if(console_service):
    base = console_service.url
    with console_service.server.client() as client:
        expected = client.post("/recommend", json={"user_id": "123"}).json()
    expected_ids = [r["job_id"] for r in expected["recommendations"]]
    with offline_page(base) as (page, seen):
        violations = csp_violations(page)
        page.goto(f"{base}/console")
        assert page.url.endswith("/console/try")
        page.fill("#user-id", "123")
        page.click("#run")
        page.wait_for_selector("#recommend[data-loaded]")
        assert page.url.endswith("/console/try?user_id=123")
        assert (
            page.locator("#jobs li.job").evaluate_all("items => items.map(i => i.dataset.jobId)")
            == expected_ids
        )
        assert "Data Scientist" in page.inner_text("#profile")
        shown = page.inner_text("#recommend-request pre")
        assert '"user_id":"123"' in shown and "/recommend" in shown and CONSOLE_KEY not in shown

        page.locator("#jobs details.why summary").first.click()
        bars = page.locator("#jobs li.job").first.locator(".contribution")
        assert bars.count() > 5 and bars.first.is_visible()

        page.fill("input[name=add_skills]", "spark, kubernetes")
        page.fill("input[name=move_to]", "Seattle, WA")
        page.click("#run")
        page.wait_for_selector("#what-if-table")
        assert "add_skills=spark" in page.url and "move_to=Seattle" in page.url
        assert page.locator("#what-if-table tbody tr").count() == len(expected_ids)
        assert page.locator("#what-if-table .rank").count() == len(expected_ids)
        assert "/recommend/what-if" in page.inner_text("#what-if-request pre")
    assert seen.blocked == [] and seen.errors == [] and violations == []


def test_a_deep_link_restores_the_view_and_its_curl_runs(console_service):
    base = console_service.url
    link = f"{base}/console/try?user_id=123&max_recommendations=4&remote=exclude&add_skills=sql"
    with offline_page(base) as (page, seen):
        page.goto(link)
        page.wait_for_selector("#what-if-table")
        assert page.input_value("input[name=max_recommendations]") == "4"
        assert page.input_value("select[name=remote]") == "exclude"
        assert page.input_value("input[name=add_skills]") == "sql"
        shown = page.locator("#jobs li.job").evaluate_all(
            "items => items.map(i => i.dataset.jobId)"
        )
        curl = page.inner_text("#recommend-request pre")
        page.goto(f"{base}/console/try?user_id=visitor-1&inline=1&skills=python,sql&home=Austin")
        page.wait_for_selector("#recommend[data-loaded]")
        assert page.locator("#jobs li.job").count() > 0
        sent = json.loads(page.inner_text("#recommend-request pre").split("-d '")[1].rstrip("'"))
        assert sent["profile"] == {"skills": ["python", "sql"], "location": "Austin"}
    assert len(shown) == 4 and seen.blocked == [] and seen.errors == []
    if shutil.which("curl"):
        ran = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30)
        assert [r["job_id"] for r in json.loads(ran.stdout)["recommendations"]] == shown


def test_an_operator_starts_and_stops_an_experiment_with_the_key(console_service):
    base = console_service.url
    with offline_page(base) as (page, seen):
        violations = csp_violations(page)
        page.goto(f"{base}/console/experiments")
        page.fill("#exp-name", "console-ab")
        page.locator("tr.variant .v-model").nth(1).select_option("popularity")
        page.click("#start")
        error = page.wait_for_selector("#start-error:not([hidden])")
        assert "401" in error.inner_text() and "API key" in error.inner_text()

        page.fill("#api-key", CONSOLE_KEY)
        page.click("#key-save")
        assert page.evaluate("sessionStorage.getItem('jobrec.apiKey')") == CONSOLE_KEY
        page.click("#start")
        page.wait_for_url("**/console/experiments/console-ab")
        page.wait_for_selector("#rates-chart[data-drawn]")
        page.wait_for_selector("#positions-chart[data-drawn]")
        drawn = page.eval_on_selector("#rates-chart", "c => c.width * c.height")
        assert drawn > 0 and page.inner_text("#status") == "running"
        assert CONSOLE_KEY not in page.content()

        page.click("button.stop")
        page.wait_for_selector("#status:text('stopped')")
        page.goto(f"{base}/console/experiments")
        row = page.locator("#experiments tr[data-name='console-ab']")
        assert row.get_attribute("data-status") == "stopped"
    assert seen.blocked == [] and seen.errors == [] and violations == []


def test_the_model_and_health_pages_draw(console_service):
    base = console_service.url
    with offline_page(base) as (page, seen):
        violations = csp_violations(page)
        page.goto(f"{base}/console/models")
        page.click(f"#models a:text('{console_service.served}')")
        for chart in ("#curve-chart", "#importance-chart", "#conv-heatmap"):
            page.wait_for_selector(f"{chart}[data-drawn]")
        assert page.locator("#metrics tbody tr").count() >= 5
        page.goto(f"{base}/console/health")
        page.wait_for_selector("#events-chart[data-drawn]")
        assert int(page.inner_text("#catalog-size").replace(",", "")) > 0
        assert "every 2h" in page.inner_text("#schedule")
        assert page.locator("#latency tbody tr").count() >= 1
    assert seen.blocked == [] and seen.errors == [] and violations == []
