"""Scoring users against a catalog: the reference forward and the fast catalog scorer.

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

For catalogs too large to score whole, `first_stage` is the first-order and FM part of
the same logit, in full (pair fields included), at one D-dot plus O(Fp^2) per
candidate; its shortlist is re-ranked by the full model (`app.recommender.rank`).
Over the whole catalog it reads the pair features factored (`PairTable`: the fields of
a job's place, city, region and company once per distinct combination) in one compiled
pass (`ml.kernels`), where for a shortlist the D-dots may come from int8 codes of the
job vectors; otherwise it is exact. The service gives it pair features with a cheaper
stand-in for `history_skill` (`CatalogPairs.table`) and the shortlist its true values
(`mend_pairs`).
"""

from __future__ import annotations

import functools
import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from ml.features import (
    EntityFeatures,
    FeatureSpace,
    ModelInput,
    dense_features_of_user,
    fields_of,
    history_share,
    history_validity,
    salary_fit,
)
from ml.geo import chord_km, unit_vectors
from ml.kernels import add_pair_terms, quantize_rows, shortlist_scores
from ml.model import ConvFM
from ml.vocab import PAD, UNK

PRECOMPUTE_CHUNK = 8192  # jobs per block when precomputing (bounds peak memory)
# Past this share of the catalog, candidates take their pair features from the whole
# catalog's (`CatalogPairs`, about 70 ns per catalog job at 100k jobs) instead of their
# own (`dense_features_of_user`, about 3.5 us per candidate): measured crossover ~2%.
WHOLE_CATALOG_SHARE = 0.02
# The dense fields that depend on the job through its place, city, region and company
# alone, consecutive in `FIELDS` (see `CatalogPairs`)
SETTING_FIELDS = ("same_city", "history_city", "proximity", "history_proximity",
                  "same_region", "history_region", "history_company")
# The skill overlaps sum the lists of jobs per skill while these reach at most this share
# of the catalog's (job, skill) pairs, and take one sparse product past it: on 95k
# synthetic jobs the lists ran 3.4 ns per pair reached, the product about 2 ns per pair
# of the catalog
SKILL_LISTS_SHARE = 0.5
# Candidates per block of the first stage's pair terms: the [Fd, block] float32 products
# (11.5 MB) stay in the last-level cache between passes. The pair terms of 950k jobs on
# an Intel Xeon (48 MB L3), 3 runs each: 21.2 ms in blocks of 262,144, 24.4 of 131,072,
# 31.3 of 65,536, 23.7 in one pass (an AMD EPYC gave 1.14x for 65,536 over one pass)
FIRST_STAGE_BLOCK = 262_144


@torch.inference_mode()
def score_catalog(
    model: ConvFM,
    space: FeatureSpace,
    users: EntityFeatures,
    user_rows: Tensor,
    jobs: EntityFeatures,
    *,
    max_pairs: int = 8192,
) -> Tensor:
    """Reference: probabilities [U, N] of each user row against every job, by batched
    `ConvFM.forward` over pairs built by `FeatureSpace.pairs` (the training code path).
    """
    n_jobs = len(jobs)
    out = torch.empty((len(user_rows), n_jobs))
    users_per_batch = max(1, max_pairs // max(n_jobs, 1))
    job_rows = torch.arange(n_jobs)
    for start in range(0, len(user_rows), users_per_batch):
        chunk = user_rows[start : start + users_per_batch]
        pair_users = chunk.repeat_interleave(n_jobs)
        pair_jobs = job_rows.repeat(len(chunk))
        for lo in range(0, len(pair_users), max_pairs):
            hi = lo + max_pairs
            x = space.pairs(users, pair_users[lo:hi], jobs, pair_jobs[lo:hi])
            flat = torch.sigmoid(model(x))
            out.view(-1)[start * n_jobs + lo : start * n_jobs + lo + len(flat)] = flat
    return out


class _Parts:
    """The additive parts of one side (or of the pair basis), n rows each.

    lin [n]; s [n, D]; q [n]; hidden [n, O]: the first dense layer's pre-activation part
    (O = H1), or the conv head's (O = 1) without the deep tower, with the conv windows
    of this side alone already folded in; mixed [n, M, C]: this side's contribution to
    the M seam windows' pre-activations. None where the model lacks the branch.
    """

    __slots__ = ("hidden", "lin", "mixed", "q", "s")

    def __init__(self, lin, s, q, hidden, mixed):
        self.lin, self.s, self.q, self.hidden, self.mixed = lin, s, q, hidden, mixed


class CatalogScorer:
    """Scores users against a fixed catalog with the job-only work done once.

    Equal to `score_catalog` up to float rounding (tested: max abs diff < 1e-5).
    Usage: `CatalogScorer(model, space, catalog).score(users, user_row[, job_rows])`.
    """

    def __init__(self, model: ConvFM, space: FeatureSpace, jobs: EntityFeatures) -> None:
        model.eval()
        if not model.padding_is_zero():
            raise ValueError("the model's padding rows are not zero; padding must score 0")
        first = model.deep.blocks[0] if model.deep is not None else None
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
            blank = space.blank_users()
            parts = []
            for lo in range(0, len(jobs), PRECOMPUTE_CHUNK):
                rows = torch.arange(lo, min(lo + PRECOMPUTE_CHUNK, len(jobs)))
                x = space.pairs(blank, torch.zeros_like(rows), jobs, rows)
                parts.append(self._parts(x._replace(dense=x.dense * self.job_dense), "job"))
            self.job = _cat(parts) if parts else None
            self.pairs = CatalogPairs(space, jobs)
            self._plan_first_stage()

    # -- precomputation ----------------------------------------------------------------

    def _fold_batch_norms(self) -> None:
        """Eval-mode BatchNorm is per-channel affine (x * a + c): fold the first block's
        into everything that sums into its input (the embedding part of its weight, the
        conv projection, and its bias), and each later block's into its Linear."""
        m = self.model
        self.w1 = None
        if m.deep is None:
            return
        first = m.deep.blocks[0]
        a, c = _affine(first.norm)
        self.w1 = first.linear.weight[:, : self.n_fields * self.dim] * a.unsqueeze(1)
        if m.conv is not None:
            self.conv_out = self.conv_out * a.unsqueeze(1)
        self.hidden_bias = first.linear.bias * a + c
        self.later = []
        for block in m.deep.blocks[1:]:
            a, c = _affine(block.norm)
            self.later.append((block.linear.weight * a.unsqueeze(1),
                               block.linear.bias * a + c, block.residual))

    def _plan_first_stage(self) -> None:
        """Job-only pieces of the first stage (the first-order and FM terms in full):
        with s = S_job + S_user + x P (P [Fp, D]: the pair fields' vectors),
        0.5 (|s|^2 - q) - user-only terms = bias_job + S_job . S_user
        + x . (S_job P^T + P S_user) + 0.5 x (P P^T - diag) x^T; the last two per
        candidate cost O(Fp) and O(Fp^2) instead of passes over [n, D]."""
        job, pair = self.job, self.pair
        if job is None:
            self.first_stage_bias = torch.zeros(0)
            return
        if self.model.fm is None:
            self.first_stage_bias = job.lin
            return
        self.first_stage_bias = job.lin + 0.5 * (job.s.pow(2).sum(1) - job.q)  # [N]
        # S_job over the whole catalog for a shortlist (`first_stage(exact=False)`): int8
        # codes with one scale per job, read in the pass that adds the pair terms (950k
        # jobs on an AMD EPYC without AVX-512: 7.1 against 15.2 ms for a float32 [D, N]
        # copy through torch's BLAS and the pass apart); exact scores read `job.s`
        self.shortlist_codes, self.shortlist_scales = quantize_rows(job.s)
        # only the Fp pair fields among the dense ones: the job-side ones are zero in the
        # pair features (they are in the job's parts); 950k jobs: 7.9-8.1 against
        # 8.7-9.0 ms for the pair terms over all 11. In the order of a PairTable: the
        # A per-job fields first (its rows `pair_table_rows` of `per_job`), then the B
        # setting fields.
        setting = self.pairs.setting_rows
        per_job = [(row, c) for row, c in enumerate(self.pairs.job_columns)
                   if self.pair_columns[c]]
        rows = [row for row, _ in per_job]
        self.pair_table_rows = slice(rows[0], rows[-1] + 1)
        if rows != list(range(rows[0], rows[-1] + 1)):
            raise AssertionError("the per-job pair fields must be consecutive")
        self.pair_order = torch.tensor([c for _, c in per_job]
                                       + list(range(setting.start, setting.stop)))
        if sorted(self.pair_order.tolist()) != self.pair_columns.nonzero().squeeze(1).tolist():
            raise AssertionError("every pair field is a per-job or a setting field")
        pair_s = pair.s[self.pair_order]
        self.pair_job_dots = pair_s @ job.s.T  # [Fp, N]
        gram = pair_s @ pair_s.T
        self.pair_gram = gram - torch.diag(torch.diagonal(gram))  # [Fp, Fp], zero diagonal

    def _plan_conv(self) -> None:
        """Which conv windows are user-only, job-only or across the seam."""
        m = self.model
        if m.conv is None:
            self.mixed_positions = []
            return
        sides = [m.fields[i].side for i in m.conv_fields]
        pad = m.config.conv_kernel_size // 2
        kinds = []
        for p in range(len(sides)):
            window = {sides[q] for q in range(max(0, p - pad), min(len(sides), p + pad + 1))}
            kinds.append(window.pop() if len(window) == 1 else "mixed")
        self.position_kinds = kinds
        self.mixed_positions = [p for p, kind in enumerate(kinds) if kind == "mixed"]
        weight = m.deep.blocks[0].linear.weight[:, self.n_fields * self.dim :] \
            if m.deep is not None else m.conv_head.weight
        self.conv_out = weight / len(sides)  # mean over positions, then the linear map

    def _parts(self, x: ModelInput, side: str | None) -> _Parts:
        """Additive parts of the inputs `x` that fill only `side` ("user" or "job"; None
        for the pair basis, which never reaches the conv)."""
        m = self.model
        emb = m.field_embeddings(x)  # [n, F, D]
        lin = m.first_order(x) - m.bias
        hidden = mixed = None
        if self.w1 is not None:
            hidden = emb.flatten(1) @ self.w1.T
        if m.conv is not None and side is not None:
            stacked = emb.index_select(1, m.conv_index)  # [n, P, D]
            weight, bias = m.conv.conv.weight, m.conv.conv.bias
            pre = F.conv1d(stacked.transpose(1, 2), weight, None,
                           padding=weight.shape[-1] // 2).transpose(1, 2)  # [n, P, C]
            own = [p for p, kind in enumerate(self.position_kinds) if kind == side]
            pooled = F.relu(pre[:, own] + bias).sum(1)  # [n, C]: this side's windows
            projected = pooled @ self.conv_out.T
            hidden = projected if hidden is None else hidden + projected
            mixed = pre[:, self.mixed_positions].contiguous()
        return _Parts(lin, emb.sum(1), emb.pow(2).sum((1, 2)), hidden, mixed)

    def user_parts(self, users: EntityFeatures, user_row: int) -> _Parts:
        """The user's parts (call once per request)."""
        with torch.inference_mode():
            rows = torch.tensor([user_row])
            x = self.space.pairs(users, rows, self.space.blank_users(),
                                 torch.zeros(1, dtype=torch.long), dense=False)
            return self._parts(x, "user")

    # -- scoring -----------------------------------------------------------------------

    def pair_features(self, users: EntityFeatures, user_row: int,
                      job_rows: Tensor | None = None, *, stand_in: bool = False) -> Tensor:
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

    def pair_table(self, users: EntityFeatures, user_row: int, *, stand_in: bool = False
                   ) -> PairTable:
        """`pair_features` of the whole catalog, factored (`PairTable`): what
        `first_stage` reads fastest."""
        with torch.inference_mode():
            return self.pairs.table(users, user_row, pair_only=True, stand_in=stand_in)

    def mend_pairs(self, users: EntityFeatures, user_row: int, job_rows: Tensor,
                   pairs: Tensor) -> Tensor:
        """`pairs` [n, Fd] of `job_rows` from `pair_features(..., stand_in=True)`, with
        the true `history_skill` written in (in place; a gather per row, for a few)."""
        with torch.inference_mode():
            pairs[:, self.history_skill_column] = self.pairs.history_skill(
                users, user_row, job_rows)
            return pairs

    def logits(self, users: EntityFeatures, user_row: int, job_rows: Tensor | None = None,
               user: _Parts | None = None, pairs: Tensor | None = None) -> Tensor:
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
            if m.deep is None:  # conv head only
                hidden = _rows(self.job.hidden, job_rows) + user.hidden
            else:  # every part is already scaled by the first BatchNorm (folded)
                hidden = torch.addmm(_rows(self.job.hidden, job_rows), x, self.pair.hidden)
                hidden += user.hidden + self.hidden_bias
            if m.conv is not None and self.mixed_positions:
                seam = (_rows(self.job.mixed, job_rows) + (user.mixed + m.conv.conv.bias)
                        ).relu_()
                # [n, M, C] summed over the M windows view by view: reducing an axis this
                # short in the middle is ~3x slower (0.58 vs 0.18 ms at 10k candidates)
                hidden.addmm_(functools.reduce(torch.add, seam.unbind(1)), self.conv_out.T)
            if m.deep is None:
                return logit.add_(hidden[:, 0] + m.conv_head.bias)
            h = hidden.relu_()  # eval: dropout = identity
            for weight, bias, residual in self.later:
                out = torch.addmm(bias, h, weight.T).relu_()
                h = out.add_(h) if residual else out
            return logit.add_(m.deep.out(h).squeeze(-1))

    def first_stage(self, users: EntityFeatures, user_row: int,
                    job_rows: Tensor | None = None, user: _Parts | None = None,
                    pairs: Tensor | PairTable | None = None, *, exact: bool = True
                    ) -> Tensor:
        """Cheap scores [n] for two-stage retrieval: the model's first-order and FM
        terms in full (pair fields included), without the conv and deep terms, up to a
        per-user constant. Per candidate one D-dot and O(Fp^2) on the pair features;
        shortlist with it, then `score` the shortlist (reusing `pairs`, [n, Fd], or
        the rows of the whole catalog's `pair_table`).

        `exact=False` (a shortlist over the whole catalog): with a `PairTable`,
        S_job . S_user comes from int8 codes of S_job (`shortlist_codes`), each value
        within half a step of 1/127 of its job's largest."""
        with torch.inference_mode():
            user = user if user is not None else self.user_parts(users, user_row)
            if pairs is None:
                pairs = self.pair_table(users, user_row) if job_rows is None \
                    else self.pair_features(users, user_row, job_rows)
            if isinstance(pairs, PairTable):
                if job_rows is not None:
                    raise ValueError("a PairTable holds the whole catalog: job_rows=None")
                if self.model.fm is not None and len(pairs):
                    return self._first_stage_of_table(users, user_row, user, pairs, exact)
                pairs = pairs.dense()
            x = pairs

            bias = _rows(self.first_stage_bias, job_rows)
            if self.model.fm is None:
                return torch.addmv(bias, x, self.pair.lin)
            u = user.s[0]  # [D]
            if job_rows is None:
                cheap = torch.addmv(bias, self.job.s, u)
                dots = self.pair_job_dots
            else:
                s = self.job.s.index_select(0, job_rows)  # [n, D]
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
                weights = torch.addmm(dots[:, lo:hi], self.pair_gram, xt[:, lo:hi],
                                      alpha=0.5, out=block[:, : hi - lo])
                cheap[lo:hi] += weights.add_(linear).mul_(xt[:, lo:hi]).sum(0)
            return cheap

    def _pair_linear(self, u: Tensor) -> Tensor:
        """[Fp] the pair fields' linear weights against one user (u = S_user [D]): their
        first-order weights plus their vectors dotted with u, in `pair_order`."""
        return (self.pair.lin + self.pair.s @ u)[self.pair_order]

    def _first_stage_of_table(self, users: EntityFeatures, user_row: int, user: _Parts,
                              table: PairTable, exact: bool) -> Tensor:
        """`first_stage` over the whole catalog from a `PairTable`, in one compiled pass
        (`ml.kernels`): the setting fields' terms are formed once per setting, and no
        [Fp, N] intermediate is written (950k jobs: 4.2 ms for the pair terms against
        11-13 ms for the blocked torch products and 4-5 ms for gathering the setting
        fields to every job). Not `exact`: S_job . S_user from the jobs' int8 codes
        (`shortlist_codes`), in the same pass."""
        u = user.s[0]  # [D]
        linear = self._pair_linear(u)
        x = table.per_job[self.pair_table_rows]  # [A, N]
        a, b = slice(0, len(x)), slice(len(x), None)  # per-job, setting fields
        gram = self.pair_gram
        y = table.settings  # [K, B]
        const = y @ linear[b] + 0.5 * ((y @ gram[b, b]) * y).sum(1)  # [K]
        cross = y @ gram[a, b].T  # [K, A]
        pair_terms = (self.first_stage_bias.numpy(), self.pair_job_dots.numpy(), x.numpy(),
                      self.pairs.setting_of.numpy(), y.numpy(), const.numpy(),
                      cross.numpy(), linear[a].contiguous().numpy(),
                      gram[a, a].contiguous().numpy())
        if exact:
            scores = self.job.s @ u
            add_pair_terms(len(x), y.shape[1])(scores.numpy(), *pair_terms)
        else:
            scores = torch.empty(len(table))
            shortlist_scores(len(x), y.shape[1], len(u))(
                scores.numpy(), self.shortlist_codes.numpy(), self.shortlist_scales.numpy(),
                u.numpy(), *pair_terms)
        if len(table.own_rows):  # their history fields are their own, not the setting's
            scores[table.own_rows] = self.first_stage(
                users, user_row, table.own_rows, user, table.rows(table.own_rows),
                exact=exact)
        return scores

    def score(self, users: EntityFeatures, user_row: int, job_rows: Tensor | None = None,
              user: _Parts | None = None, pairs: Tensor | None = None) -> Tensor:
        """Probabilities [n] in [0, 1]."""
        return torch.sigmoid(self.logits(users, user_row, job_rows, user, pairs))

    def score_many(self, users: EntityFeatures, user_rows: Tensor) -> Tensor:
        """Probabilities [U, N] against the whole catalog, one user at a time."""
        if not len(user_rows):
            return torch.empty((0, len(self.jobs)))
        return torch.stack([self.score(users, int(r)) for r in user_rows])


def _cat(parts: list[_Parts]) -> _Parts:
    def cat(name):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else torch.cat(values)

    return _Parts(cat("lin"), cat("s"), cat("q"), cat("hidden"), cat("mixed"))


class CatalogPairs:
    """`dense_features_of_user` against a whole catalog, with the job side prepared once.

    Every per-request pass is O(N) with a small constant, never O(N x H):

    * skills: the catalog lists, for each skill, the jobs that ask for it with their
      count over the job's cosine norm, so the cosine with the user's skills and with
      each of the H history jobs is a sum over the lists of THEIR skills (scaled by the
      other side's norm): work in proportion to the jobs sharing a skill with them,
      not to all (job, skill) pairs (the stand-in's two columns over 95k synthetic
      jobs, 4 users: 0.4-0.9 ms against 0.9-1.1 ms for one sparse [N, V] x [V, 2]
      product, which is kept for columns that reach most of the catalog);
    * places: jobs share few distinct places (cities), so proximities are computed per
      distinct place ([P, 1 + H], float64 unit vectors, haversine from the chord:
      h = |u1 - u2|^2 / 4, km = 2 R asin(sqrt(h))) and gathered per job;
    * city, region, company: codes into the catalog's distinct values, so an equality
      is one comparison of codes and a history share one lookup in the counts of the
      user's history values per code;
    * the seven fields of place, city, region and company (`SETTING_FIELDS`) depend on
      the job through those alone, and jobs share few distinct combinations of them
      (a "setting", 1,152 among 950k synthetic jobs): the fields are computed per
      setting, [K, 7], and kept so (`PairTable`): the first stage forms their terms
      once per setting, and the dense [N, Fd] reaches the jobs by ONE gather of each
      job's setting code, not a pass per field (all pair features of 950k jobs: 22.9
      vs 26.3 ms).

    A history job never counts against itself (leave-one-out, `history_validity`): the
    history features of the few catalog jobs that ARE in the user's history are
    recomputed with their own [k, H] validity and written over. Equal to the reference
    up to float rounding (tested).
    """

    def __init__(self, space: FeatureSpace, jobs: EntityFeatures) -> None:
        self.space, self.jobs = space, jobs
        skills = jobs.skills
        known = skills > UNK
        rows = torch.arange(len(skills)).unsqueeze(1).expand_as(skills)[known]
        self.vocab = len(space.vocabularies["skill"])
        # each job's skill counts over its cosine norm, 1 / sqrt(skill count) (1 for no
        # skill: the overlap is 0 then, as in the reference), listed by skill: the jobs
        # that ask for skill v are skill_jobs[skill_start[v] : skill_start[v + 1]]
        # (ascending), with their normed counts in skill_weights
        self.skill_norm = norm = (skills != PAD).sum(1).clamp(min=1).float().rsqrt()  # [N]
        by_skill = torch.sparse_coo_tensor(
            torch.stack([skills[known], rows]), norm[rows], (self.vocab, len(skills)),
            check_invariants=True).coalesce()
        skill_of, jobs_of = by_skill.indices()
        self.skill_jobs = jobs_of.int()  # int32: a third less memory, added as fast
        self.skill_weights = by_skill.values()
        self.skill_start = torch.searchsorted(skill_of, torch.arange(self.vocab + 1))
        # the same [N, V] by job, as a sparse CSR matrix with int32 indices (which the
        # sparse product would otherwise convert on every call)
        with warnings.catch_warnings():  # "sparse CSR support is in beta": it is tested
            warnings.simplefilter("ignore", UserWarning)
            by_job = by_skill.t().coalesce().to_sparse_csr()
            self.normed_skills = torch.sparse_csr_tensor(
                by_job.crow_indices().int(), by_job.col_indices().int(), by_job.values(),
                by_job.shape)
        # distinct places: [P, 3] float64 unit vectors (a last NaN row for "no place")
        # and each job's row in it, [N]
        located = ~jobs.coords.isnan().any(1)
        places, inverse = torch.unique(jobs.coords[located], dim=0, return_inverse=True)
        self.place_of = torch.full((len(jobs),), len(places), dtype=torch.int32)
        self.place_of[located] = inverse.int()
        self.place_units = unit_vectors(torch.cat([places, torch.full((1, 2), math.nan)]))
        # city, region, company: the distinct values (sorted) and each job's code
        self.values, codes = [], []
        for column in range(jobs.attributes.shape[1]):
            values, code = torch.unique(jobs.attributes[:, column], return_inverse=True)
            self.values.append(values)
            codes.append(code)
        # settings: the distinct (place, city, region, company), their codes [K, 4],
        # and each job's setting [N] (int64: the gather ran faster than with int32)
        self.setting_codes, self.setting_of = torch.unique(
            torch.stack([self.place_of.long(), *codes], 1), dim=0, return_inverse=True)
        self.dense_names = [f.name for f in fields_of("dense")]
        first = self.dense_names.index(SETTING_FIELDS[0])
        if tuple(self.dense_names[first : first + len(SETTING_FIELDS)]) != SETTING_FIELDS:
            raise AssertionError("the setting fields must be consecutive, in this order")
        self.setting_rows = slice(first, first + len(SETTING_FIELDS))
        # the other dense fields depend on the job itself: PairTable.per_job's rows
        self.job_columns = [c for c, name in enumerate(self.dense_names)
                            if name not in SETTING_FIELDS]
        first = self.job_columns.index(self.dense_names.index("skill_match"))
        if self.dense_names[self.job_columns[first + 1]] != "history_skill":
            raise AssertionError("skill_match and history_skill must be consecutive")
        self.job_skill_rows = slice(first, first + 2)  # their rows in PairTable.per_job
        self.sorted_keys, self.key_order = torch.sort(jobs.key)

    def dense(self, users: EntityFeatures, user_row: int, *, pair_only: bool = False,
              stand_in: bool = False) -> Tensor:
        """[N, Fd] dense fields of one user against every catalog job (a transposed view
        of a [Fd, N] tensor: each field is written as one contiguous pass);
        `pair_only`: the job-side fields (`job_remote`) left at zero. `stand_in`: see
        `table`."""
        return self.table(users, user_row, pair_only=pair_only, stand_in=stand_in).dense()

    def table(self, users: EntityFeatures, user_row: int, *, pair_only: bool = False,
              stand_in: bool = False) -> PairTable:
        """The dense fields of one user against every catalog job as a `PairTable`: the
        fields of each job [Fd - 7, N], the setting fields per setting [K, 7].

        `stand_in` (for a first stage): `history_skill` holds the job's overlap with the
        union of the history's skills over sqrt(job size * mean history size) instead of
        its best cosine with one history job: one column instead of one per history
        job, the costliest part for a long history (as one sparse product over 950k
        jobs, 17 columns took 63 ms, 2 columns 6 ms). The jobs kept get their true
        values from `history_skill`. (Over the union's own size, the stand-in lost
        recall@100 at 100k jobs: 0.984 against 0.990 for the true values; this one
        gave 0.989.)
        """
        jobs = self.jobs
        keys = users.history_keys[user_row]  # [H]
        # only the valid history counts (against any job but the history job itself)
        past = keys.nonzero().squeeze(1)  # [h]
        u_skills = users.skills[user_row]
        mine = u_skills[u_skills > UNK]
        wanted = torch.zeros((self.vocab, 1))
        wanted[:, 0].index_add_(0, mine, torch.ones(len(mine)))
        wanted *= (u_skills != PAD).sum().clamp(min=1).float().rsqrt()
        past_wanted = self._history_skills(users, user_row, past)  # [V, h]
        if stand_in and len(past):
            union = (past_wanted > 0).any(1, keepdim=True).float()
            sizes = (users.history_skills[user_row, past] != PAD).sum(1).clamp(min=1).float()
            past_wanted = union * sizes.mean().rsqrt()
        if not len(past):
            past_wanted = torch.zeros((self.vocab, 1))  # history_skill 0
        columns = torch.cat([wanted, past_wanted], 1)  # [V, 1 + h]
        centres = unit_vectors(torch.cat([users.coords[user_row].unsqueeze(0),
                                           users.history_coords[user_row, past]]))
        km = chord_km(self.place_units, centres)
        near = torch.nan_to_num(torch.exp(-km / self.space.config.proximity_scale_km),
                                nan=0.0).float()  # [P + 1, 1 + h]
        history, u_attr = users.history[user_row, past], users.attributes[user_row]

        per_job = torch.empty((len(self.job_columns), len(jobs)))
        column = dict(zip((self.dense_names[c] for c in self.job_columns), per_job,
                          strict=True))
        if pair_only:
            column["job_remote"].zero_()
        else:
            column["job_remote"].copy_(jobs.remote)
        # cosine [1 + h, N]: overlap / sqrt(job size * other size); with one history
        # column (or the stand-in) written straight into skill_match and history_skill
        if columns.shape[1] == 2:
            cosine = self._overlaps(columns, out=per_job[self.job_skill_rows])
        else:
            cosine = self._overlaps(columns)
            column["skill_match"].copy_(cosine[0])
            torch.amax(cosine[1:], dim=0, out=column["history_skill"])
        salary_fit(users.salary[user_row], jobs.salary, out=column["salary_fit"])
        place = self.setting_codes[:, 0]
        setting = {
            "same_city": self._same(0, u_attr[0]),
            "history_city": self._share(0, history[:, 0]),
            "proximity": near[place, 0],
            "history_proximity": near[place, 1:].amax(1) if len(past) else
            torch.zeros(len(place)),
            "same_region": self._same(1, u_attr[1]),
            "history_region": self._share(1, history[:, 1]),
            "history_company": self._share(2, history[:, 2]),
        }
        table = PairTable(self, per_job,
                          torch.stack([setting[name] for name in SETTING_FIELDS], 1))

        own = self._rows_of(keys[past])
        if len(own):  # the user's own history jobs: each leaves itself out
            mine = history_validity(keys[past], jobs.key[own])  # [k, h]

            def best(values: Tensor) -> Tensor:  # [k, h] -> [k]
                return (values * mine).max(dim=1).values

            values = table.rows(own)
            field = {name: values[:, i] for i, name in enumerate(self.dense_names)}
            if not stand_in:
                field["history_skill"].copy_(best(cosine[1:, own].T))
            field["history_proximity"].copy_(best(near[self.place_of[own].long(), 1:]))
            for i, name in enumerate(("history_city", "history_region", "history_company")):
                field[name].copy_(history_share(history[:, i], jobs.attributes[own, i], mine))
            table.own_rows, table.own_values = own, values
        return table

    def history_skill(self, users: EntityFeatures, user_row: int, rows: Tensor) -> Tensor:
        """[n] `history_skill` of catalog `rows` (a few): each job's best skill cosine
        with one of the user's valid history jobs other than itself, by a gather of the
        jobs' skill rows (what `dense` computes for every job)."""
        keys = users.history_keys[user_row]
        past = keys.nonzero().squeeze(1)
        if not len(past):
            return torch.zeros(len(rows))
        wanted = self._history_skills(users, user_row, past)  # [V, h]; PAD, UNK rows 0
        # each job's bag of skill rows summed: [n, h] (embedding_bag: 0.63 vs 1.91 ms for
        # 2,000 rows at 95k jobs by an advanced-index gather and a sum over the bag)
        cosine = F.embedding_bag(self.jobs.skills.index_select(0, rows), wanted, mode="sum")
        cosine *= self.skill_norm.index_select(0, rows).unsqueeze(1)
        valid = history_validity(keys[past], self.jobs.key.index_select(0, rows))
        return (cosine * valid).max(dim=1).values

    def _history_skills(self, users: EntityFeatures, user_row: int, past: Tensor
                        ) -> Tensor:
        """[V, h] the `past` history jobs' known skills (membership), each column over
        the job's cosine norm."""
        skills = users.history_skills[user_row, past]  # [h, L]
        known = skills > UNK
        wanted = torch.zeros((self.vocab, len(past)))
        wanted[skills[known], torch.arange(len(past)).unsqueeze(1).expand_as(skills)[known]] = 1.0
        return wanted * (skills != PAD).sum(1).clamp(min=1).float().rsqrt()

    def _overlaps(self, wanted: Tensor, out: Tensor | None = None) -> Tensor:
        """[c, N] each job's overlap with each column of `wanted` [V, c] (skill weights).

        Summed over the lists of jobs of the skills the columns weigh while they reach
        at most `SKILL_LISTS_SHARE` of all (job, skill) pairs, by one sparse
        [N, V] x [V, c] product past that."""
        skills, columns = wanted.nonzero(as_tuple=True)
        first, end = self.skill_start[skills], self.skill_start[skills + 1]  # list bounds
        if int((end - first).sum()) > SKILL_LISTS_SHARE * len(self.skill_jobs):
            product = torch.sparse.mm(self.normed_skills, wanted).T  # [c, N], a view
            return product if out is None else out.copy_(product)
        if out is None:
            out = torch.empty((wanted.shape[1], len(self.jobs)))
        out.zero_()
        for lo, hi, c, weight in zip(first.tolist(), end.tolist(), columns.tolist(),
                                     wanted[skills, columns].tolist(), strict=True):
            out[c].index_add_(0, self.skill_jobs[lo:hi], self.skill_weights[lo:hi],
                              alpha=weight)
        return out

    def _rows_of(self, keys: Tensor) -> Tensor:
        """Catalog rows of the jobs with these keys (those the catalog has)."""
        if not len(self.jobs):
            return torch.zeros(0, dtype=torch.long)
        at = torch.searchsorted(self.sorted_keys, keys).clamp(max=len(self.jobs) - 1)
        return self.key_order[at[self.sorted_keys[at] == keys]]

    def _code(self, column: int, values: Tensor) -> tuple[Tensor, Tensor]:
        """Codes of attribute `values` [h] in the catalog, and which of them it has."""
        distinct = self.values[column]
        at = torch.searchsorted(distinct, values.contiguous()).clamp(max=len(distinct) - 1)
        return at, (distinct[at] == values) & (values != 0)

    def _setting_codes(self, column: int) -> Tensor:
        """[K] each setting's code of attribute `column` (city, region, company)."""
        return self.setting_codes[:, 1 + column]

    def _same(self, column: int, value: Tensor) -> Tensor:
        """[K] 1.0 for the settings whose attribute `column` is the (known) `value`."""
        codes = self._setting_codes(column)
        code, known = self._code(column, value.reshape(1))
        return (codes == code).float() if bool(known) else torch.zeros(len(codes))

    def _share(self, column: int, past_values: Tensor) -> Tensor:
        """[K] per setting, the share of `past_values` [h] (the user's valid history)
        equal to its attribute `column`; equals `history_share` for jobs not among those
        h history jobs."""
        codes = self._setting_codes(column)
        if not len(past_values):
            return torch.zeros(len(codes))
        code, known = self._code(column, past_values)
        counts = torch.zeros(len(self.values[column]))
        counts.index_add_(0, code[known], torch.ones(int(known.sum())))
        return (counts / len(past_values))[codes]


class PairTable:
    """One user's dense fields against every catalog job (`CatalogPairs.table`),
    factored: the seven setting fields are one row per setting, not per job.

    per_job [Fd - 7, N]: the other fields (`CatalogPairs.job_columns`), each row
    contiguous; settings [K, 7]: the setting fields (`SETTING_FIELDS`) of each setting,
    which reach job j through `setting_of[j]`; own_rows [k] and own_values [k, Fd]: the
    user's own history jobs, whose history fields leave themselves out and so differ
    from their setting's (`dense` and `rows` return these).
    """

    __slots__ = ("own_rows", "own_values", "pairs", "per_job", "settings")

    def __init__(self, pairs: CatalogPairs, per_job: Tensor, settings: Tensor) -> None:
        self.pairs, self.per_job, self.settings = pairs, per_job, settings
        self.own_rows = torch.zeros(0, dtype=torch.long)
        self.own_values = torch.zeros((0, len(pairs.dense_names)))

    def __len__(self) -> int:
        return self.per_job.shape[1]

    def dense(self) -> Tensor:
        """[N, Fd], a transposed view of a [Fd, N] tensor (each field contiguous)."""
        pairs = self.pairs
        out = torch.empty((len(pairs.dense_names), len(self)))
        out.index_copy_(0, torch.tensor(pairs.job_columns), self.per_job)
        torch.index_select(self.settings.T.contiguous(), 1, pairs.setting_of,
                           out=out[pairs.setting_rows])
        out = out.T
        out[self.own_rows] = self.own_values
        return out

    def rows(self, job_rows: Tensor) -> Tensor:
        """[n, Fd] of the catalog `job_rows`."""
        pairs = self.pairs
        out = torch.empty((len(job_rows), len(pairs.dense_names)))
        out[:, pairs.job_columns] = self.per_job[:, job_rows].T
        out[:, pairs.setting_rows] = self.settings[pairs.setting_of[job_rows]]
        if len(self.own_rows):
            at = torch.isin(job_rows, self.own_rows).nonzero().squeeze(1)
            hit, own = (job_rows[at].unsqueeze(1) == self.own_rows).nonzero(as_tuple=True)
            out[at[hit]] = self.own_values[own]
        return out


def _rows(values: Tensor, job_rows: Tensor | None) -> Tensor:
    """The catalog `job_rows` of per-job `values` (first axis), or all of them."""
    return values if job_rows is None else values.index_select(0, job_rows)


def _affine(norm: torch.nn.BatchNorm1d) -> tuple[Tensor, Tensor]:
    """(a, c) with norm(x) == x * a + c in eval mode."""
    a = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return a, norm.bias - norm.running_mean * a
