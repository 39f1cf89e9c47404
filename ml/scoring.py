"""Scoring users against a catalog: the reference forward and the fast catalog scorer.

`CatalogScorer` is an exact algebraic rewrite of `ConvFM.forward` (eval mode) that
splits every term into a user part, a job part and a dense (per-pair) part:

* E = E_user + E_job + sum_f x_f * V_f, where E_user has the user-side field rows,
  E_job the job-side rows (zeros elsewhere) and V_f is dense field f's vector placed at
  its position. Everything below is linear in E up to the first non-linearity:
* first order: lin(E_user) + lin(E_job) + x . w_dense + bias
* FM: with S = sum over fields and Q = sum of squared norms (both additive over the
  parts, and a dense field contributes x_f^2 * |v_f|^2 to Q),
  FM = 0.5 * (|S|^2 - Q)
* conv pre-activation [F, C]: conv(E_user) + conv(E_job) + x @ conv(V) + b, then ReLU
  and mean over F
* first dense layer: W1_E . flatten(E) is additive over the parts too; the conv
  features enter through W1_conv.

Per catalog version the job parts are computed once ([N, D], [N], [N, F, C], [N, H1]);
per request the user parts once; per candidate only the dense features, a few small
matrix products and the deep tower's later layers remain.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ml.features import EntityFeatures, FeatureSpace, ModelInput
from ml.model import ConvFM

PRECOMPUTE_CHUNK = 8192  # jobs per block when precomputing (bounds peak memory)


@torch.inference_mode()
def score_catalog(
    model: ConvFM,
    space: FeatureSpace,
    users: EntityFeatures,
    user_rows: Tensor,
    jobs: EntityFeatures,
    *,
    max_pairs: int = 65536,
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
    """The additive parts of one side: lin [n], S [n, D], Q [n], conv [n, F, C],
    hidden [n, H1] (None where the model lacks that branch)."""

    __slots__ = ("conv", "hidden", "lin", "q", "s")

    def __init__(self, lin, s, q, conv, hidden):
        self.lin, self.s, self.q, self.conv, self.hidden = lin, s, q, conv, hidden

    def take(self, rows: Tensor) -> _Parts:
        def pick(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[rows]

        return _Parts(pick(self.lin), pick(self.s), pick(self.q), pick(self.conv),
                      pick(self.hidden))


class CatalogScorer:
    """Scores users against a fixed catalog with the job-only work done once.

    Equal to `score_catalog` up to float rounding (tested: max abs diff < 1e-5).

    >>> # scorer = CatalogScorer(model, space, catalog); scorer.score(users, row)
    """

    def __init__(self, model: ConvFM, space: FeatureSpace, jobs: EntityFeatures) -> None:
        model.eval()
        self.model, self.space, self.jobs = model, space, jobs
        m = model
        self.n_fields = len(m.fields)
        self.dim = m.config.embedding_dim
        if not m.padding_is_zero():
            raise ValueError("the model's padding rows are not zero; padding must score 0")
        first = m.deep.blocks[0] if m.deep is not None else None
        if first is not None and first.residual:
            raise ValueError("CatalogScorer needs hidden_dims[0] != the deep input width")
        with torch.inference_mode():
            n_dense = m.dense_weights.shape[0]
            basis = ModelInput(
                torch.zeros((n_dense, len(m.categorical)), dtype=torch.long),
                torch.zeros((n_dense, len(m.bags), 1), dtype=torch.long),
                torch.eye(n_dense),
            )
            self.dense = self._parts(basis)  # per unit of each dense value
            self.dense.lin = m.dense_weights.detach().clone()
            blank = space.blank_users()
            parts = []
            for lo in range(0, len(jobs), PRECOMPUTE_CHUNK):
                rows = torch.arange(lo, min(lo + PRECOMPUTE_CHUNK, len(jobs)))
                x = space.pairs(blank, torch.zeros_like(rows), jobs, rows)
                parts.append(self._parts(x._replace(dense=torch.zeros_like(x.dense))))
            self.job = _cat(parts) if parts else None

    # -- precomputation ----------------------------------------------------------------

    def _parts(self, x: ModelInput) -> _Parts:
        """Additive parts of the inputs `x` (one side filled, the rest padding)."""
        m = self.model
        emb = m.field_embeddings(x)  # [n, F, D]
        lin = m.first_order(x) - m.bias
        conv = hidden = None
        if m.conv is not None:
            weight = m.conv.conv.weight
            conv = F.conv1d(emb.transpose(1, 2), weight, None,
                            padding=weight.shape[-1] // 2).transpose(1, 2).contiguous()
        if m.deep is not None:
            w1 = m.deep.blocks[0].linear.weight[:, : self.n_fields * self.dim]
            hidden = emb.flatten(1) @ w1.T
        return _Parts(lin, emb.sum(1), emb.pow(2).sum((1, 2)), conv, hidden)

    def user_parts(self, users: EntityFeatures, user_row: int) -> _Parts:
        """The user's parts (call once per request)."""
        with torch.inference_mode():
            rows = torch.tensor([user_row])
            x = self.space.pairs(users, rows, self.jobs.take([0]) if len(self.jobs) else
                                 self.space.blank_users(), torch.zeros(1, dtype=torch.long))
            job_cols = [i for i, f in enumerate(self.model.categorical) if f.side == "job"]
            categorical = x.categorical.clone()
            categorical[:, job_cols] = 0
            bags = x.bags.clone()
            bags[:, [i for i, f in enumerate(self.model.bags) if f.side == "job"]] = 0
            return self._parts(ModelInput(categorical, bags, torch.zeros_like(x.dense)))

    # -- scoring -----------------------------------------------------------------------

    def logits(self, users: EntityFeatures, user_row: int,
               job_rows: Tensor | None = None) -> Tensor:
        """Logits [n] of one user against `job_rows` (default: the whole catalog)."""
        m = self.model
        with torch.inference_mode():
            user = self.user_parts(users, user_row)
            job = self.job if job_rows is None else self.job.take(job_rows)
            rows = job_rows if job_rows is not None else torch.arange(len(self.jobs))
            n = len(rows)
            x = self.space.dense_features(users, torch.full((n,), user_row), self.jobs, rows)
            dense = self.dense
            logit = m.bias + user.lin + job.lin + x @ dense.lin
            if m.fm is not None:
                s = user.s + job.s + x @ dense.s
                q = user.q + job.q + x.pow(2) @ dense.q
                logit = logit + 0.5 * (s.pow(2).sum(1) - q)
            conv = None
            if m.conv is not None:
                pre = (job.conv + user.conv + (x @ dense.conv.flatten(1)).view_as(job.conv)
                       + m.conv.conv.bias)
                conv = F.relu(pre).mean(1)  # [n, C]
            if m.deep is not None:
                first = m.deep.blocks[0]
                hidden = job.hidden + user.hidden + x @ dense.hidden + first.linear.bias
                if conv is not None:
                    w1_conv = first.linear.weight[:, self.n_fields * self.dim :]
                    hidden = hidden + conv @ w1_conv.T
                h = F.relu(first.norm(hidden))  # eval: dropout is the identity
                logit = logit + m.deep.out(m.deep.blocks[1:](h)).squeeze(-1)
            elif m.conv_head is not None:
                logit = logit + m.conv_head(conv).squeeze(-1)
            return logit

    def score(self, users: EntityFeatures, user_row: int,
              job_rows: Tensor | None = None) -> Tensor:
        """Probabilities [n] in [0, 1]."""
        return torch.sigmoid(self.logits(users, user_row, job_rows))

    def score_many(self, users: EntityFeatures, user_rows: Tensor) -> Tensor:
        """Probabilities [U, N] against the whole catalog, one user at a time."""
        return torch.stack([self.score(users, int(r)) for r in user_rows]) if len(user_rows) \
            else torch.empty((0, len(self.jobs)))


def _cat(parts: list[_Parts]) -> _Parts:
    def cat(name):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else torch.cat(values)

    return _Parts(cat("lin"), cat("s"), cat("q"), cat("conv"), cat("hidden"))
