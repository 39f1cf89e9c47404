"""Vocabularies: string value <-> embedding row, with padding 0 and unknown 1."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

PAD = 0
UNK = 1
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"


class Vocabulary:
    """Maps values to indices. Index 0 is padding, 1 unknown: any unseen value is valid.

    >>> v = Vocabulary(["cashier", "python"])
    >>> v.index("python"), v.index("cobol"), len(v)
    (3, 1, 4)
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens: list[str] = [PAD_TOKEN, UNK_TOKEN, *tokens]
        self._index = {token: i for i, token in enumerate(self.tokens)}
        if len(self._index) != len(self.tokens):
            raise ValueError("vocabulary tokens must be unique and not <pad>/<unk>")

    @classmethod
    def build(cls, values: Iterable[str | None], *, min_count: int = 1) -> Vocabulary:
        """Values seen at least `min_count` times, most frequent first (ties: alphabetical)."""
        counts = Counter(v for v in values if v)
        kept = [v for v, n in counts.items() if n >= min_count]
        kept.sort(key=lambda v: (-counts[v], v))
        return cls(kept)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index and token not in (PAD_TOKEN, UNK_TOKEN)

    def index(self, token: str | None) -> int:
        """Row of `token`; UNK for an unseen value, PAD for a missing one (None or "")."""
        if not token:
            return PAD
        return self._index.get(token, UNK)

    def to_json(self) -> list[str]:
        return self.tokens[2:]

    @classmethod
    def from_json(cls, tokens: Sequence[str]) -> Vocabulary:
        return cls(list(tokens))
