"""The model's fields, why they sit where they do, and the model input they make.

The model sees 21 fields per (user, job) pair, in this order (`FIELDS`):

    user side:  user_company, user_region, user_city, user_skills, user
    job side:   job, job_skills, job_city, job_region, job_company, job_remote
    pair:       skill_match, history_skill, same_city, history_city, proximity,
                history_proximity, same_region, history_region, history_company,
                salary_fit

* Skills, city, region and company appear on BOTH sides and the two sides share one
  embedding table per vocabulary. A user and a job with the same city then have the
  same city vector, and the FM term's inner product <v_user_city, v_job_city> becomes a
  learned "same place" bonus that also generalises to cities with few interactions;
  the same holds for skills (mean-pooled bags) and companies. This is what lets the
  service match a user's skills, place and company, resolved from the store, to a job's.
* The ids (user, job) can carry collaborative signal (`id_embeddings`, off by default:
  on sparse real data they memorise; with it off both id fields are always <unk>). Ids
  with fewer than `min_id_count` training positives, and a random `id_dropout` share of
  training rows, map to <unk>, so the model also learns to score a cold job or a cold
  user from content alone.
* Pair fields are dense values computed from both sides: skill overlap (cosine of the
  two skill sets), same city, same region, proximity (exp(-km / scale), 0 when either
  side has no coordinates) and salary fit. Explicit match signals are learnt from far
  fewer examples than embedding inner products; each enters the model as x * v_f.
* History fields match the job against the jobs the user liked before (their
  `UserRecord.history`): the share of those in the job's city, region and company, and
  the highest skill overlap and the highest proximity to one of them. A job never counts
  as its own history (its key is excluded), so a training positive sees the same
  feature it would see as an unseen candidate, and nothing leaks from a label into its
  features.
* The Conv1d runs over the user and job fields (`conv_fields`): the user side mirrored,
  then the job side, so that like fields face each other across the seam (the ids and
  skills meet in the middle) and each window mixes neighbouring fields of one side or,
  at the seam, of both. Pair fields, already interactions, enter the linear, FM and deep
  terms but not the convolution: that keeps every convolution window away from values
  that change per candidate except at the seam, which is what lets `ml.scoring`
  precompute the job side once per catalog (see there).

Every vocabulary keeps index 0 for padding and 1 for unknown (`ml.vocab`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from ml.vocab import PAD

FieldKind = Literal["categorical", "bag", "dense"]
FieldSide = Literal["user", "job", "pair"]


@dataclass(frozen=True, slots=True)
class Field:
    """One model field: `kind` says how it is embedded, `vocab` which table it uses,
    `side` whose data it depends on (a scorer precomputes the job side once)."""

    name: str
    kind: FieldKind
    side: FieldSide
    vocab: str | None = None


FIELDS: tuple[Field, ...] = (
    Field("user_company", "categorical", "user", "company"),
    Field("user_region", "categorical", "user", "region"),
    Field("user_city", "categorical", "user", "city"),
    Field("user_skills", "bag", "user", "skill"),
    Field("user", "categorical", "user", "user"),
    Field("job", "categorical", "job", "job"),
    Field("job_skills", "bag", "job", "skill"),
    Field("job_city", "categorical", "job", "city"),
    Field("job_region", "categorical", "job", "region"),
    Field("job_company", "categorical", "job", "company"),
    Field("job_remote", "dense", "job"),
    Field("skill_match", "dense", "pair"),
    Field("history_skill", "dense", "pair"),
    Field("same_city", "dense", "pair"),
    Field("history_city", "dense", "pair"),
    Field("proximity", "dense", "pair"),
    Field("history_proximity", "dense", "pair"),
    Field("same_region", "dense", "pair"),
    Field("history_region", "dense", "pair"),
    Field("history_company", "dense", "pair"),
    Field("salary_fit", "dense", "pair"),
)
VOCABULARIES = ("user", "job", "skill", "city", "region", "company")
# Columns of EntityFeatures.categorical, the same for users and jobs.
ENTITY_COLUMNS = ("id", "city", "region", "company")
# categorical field -> its column in its side's EntityFeatures.categorical
CATEGORICAL_COLUMN = {
    f.name: ENTITY_COLUMNS.index("id" if f.name in ("user", "job") else f.name.split("_")[1])
    for f in FIELDS
    if f.kind == "categorical"
}


def fields_of(kind: FieldKind) -> tuple[Field, ...]:
    """The fields of one kind, in `FIELDS` order (Fc, Fb or Fd of them)."""
    return tuple(f for f in FIELDS if f.kind == kind)


class ModelInput(NamedTuple):
    """A batch of B (user, job) pairs, fields of each kind in `FIELDS` order.

    categorical: [B, Fc] int64, one vocabulary row per categorical field
    bags:        [B, Fb, L] int64, padded with 0
    dense:       [B, Fd] float32
    """

    categorical: Tensor
    bags: Tensor
    dense: Tensor

    @property
    def rows(self) -> int:
        """B, the number of pairs."""
        return self.categorical.shape[0]


def longest_bag(rows: Tensor) -> int:
    """Length of the longest bag in [B, L] rows (bags are left-packed, 0-padded)."""
    return int((rows != PAD).sum(1).max()) if rows.shape[0] else 0


def fit_width(rows: Tensor, width: int) -> Tensor:
    """[B, L] bag rows cut or zero-padded to [B, width]."""
    if rows.shape[1] >= width:
        return rows[:, :width]
    return torch.nn.functional.pad(rows, (0, width - rows.shape[1]))
