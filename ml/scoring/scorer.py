"""The serving scorer: ConvFM's logit over a fixed catalog, with the job-only work done once.

`CatalogScorer` is an exact algebraic rewrite of `ConvFM.forward` (eval mode) that splits
every term into a user part, a job part and a pair part (the dense pair fields x):

* E = E_user + E_job + sum_f x_f * V_f, where E_user holds the user-side field rows,
  E_job the job-side rows (zeros elsewhere) and V_f is pair field f's vector at its
  position. Up to the first non-linearity every term is linear in E:
* first order: lin(E_user) + lin(E_job) + x . w_pair + bias
* FM: with S = sum over fields and Q = sum of squared norms (both additive over the
  parts; a pair field adds x_f^2 * |v_f|^2 to Q): FM = 0.5 * (|S|^2 - Q). Expanded,
  the user-only terms are one constant per request, the job-only terms one number per
  job, and the rest is S_job . S_user plus x against precomputed dots and a [Fp x Fp]
  Gram matrix (`first_stage`): no [n, D] pass per request
* first dense layer: W1_E . flatten(E) is additive too; the conv features enter through
  W1_conv (or the conv head without the deep tower).
* conv: it runs over the user and job fields only, user side first. A window wholly on
  the user side has the same value for every candidate (computed once per request,
  ReLU included); a window wholly on the job side depends on the job alone (computed
  once per catalog, ReLU included, and folded through W1_conv into the job's part of
  the first layer). Only the k - 1 windows across the seam mix both sides; their
  pre-activations are sums of a precomputed job part and a user part, and only they
  need a ReLU per candidate.

Per candidate this leaves: the dense pair features, one D-dot and O(Fp^2) for the
first-order and FM terms, an [Fp x H1] product, (k - 1) x C additions and ReLUs, a
[C x H1] product, and the deep tower's later layers.

Two-stage ranking: `first_stage` (`ml.scoring.first_stage`) scores the whole catalog
by the first-order and FM terms for a shortlist, which `score` re-ranks. The service
gives the first stage pair features with a cheaper stand-in for `history_skill`
(`CatalogPairs.table`) and the shortlist its true values (`mend_pairs`).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from ml.arrays import prefixed, under
from ml.features import EntityFeatures, FeatureSpace, ModelInput, dense_features_of_user
from ml.model import ConvFM
from ml.scoring.first_stage import FirstStage
from ml.scoring.pairs import CatalogPairs, PairTable
from ml.scoring.parts import Parts, catalog_rows, seam_sum

PRECOMPUTE_CHUNK = 8192  # jobs per block when precomputing (bounds peak memory)
# Past this share of the catalog, candidates take their pair features from the whole
# catalog's (`CatalogPairs`, cheap per catalog job) instead of their own
# (`dense_features_of_user`, dearer per candidate): the measured crossover
# (docs/benchmarks/measured-choices.md)
WHOLE_CATALOG_SHARE = 0.02
# Candidates per block of the conv and deep terms: [block, H1] steps that stay in the
# cache (a 10k catalog's tower: 13.3 ms whole, 11.6 ms in blocks of 2048; the same sums)
TOWER_BLOCK = 2048


class CatalogScorer:
    """Scores users against a fixed catalog with the job-only work done once.

    Equal to `score_catalog` up to float rounding (tested: max abs diff < 1e-5).
    Usage: `CatalogScorer(model, space, catalog).score(users, user_row[, job_rows])`.
    """

    # Planned where the model has the branch (H1: the first hidden width, C: filters)
    conv_weight: Tensor  # [C, D, k] and conv_bias [C]: the conv's own
    conv_bias: Tensor
    conv_out: Tensor  # [H1 or 1, C]: pooled conv features into the first layer (or head)
    conv_head_bias: Tensor  # [1], without the deep tower
    hidden_bias: Tensor  # [H1], the first layer's bias with its BatchNorm folded in
    position_kinds: list[str]  # per conv position: "user", "job" or "mixed"

    def __init__(
        self,
        model: ConvFM,
        space: FeatureSpace,
        jobs: EntityFeatures,
        prepared: Mapping[str, Tensor] | None = None,
    ) -> None:
        """`prepared`: what `arrays()` gave for this model and these jobs (a catalog
        snapshot, memory-mapped), else the job side is computed now."""
        model.eval()
        if not model.padding_is_zero():
            raise ValueError("the model's padding rows are not zero; padding must score 0")
        first = model.deep.dense_blocks[0] if model.deep is not None else None
        if first is not None and first.residual:
            raise ValueError("CatalogScorer needs hidden_dims[0] != the deep input width")
        self.model, self.space, self.jobs = model, space, jobs
        self.n_fields = len(model.fields)
        self.dim = model.config.embedding_dim
        dense_fields = [f for f in model.fields if f.kind == "dense"]
        self.pair_columns = torch.tensor([f.side == "pair" for f in dense_fields])
        self.history_skill_column = [f.name for f in dense_fields].index("history_skill")
        self.job_dense = torch.tensor([f.side == "job" for f in dense_fields])
        self._plan_conv()
        self._fold_batch_norms()
        with torch.inference_mode():
            n_dense = len(dense_fields)
            basis = ModelInput(
                torch.zeros((n_dense, len(model.categorical)), dtype=torch.long),
                torch.zeros((n_dense, len(model.bags), 1), dtype=torch.long),
                torch.eye(n_dense) * self.pair_columns,
            )
            self.pair = self._parts(basis, side=None)  # per unit of each pair value
            self.pair.lin = model.dense_weights.detach() * self.pair_columns
            if prepared is None:
                self.job = self._job_parts()
                self.pairs = CatalogPairs(space, jobs)
                stage1 = None
            else:
                job = under("job.", prepared)
                self.job = Parts.from_arrays(job) if job else None
                self.pairs = CatalogPairs(space, jobs, under("pairs.", prepared))
                stage1 = under("stage1.", prepared)
            self.stage1 = FirstStage(
                self.job,
                self.pair,
                self.pairs,
                self.pair_columns,
                fm=model.fm is not None,
                prepared=stage1,
            )

    def arrays(self) -> dict[str, Tensor]:
        """Everything computed from the jobs alone, by name: what `prepared` takes back
        (with the same model) to skip the precomputation."""
        return {
            **prefixed("job.", self.job.arrays() if self.job else {}),
            **prefixed("pairs.", self.pairs.arrays()),
            **prefixed("stage1.", self.stage1.arrays()),
        }

    def _job_parts(self) -> Parts | None:
        """The catalog jobs' parts, PRECOMPUTE_CHUNK jobs at a time (None when empty)."""
        blank = self.space.blank_users()
        parts = []
        for lo in range(0, len(self.jobs), PRECOMPUTE_CHUNK):
            rows = torch.arange(lo, min(lo + PRECOMPUTE_CHUNK, len(self.jobs)))
            x = self.space.pairs(blank, torch.zeros_like(rows), self.jobs, rows)
            parts.append(self._parts(x._replace(dense=x.dense * self.job_dense), "job"))
        return Parts.cat(parts) if parts else None

    # -- precomputation ----------------------------------------------------------------

    def _fold_batch_norms(self) -> None:
        """Eval-mode BatchNorm is per-channel affine (x * a + c): fold the first block's
        into everything that sums into its input (the embedding part of its weight, the
        conv projection, and its bias), and each later block's into its Linear."""
        m = self.model
        self.w1: Tensor | None = None
        self.later: list[tuple[Tensor, Tensor, bool]] = []  # (weight, bias, residual)
        if m.deep is None:
            return
        first, *later = m.deep.dense_blocks
        a, c = _affine(first.norm)
        self.w1 = first.linear.weight[:, : self.n_fields * self.dim] * a.unsqueeze(1)
        if m.conv is not None:
            self.conv_out = self.conv_out * a.unsqueeze(1)
        self.hidden_bias = first.linear.bias * a + c
        for block in later:
            a, c = _affine(block.norm)
            self.later.append(
                (block.linear.weight * a.unsqueeze(1), block.linear.bias * a + c, block.residual)
            )

    def _plan_conv(self) -> None:
        """Which conv windows are user-only, job-only or across the seam."""
        m = self.model
        self.mixed_positions: list[int] = []
        if m.conv is None:
            return
        self.conv_weight = m.conv.conv.weight  # [C, D, k]
        self.conv_bias = _bias(m.conv.conv)  # [C]
        sides = [m.fields[i].side for i in m.conv_fields]
        pad = m.config.conv_kernel_size // 2
        kinds: list[str] = []
        for p in range(len(sides)):
            window = {sides[q] for q in range(max(0, p - pad), min(len(sides), p + pad + 1))}
            kinds.append(window.pop() if len(window) == 1 else "mixed")
        self.position_kinds = kinds
        self.mixed_positions = [p for p, kind in enumerate(kinds) if kind == "mixed"]
        if m.deep is not None:
            weight = m.deep.dense_blocks[0].linear.weight[:, self.n_fields * self.dim :]
        elif m.conv_head is not None:
            weight = m.conv_head.weight
            self.conv_head_bias = _bias(m.conv_head)
        else:
            raise ValueError("a conv branch needs a deep tower or a conv head")
        self.conv_out = weight / len(sides)  # mean over positions, then the linear map

    def _parts(self, x: ModelInput, side: str | None) -> Parts:
        """Additive parts of the inputs `x` that fill only `side` ("user" or "job"; None
        for the pair basis, which never reaches the conv)."""
        m = self.model
        emb = m.field_embeddings(x)  # [n, F, D]
        lin = m.first_order(x) - m.bias
        hidden: Tensor | None = None
        mixed: Tensor | None = None
        if self.w1 is not None:
            hidden = emb.flatten(1) @ self.w1.T
        if m.conv is not None and side is not None:
            stacked = emb.index_select(1, m.conv_index)  # [n, P, D]
            weight, bias = self.conv_weight, self.conv_bias
            pre = F.conv1d(
                stacked.transpose(1, 2), weight, None, padding=weight.shape[-1] // 2
            ).transpose(1, 2)  # [n, P, C]
            own = [p for p, kind in enumerate(self.position_kinds) if kind == side]
            pooled = F.relu(pre[:, own] + bias).sum(1)  # [n, C]: this side's windows
            projected = pooled @ self.conv_out.T
            hidden = projected if hidden is None else hidden + projected
            mixed = pre[:, self.mixed_positions].transpose(0, 1).contiguous()  # [M, n, C]
        return Parts(lin, emb.sum(1), emb.pow(2).sum((1, 2)), hidden, mixed)

    def user_parts(self, users: EntityFeatures, user_row: int) -> Parts:
        """The user's parts (call once per request)."""
        with torch.inference_mode():
            rows = torch.tensor([user_row])
            x = self.space.pairs(
                users, rows, self.space.blank_users(), torch.zeros(1, dtype=torch.long), dense=False
            )
            return self._parts(x, "user")

    # -- scoring -----------------------------------------------------------------------

    def pair_features(
        self,
        users: EntityFeatures,
        user_row: int,
        job_rows: Tensor | None = None,
        *,
        stand_in: bool = False,
    ) -> Tensor:
        """[n, Fd] the pair fields' values of one user against `job_rows` (default: the
        whole catalog); the job-side dense columns are zero (they are in the job's parts).
        `stand_in` (for a first stage): `history_skill` may hold a cheaper stand-in
        (`CatalogPairs.table`); `mend_pairs` gives the rows kept their true values.
        """
        with torch.inference_mode():
            if job_rows is None:
                return self.pair_table(users, user_row, stand_in=stand_in).dense()
            if len(job_rows) > WHOLE_CATALOG_SHARE * len(self.jobs):
                return self.pair_table(users, user_row, stand_in=stand_in).rows(job_rows)
            x = dense_features_of_user(self.space, users, user_row, self.jobs, job_rows)
            return x * self.pair_columns

    def pair_table(
        self, users: EntityFeatures, user_row: int, *, stand_in: bool = False
    ) -> PairTable:
        """`pair_features` of the whole catalog, factored (`PairTable`): what
        `first_stage` reads fastest."""
        with torch.inference_mode():
            return self.pairs.table(users, user_row, pair_only=True, stand_in=stand_in)

    def mend_pairs(
        self, users: EntityFeatures, user_row: int, job_rows: Tensor, pairs: Tensor
    ) -> Tensor:
        """`pairs` [n, Fd] of `job_rows` from `pair_features(..., stand_in=True)`, with
        the true `history_skill` written in (in place; a gather per row, for a few)."""
        with torch.inference_mode():
            pairs[:, self.history_skill_column] = self.pairs.history_skill(
                users, user_row, job_rows
            )
            return pairs

    def logits(
        self,
        users: EntityFeatures,
        user_row: int,
        job_rows: Tensor | None = None,
        user: Parts | None = None,
        pairs: Tensor | None = None,
    ) -> Tensor:
        """Logits [n] of one user against `job_rows` (default: the whole catalog).
        `user` (`user_parts`) and `pairs` (`pair_features` of the same rows): pass them
        when the caller already has them.

        The first-order and FM terms are `first_stage` plus the user's constant (one
        D-dot and O(Fd^2) per candidate instead of passes over an [n, D] sum)."""
        m = self.model
        with torch.inference_mode():
            user = user if user is not None else self.user_parts(users, user_row)
            x = pairs if pairs is not None else self.pair_features(users, user_row, job_rows)
            logit = self.first_stage(users, user_row, job_rows, user, x)
            logit += m.bias + user.lin
            if m.fm is not None:
                logit += 0.5 * (user.s.pow(2).sum(1) - user.q)
            if m.deep is None and m.conv is None:
                return logit
            n = len(logit)
            for lo in range(0, n, TOWER_BLOCK):
                hi = min(lo + TOWER_BLOCK, n)
                rows = slice(lo, hi) if job_rows is None else job_rows[lo:hi]
                logit[lo:hi] += self._tower(rows, user, x[lo:hi])
            return logit

    def _tower(self, rows: slice | Tensor, user: Parts, x: Tensor) -> Tensor:
        """[b]: the conv and deep terms of the logit for b catalog `rows` (a slice, or
        row numbers) whose pair features are `x` [b, Fd]. `logits` calls it a block of
        `TOWER_BLOCK` candidates at a time: the [b, H1] steps then stay in the cache."""
        m = self.model
        job = self._job()
        # with a deep tower or a conv branch, every side has a hidden part
        assert job.hidden is not None and user.hidden is not None
        if m.deep is None:  # conv head only
            hidden = catalog_rows(job.hidden, rows) + user.hidden
        else:  # every part is already scaled by the first BatchNorm (folded)
            assert self.pair.hidden is not None
            hidden = torch.addmm(catalog_rows(job.hidden, rows), x, self.pair.hidden)
            hidden += user.hidden + self.hidden_bias
        if m.conv is not None and self.mixed_positions:
            assert job.mixed is not None and user.mixed is not None
            seam = seam_sum(catalog_rows(job.mixed, rows, 1), user.mixed[:, 0] + self.conv_bias)
            hidden.addmm_(seam, self.conv_out.T)
        if m.deep is None:
            return hidden[:, 0] + self.conv_head_bias
        h = hidden.relu_()  # eval: dropout = identity
        for weight, bias, residual in self.later:
            out = torch.addmm(bias, h, weight.T).relu_()
            h = out.add_(h) if residual else out
        return m.deep.out(h).squeeze(-1)

    def first_stage(
        self,
        users: EntityFeatures,
        user_row: int,
        job_rows: Tensor | None = None,
        user: Parts | None = None,
        pairs: Tensor | PairTable | None = None,
        *,
        exact: bool = True,
    ) -> Tensor:
        """Cheap scores [n] for two-stage retrieval: the model's first-order and FM
        terms in full (pair fields included), without the conv and deep terms, up to a
        per-user constant. Per candidate one D-dot and O(Fp^2) on the pair features;
        shortlist with it, then `score` the shortlist (reusing `pairs`, [n, Fd], or
        the rows of the whole catalog's `pair_table`).

        `exact=False` (a shortlist over the whole catalog): with a `PairTable`,
        S_job . S_user comes from int8 codes of S_job (`FirstStage.shortlist_codes`),
        each value within half a step of 1/127 of its job's largest."""
        with torch.inference_mode():
            user = user if user is not None else self.user_parts(users, user_row)
            if pairs is None:
                pairs = (
                    self.pair_table(users, user_row)
                    if job_rows is None
                    else self.pair_features(users, user_row, job_rows)
                )
            return self.stage1.scores(user.s[0], job_rows, pairs, exact=exact)

    def _job(self) -> Parts:
        if self.job is None:
            raise ValueError("the catalog is empty")
        return self.job

    def score(
        self,
        users: EntityFeatures,
        user_row: int,
        job_rows: Tensor | None = None,
        user: Parts | None = None,
        pairs: Tensor | None = None,
    ) -> Tensor:
        """Probabilities [n] in [0, 1]."""
        return torch.sigmoid(self.logits(users, user_row, job_rows, user, pairs))

    def score_many(self, users: EntityFeatures, user_rows: Tensor) -> Tensor:
        """Probabilities [U, N] against the whole catalog, one user at a time."""
        if not len(user_rows):
            return torch.empty((0, len(self.jobs)))
        return torch.stack([self.score(users, int(r)) for r in user_rows])

    # -- the first stage's precomputed pieces (benchmarks/serving.py reads them) -------

    @property
    def first_stage_bias(self) -> Tensor:
        """[N] each job's first-order and FM terms alone (`FirstStage.bias`)."""
        return self.stage1.bias

    @property
    def shortlist_codes(self) -> Tensor:
        """[N, D] int8 codes of the jobs' summed embeddings (`FirstStage`)."""
        return self.stage1.shortlist_codes

    @property
    def shortlist_scales(self) -> Tensor:
        """[N] the codes' scales (`FirstStage`)."""
        return self.stage1.shortlist_scales

    @property
    def pair_job_dots(self) -> Tensor:
        """[Fp, N] each pair field's vector dotted with each job's summed embedding."""
        return self.stage1.pair_job_dots


def _affine(norm: torch.nn.BatchNorm1d) -> tuple[Tensor, Tensor]:
    """(a, c) with norm(x) == x * a + c in eval mode, each [O]."""
    weight, bias = norm.weight, norm.bias
    mean, var = norm.running_mean, norm.running_var
    if weight is None or bias is None or mean is None or var is None:
        raise ValueError("CatalogScorer needs BatchNorm with affine weights and running stats")
    a = weight / torch.sqrt(var + norm.eps)
    return a, bias - mean * a


def _bias(layer: torch.nn.Conv1d | torch.nn.Linear) -> Tensor:
    """The layer's bias (ConvFM builds every layer with one)."""
    if layer.bias is None:
        raise ValueError(f"CatalogScorer needs a bias in {layer}")
    return layer.bias
