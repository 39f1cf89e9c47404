"""Text normalisation shared by skills, places and company names."""

from __future__ import annotations

import re
import unicodedata

_TOKEN = re.compile(r"[a-z0-9][a-z0-9+#]*(?:\.(?:js|net))?")
_SPACES = re.compile(r"\s+")


def fold(text: str | None) -> str:
    """Lower-case, accent-free, single-spaced: "  São  Paulo " -> "sao paulo"."""
    if not text:
        return ""
    if not text.isascii():  # ASCII has nothing to decompose (most text; skipping it
        # saved a third of catalog start-up)
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", text).strip().casefold()


def tokenize(text: str | None) -> list[str]:
    """Folded word tokens; keeps skill spellings such as c++, c#, node.js and .net."""
    return _TOKEN.findall(fold(text).replace(".net", " dotnet "))


def name_key(text: str | None) -> str:
    """Key for matching names that differ only in case, accents and punctuation."""
    return " ".join(re.findall(r"[a-z0-9]+", fold(text).replace("'", "")))
