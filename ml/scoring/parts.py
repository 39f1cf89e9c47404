"""The additive parts of ConvFM's logit that the catalog scorer precomputes per side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(slots=True)
class Parts:
    """The additive parts of one side (or of the pair basis), n rows each.

    lin [n]; s [n, D]; q [n]; hidden [n, O]: the first dense layer's pre-activation part
    (O = H1), or the conv head's (O = 1) without the deep tower, with the conv windows
    of this side alone already folded in; mixed [n, M, C]: this side's contribution to
    the M seam windows' pre-activations. None where the model lacks the branch.
    """

    lin: Tensor
    s: Tensor
    q: Tensor
    hidden: Tensor | None
    mixed: Tensor | None

    @staticmethod
    def cat(parts: Sequence[Parts]) -> Parts:
        """The rows of `parts`, in order."""

        def cat(values: list[Tensor | None]) -> Tensor | None:
            tensors = [v for v in values if v is not None]
            return torch.cat(tensors) if tensors else None

        return Parts(
            torch.cat([p.lin for p in parts]),
            torch.cat([p.s for p in parts]),
            torch.cat([p.q for p in parts]),
            cat([p.hidden for p in parts]),
            cat([p.mixed for p in parts]),
        )


def catalog_rows(values: Tensor, job_rows: Tensor | None) -> Tensor:
    """The catalog `job_rows` of per-job `values` (first axis), or all of them."""
    return values if job_rows is None else values.index_select(0, job_rows)
