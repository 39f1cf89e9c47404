"""The first stage of two-stage ranking: ConvFM's first-order and FM terms in full.

For catalogs too large to score whole, the first stage is the first-order and FM part
of the same logit, in full (pair fields included), at one D-dot plus O(Fp^2) per
candidate; its shortlist is re-ranked by the full model (`CatalogScorer.score`).
With s = S_job + S_user + x P (P [Fp, D]: the pair fields' vectors, x [Fp] a
candidate's pair values),

    0.5 (|s|^2 - q) - user-only terms = bias_job + S_job . S_user
        + x . (S_job P^T + P S_user) + 0.5 x (P P^T - diag) x^T

where bias_job, S_job P^T ([Fp, N]) and the Gram matrix P P^T are the catalog's, formed
once: per candidate the last two terms cost O(Fp) and O(Fp^2) instead of passes over
[n, D]. Over the whole catalog it reads the pair features factored (`PairTable`) in one
compiled pass (`ml.scoring.kernels`), where for a shortlist the D-dots may come from
int8 codes of the job vectors; otherwise it is exact.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from ml.scoring.kernels import add_pair_terms, quantize_rows, shortlist_scores
from ml.scoring.pairs import CatalogPairs, PairTable
from ml.scoring.parts import Parts, catalog_rows

# Candidates per block of the dense route's pair terms: the [Fp, block] float32 products
# stay in the last-level cache between passes (measured: docs/benchmarks/measured-choices.md)
FIRST_STAGE_BLOCK = 262_144


class FirstStage:
    """The job-only pieces of the first stage, formed once per catalog, and its scores.

    bias [N]: each job's first-order and FM terms alone; with the FM term also
    pair_job_dots [Fp, N] (S_job P^T), pair_gram [Fp, Fp] (P P^T, zero diagonal) and
    shortlist_codes [N, D] int8 with shortlist_scales [N] (S_job for a shortlist).
    The Fp pair fields are in `pair_order`: a `PairTable`'s per-job fields first (its
    rows `pair_table_rows` of `per_job`), then its setting fields.
    """

    def __init__(
        self,
        job: Parts | None,
        pair: Parts,
        pairs: CatalogPairs,
        pair_columns: Tensor,
        *,
        fm: bool,
        prepared: Mapping[str, Tensor] | None = None,
    ) -> None:
        """`prepared`: the tensors `arrays()` gave for these jobs, else computed."""
        self.job, self.pair, self.pairs, self.fm = job, pair, pairs, fm
        if job is None:
            self.bias = torch.zeros(0)
            return
        if not fm:
            self.bias = job.lin
            return
        t = prepared or {}
        self.bias = t["bias"] if t else job.lin + 0.5 * (job.s.pow(2).sum(1) - job.q)  # [N]
        # S_job over the whole catalog for a shortlist (`exact=False`): int8 codes with
        # one scale per job, a quarter of float32's bytes, read in the same pass that adds
        # the pair terms; exact scores read `job.s`
        self.shortlist_codes, self.shortlist_scales = (
            (t["shortlist_codes"], t["shortlist_scales"]) if t else quantize_rows(job.s)
        )
        # only the Fp pair fields among the dense ones: the job-side ones are zero in the
        # pair features (they are in the job's parts). In the order of a PairTable: the
        # A per-job fields first (its rows `pair_table_rows` of `per_job`), then the B
        # setting fields.
        setting = pairs.setting_rows
        per_job = [(row, c) for row, c in enumerate(pairs.job_columns) if pair_columns[c]]
        rows = [row for row, _ in per_job]
        self.pair_table_rows = slice(rows[0], rows[-1] + 1)
        if rows != list(range(rows[0], rows[-1] + 1)):
            raise AssertionError("the per-job pair fields must be consecutive")
        self.pair_order = torch.tensor(
            [c for _, c in per_job] + list(range(setting.start, setting.stop))
        )
        if sorted(self.pair_order.tolist()) != pair_columns.nonzero().squeeze(1).tolist():
            raise AssertionError("every pair field is a per-job or a setting field")
        pair_s = pair.s[self.pair_order]
        self.pair_job_dots = t["pair_job_dots"] if t else pair_s @ job.s.T  # [Fp, N]
        gram = pair_s @ pair_s.T
        self.pair_gram = gram - torch.diag(torch.diagonal(gram))  # [Fp, Fp], zero diagonal

    def arrays(self) -> dict[str, Tensor]:
        """The tensors formed from the jobs, by name (what `prepared` takes back)."""
        if self.job is None or not self.fm:
            return {}
        return {
            "bias": self.bias,
            "shortlist_codes": self.shortlist_codes,
            "shortlist_scales": self.shortlist_scales,
            "pair_job_dots": self.pair_job_dots,
        }

    def scores(
        self, u: Tensor, job_rows: Tensor | None, pairs: Tensor | PairTable, *, exact: bool = True
    ) -> Tensor:
        """[n] the first stage of `job_rows` (None: the whole catalog) for the user whose
        summed embedding is u = S_user [D], up to a per-user constant. `pairs`: their
        pair features [n, Fd], or the whole catalog's `PairTable`."""
        if isinstance(pairs, PairTable):
            if job_rows is not None:
                raise ValueError("a PairTable holds the whole catalog: job_rows=None")
            if self.fm and len(pairs):
                return self._table_scores(u, pairs, exact)
            pairs = pairs.dense()
        x = pairs

        bias = catalog_rows(self.bias, job_rows)
        if not self.fm:
            return torch.addmv(bias, x, self.pair.lin)
        job = self._job()
        if job_rows is None:
            cheap = torch.addmv(bias, job.s, u)
            dots = self.pair_job_dots
        else:
            s = job.s.index_select(0, job_rows)  # [n, D]
            cheap = torch.addmv(bias, s, u)
            # [Fp, n] from the rows gathered anyway: a gather of n scattered columns of
            # the catalog's [Fp, N] dots costs a cache miss per value
            dots = self.pair.s[self.pair_order] @ s.T
        xt = x.T[self.pair_order]  # [Fp, n], each field contiguous (a copy)
        # per candidate: x . (dots + lin + P u) + 0.5 x G x, G with a zero diagonal;
        # block by block, so that the [Fp, block] products stay in cache
        linear = self._pair_linear(u).unsqueeze(1)
        block = torch.empty((len(xt), min(FIRST_STAGE_BLOCK, len(cheap))))
        for lo in range(0, len(cheap), FIRST_STAGE_BLOCK):
            hi = min(lo + FIRST_STAGE_BLOCK, len(cheap))
            weights = torch.addmm(
                dots[:, lo:hi], self.pair_gram, xt[:, lo:hi], alpha=0.5, out=block[:, : hi - lo]
            )
            cheap[lo:hi] += weights.add_(linear).mul_(xt[:, lo:hi]).sum(0)
        return cheap

    def _job(self) -> Parts:
        if self.job is None:
            raise ValueError("the catalog is empty")
        return self.job

    def _pair_linear(self, u: Tensor) -> Tensor:
        """[Fp] the pair fields' linear weights against one user (u = S_user [D]): their
        first-order weights plus their vectors dotted with u, in `pair_order`."""
        return (self.pair.lin + self.pair.s @ u)[self.pair_order]

    def _table_scores(self, u: Tensor, table: PairTable, exact: bool) -> Tensor:
        """`scores` [N] over the whole catalog from a `PairTable`, in one compiled pass
        (`ml.scoring.kernels`): the setting fields' terms are formed once per setting, and
        no [Fp, N] intermediate is written, nor the setting fields gathered to every job.
        Not `exact`: S_job . S_user from the jobs' int8 codes (`shortlist_codes`), in the
        same pass."""
        linear = self._pair_linear(u)
        x = table.per_job[self.pair_table_rows]  # [A, N]
        a, b = slice(0, len(x)), slice(len(x), None)  # per-job, setting fields
        gram = self.pair_gram
        y = table.settings  # [K, B]
        const = y @ linear[b] + 0.5 * ((y @ gram[b, b]) * y).sum(1)  # [K]
        cross = y @ gram[a, b].T  # [K, A]
        pair_terms = (
            self.bias.numpy(),
            self.pair_job_dots.numpy(),
            x.numpy(),
            self.pairs.setting_of.numpy(),
            y.numpy(),
            const.numpy(),
            cross.numpy(),
            linear[a].contiguous().numpy(),
            gram[a, a].contiguous().numpy(),
        )
        if exact:
            scores = self._job().s @ u
            add_pair_terms(len(x), y.shape[1])(scores.numpy(), *pair_terms)
        else:
            scores = torch.empty(len(table))
            shortlist_scores(len(x), y.shape[1], len(u))(
                scores.numpy(),
                self.shortlist_codes.numpy(),
                self.shortlist_scales.numpy(),
                u.numpy(),
                *pair_terms,
            )
        if len(table.own_rows):  # their history fields are their own, not the setting's
            scores[table.own_rows] = self.scores(u, table.own_rows, table.rows(table.own_rows))
        return scores
