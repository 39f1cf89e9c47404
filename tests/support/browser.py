"""Headless Chromium for the tests, driven by Playwright, with the outside world cut off.

Debian's Chromium is used (`/usr/bin/chromium`; `CHROMIUM` names another): Playwright's
own browser download needs a CDN. Every request to another host than the server under
test is aborted and recorded, so a page that needs the internet shows it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    return (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )


@dataclass
class Offline:
    """What the page tried to reach outside the server, and the errors it raised."""

    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextmanager
def offline_page(base_url: str) -> Iterator[tuple[object, Offline]]:
    """A Playwright page that may reach `base_url`'s host only."""
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium: install Debian's chromium (make test does, as root)")
    from playwright.sync_api import sync_playwright

    allowed = urlsplit(base_url).netloc
    seen = Offline()

    def route(route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == allowed or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            seen.blocked.append(url)
            route.abort("internetdisconnected")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.route("**/*", route)
            page = context.new_page()
            page.on("pageerror", lambda exc: seen.errors.append(str(exc)))
            yield page, seen
        finally:
            browser.close()
