"""Scoring users against a catalog: the reference forward and the fast catalog scorer.

`CatalogScorer` is an exact algebraic rewrite of `ConvFM.forward` (eval mode) that splits
every term into a user part, a job part and a pair part (the dense pair fields x):

* E = E_user + E_job + sum_f x_f * V_f, where E_user holds the user-side field rows,
  E_job the job-side rows (zeros elsewhere) and V_f is pair field f's vector at its
  position. Up to the first non-linearity every term is linear in E:
* first order: lin(E_user) + lin(E_job) + x . w_pair + bias
* FM: with S = sum over fields and Q = sum of squared norms (both additive over the
  parts; a pair field adds x_f^2 * |v_f|^2 to Q): FM = 0.5 * (|S|^2 - Q)
* first dense layer: W1_E . flatten(E) is additive too; the conv features enter through
  W1_conv (or the conv head without the deep tower).
* conv: it runs over the user and job fields only, user side first. A window wholly on
  the user side has the same value for every candidate (computed once per request,
  ReLU included); a window wholly on the job side depends on the job alone (computed
  once per catalog, ReLU included, and folded through W1_conv into the job's part of
  the first layer). Only the k - 1 windows across the seam mix both sides; their
  pre-activations are sums of a precomputed job part and a user part, and only they
  need a ReLU per candidate.

Per candidate this leaves: the dense pair features, a [Fp x D] and [Fp x H1] product,
(k - 1) x C additions and ReLUs, a [C x H1] product, and the deep tower's later layers.
"""

from __future__ import annotations

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
    salary_fit,
    same_key,
    stack_dense,
)
from ml.model import ConvFM
from ml.vocab import PAD, UNK

PRECOMPUTE_CHUNK = 8192  # jobs per block when precomputing (bounds peak memory)
EARTH_RADIUS_KM = 6371.0088
WHOLE_CATALOG_SHARE = 0.25  # above this share of the catalog, pair features use CatalogPairs


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

    def take(self, rows: Tensor) -> _Parts:
        def pick(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[rows]

        return _Parts(pick(self.lin), pick(self.s), pick(self.q), pick(self.hidden),
                      pick(self.mixed))


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
            # first stage of two-stage retrieval: job-only terms + <S_user, S_job>
            self.first_stage_bias = (self.job.lin + 0.5 * (self.job.s.pow(2).sum(1)
                                                           - self.job.q)
                                     if self.job is not None else torch.zeros(0))

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
                                 torch.zeros(1, dtype=torch.long))
            return self._parts(x._replace(dense=torch.zeros_like(x.dense)), "user")

    # -- scoring -----------------------------------------------------------------------

    def logits(self, users: EntityFeatures, user_row: int, job_rows: Tensor | None = None,
               user: _Parts | None = None) -> Tensor:
        """Logits [n] of one user against `job_rows` (default: the whole catalog).
        `user`: the user's parts when the caller already has them (`user_parts`)."""
        m = self.model
        with torch.inference_mode():
            user = user if user is not None else self.user_parts(users, user_row)
            job = self.job if job_rows is None else self.job.take(job_rows)
            if job_rows is None or len(job_rows) > WHOLE_CATALOG_SHARE * len(self.jobs):
                x = self.pairs.dense(users, user_row)
                x = x if job_rows is None else x[job_rows]
            else:
                x = dense_features_of_user(self.space, users, user_row, self.jobs, job_rows)
            x = x * self.pair_columns  # job-side dense values are in the job's parts
            pair = self.pair
            logit = torch.addmv(job.lin, x, pair.lin).add_(m.bias + user.lin)
            if m.fm is not None:
                s = torch.addmm(job.s, x, pair.s).add_(user.s)
                q = torch.addmv(job.q, x.pow(2), pair.q).add_(user.q)
                logit += 0.5 * (s.pow_(2).sum(1) - q)
            if m.deep is None and m.conv is None:
                return logit
            if m.deep is None:  # conv head only
                hidden = job.hidden + user.hidden
            else:  # every part is already scaled by the first BatchNorm (folded)
                hidden = job.hidden + (user.hidden + self.hidden_bias)
                hidden.addmm_(x, pair.hidden)
            if m.conv is not None and self.mixed_positions:
                seam = job.mixed + (user.mixed + m.conv.conv.bias)  # [n, M, C]
                hidden.addmm_(seam.relu_().sum(1), self.conv_out.T)
            if m.deep is None:
                return logit + hidden[:, 0] + m.conv_head.bias
            h = hidden.relu_()  # eval: dropout = identity
            for weight, bias, residual in self.later:
                out = torch.addmm(bias, h, weight.T).relu_()
                h = out.add_(h) if residual else out
            return logit + m.deep.out(h).squeeze(-1)

    def first_stage(self, users: EntityFeatures, user_row: int,
                    job_rows: Tensor | None = None, user: _Parts | None = None) -> Tensor:
        """Cheap scores [n] for two-stage retrieval: the model's first-order and FM terms
        without the pair fields, i.e. job-only terms + <S_user, S_job>, one [n x D]
        matrix-vector product. Ranks like the full logit up to the pair, conv-seam and
        deep terms; use it to shortlist candidates for `score`."""
        with torch.inference_mode():
            user = user if user is not None else self.user_parts(users, user_row)
            if job_rows is None:
                return torch.addmv(self.first_stage_bias, self.job.s, user.s[0])
            return torch.addmv(self.first_stage_bias[job_rows], self.job.s[job_rows],
                               user.s[0])

    def score(self, users: EntityFeatures, user_row: int, job_rows: Tensor | None = None,
              user: _Parts | None = None) -> Tensor:
        """Probabilities [n] in [0, 1]."""
        return torch.sigmoid(self.logits(users, user_row, job_rows, user))

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

    * skills: the catalog is a sparse [N, V] count matrix, so the overlap with the user's
      skills and with each of the H history jobs is ONE sparse [N, V] x [V, 1 + H] product;
    * places: jobs share few distinct places (cities), so proximities are computed per
      distinct place ([P, 1 + H], float64 unit vectors, haversine from the chord:
      h = |u1 - u2|^2 / 4, km = 2 R asin(sqrt(h))) and gathered per job;
    * history shares: the counts of each attribute value among the user's history jobs,
      looked up per job by binary search.

    A history job never counts against itself (leave-one-out, `history_validity`): the
    few catalog jobs that ARE in the user's history are recomputed by the reference
    `dense_features_of_user` and written over. Equal to the reference up to float
    rounding (tested through the scorer).
    """

    def __init__(self, space: FeatureSpace, jobs: EntityFeatures) -> None:
        self.space, self.jobs = space, jobs
        skills = jobs.skills
        known = skills > UNK
        rows = torch.arange(len(skills)).unsqueeze(1).expand_as(skills)[known]
        self.vocab = len(space.vocabularies["skill"])
        with warnings.catch_warnings():  # "sparse CSR support is in beta": it is tested
            warnings.simplefilter("ignore", UserWarning)
            self.skill_counts = torch.sparse_coo_tensor(
                torch.stack([rows, skills[known]]), torch.ones(len(rows)),
                (len(skills), self.vocab), check_invariants=True).coalesce().to_sparse_csr()
        self.skill_sizes = (skills != PAD).sum(1).float()  # [N]
        # distinct places: [P, 3] float64 unit vectors (a last NaN row for "no place")
        # and each job's row in it, [N]
        located = ~jobs.coords.isnan().any(1)
        places, inverse = torch.unique(jobs.coords[located], dim=0, return_inverse=True)
        self.place_of = torch.full((len(jobs),), len(places), dtype=torch.long)
        self.place_of[located] = inverse
        self.place_units = _unit_vectors(torch.cat([places, torch.full((1, 2), math.nan)]))

    def dense(self, users: EntityFeatures, user_row: int) -> Tensor:
        """[N, Fd] dense fields of one user against every catalog job."""
        jobs, n = self.jobs, len(self.jobs)
        u_skills, past = users.skills[user_row], users.history_skills[user_row]  # [L], [H, L]
        keys = users.history_keys[user_row]  # [H]
        valid = keys != 0  # [H]: against any job but the history job itself
        wanted = torch.zeros((self.vocab, 1 + len(keys)))
        mine = u_skills[u_skills > UNK]
        wanted[:, 0].index_add_(0, mine, torch.ones(len(mine)))
        for h in range(len(keys)):
            wanted[past[h][past[h] > UNK], 1 + h] = 1.0  # membership, as the reference
        common = torch.sparse.mm(self.skill_counts, wanted)  # [N, 1 + H]
        sizes = torch.cat([(u_skills != PAD).sum().reshape(1), (past != PAD).sum(1)]).float()
        cosine = common / (self.skill_sizes.unsqueeze(1) * sizes).clamp(min=1).sqrt()

        centres = _unit_vectors(torch.cat([users.coords[user_row].unsqueeze(0),
                                           users.history_coords[user_row]]))  # [1 + H, 3]
        chord2 = (self.place_units.unsqueeze(1) - centres.unsqueeze(0)).pow(2).sum(-1)
        km = 2 * EARTH_RADIUS_KM * torch.asin((chord2 / 4).clamp(0, 1).sqrt())
        near = torch.nan_to_num(torch.exp(-km / self.space.config.proximity_scale_km),
                                nan=0.0).float()  # [P + 1, 1 + H]
        history, j_attr = users.history[user_row], jobs.attributes
        u_attr = users.attributes[user_row]

        def best(values: Tensor) -> Tensor:  # [n, H] -> [n], over valid history only
            return (values * valid).max(dim=1).values if len(keys) else \
                torch.zeros(len(values))

        dense = stack_dense({
            "job_remote": jobs.remote,
            "skill_match": cosine[:, 0],
            "history_skill": best(cosine[:, 1:]),
            "same_city": same_key(u_attr[0].expand(n), j_attr[:, 0]),
            "history_city": _share(history[valid, 0], j_attr[:, 0]),
            "proximity": near[self.place_of, 0],
            "history_proximity": best(near[:, 1:])[self.place_of],
            "same_region": same_key(u_attr[1].expand(n), j_attr[:, 1]),
            "history_region": _share(history[valid, 1], j_attr[:, 1]),
            "history_company": _share(history[valid, 2], j_attr[:, 2]),
            "salary_fit": salary_fit(users.salary[user_row].expand(n), jobs.salary),
        })
        own = torch.isin(jobs.key, keys[valid]).nonzero().squeeze(1)
        if len(own):  # the user's history jobs: leave-one-out, by the reference
            dense[own] = dense_features_of_user(self.space, users, user_row, jobs, own)
        return dense


def _share(past_values: Tensor, job_values: Tensor) -> Tensor:
    """Share of the values `past_values` [h] equal to each job's known value: [n] -> [n].
    Equals `history_share` for jobs that are not themselves among the h history jobs."""
    if not len(past_values):
        return torch.zeros(len(job_values))
    distinct, counts = torch.unique(past_values, return_counts=True)  # sorted
    at = torch.searchsorted(distinct, job_values.contiguous()).clamp(max=len(distinct) - 1)
    hit = (distinct[at] == job_values) & (job_values != 0)
    return torch.where(hit, counts[at].float() / len(past_values), 0.0)


def _affine(norm: torch.nn.BatchNorm1d) -> tuple[Tensor, Tensor]:
    """(a, c) with norm(x) == x * a + c in eval mode."""
    a = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return a, norm.bias - norm.running_mean * a


def _unit_vectors(coords: Tensor) -> Tensor:
    """[n, 2] lat/lon degrees -> [n, 3] unit vectors in float64 (NaN stays NaN)."""
    lat, lon = torch.deg2rad(coords.double()).unbind(1)
    return torch.stack([lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()], dim=1)
