"""benchmarks/online.py's page, rendered from a run's numbers."""

from __future__ import annotations

import json

from benchmarks.online import render
from tests.support.paths import REPO


def test_the_page_shows_every_round_and_gate():
    result = json.loads((REPO / "docs" / "benchmarks" / "online.json").read_text())
    page = render(result)
    for entry in result["rounds"]:
        for variant in entry.get("report", {}).get("variants", []):
            assert f"| {entry['round']} | {variant['name']} |" in page
        if "gate" in entry:
            assert f"round {entry['round']} gate:" in page
    assert "p = " in page and "online.png" in page
