"""Fixtures of the app's tests: the console's live service, shared by its API and
browser tests (trained once per session)."""

from __future__ import annotations

import pytest

from tests.support.console import console_service as serve_console


@pytest.fixture(scope="session")
def console_service(tmp_path_factory):
    with serve_console(tmp_path_factory.mktemp("console")) as service:
        yield service
