"""Users and jobs encoded as tensors, one row each: vocabulary rows for the embeddings,
and the raw values (hashes, coordinates, salaries, history) the pair features compare."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from ml.features.fields import ENTITY_COLUMNS
from ml.locations import Place
from ml.text import name_key
from ml.vocab import PAD, UNK, Vocabulary


@dataclass(frozen=True)
class EntityFeatures:
    """Encoded users or jobs, one row each (N rows).

    categorical: [N, 4] int64, columns `ENTITY_COLUMNS` (id, city, region, company)
    skills:      [N, L] int64, skill rows padded with 0
    coords:      [N, 2] float32, latitude/longitude in degrees, NaN when unknown
    salary:      [N] float32, US dollars per year, NaN when unknown (users: desired;
                 jobs: upper bound of the posted range)
    remote:      [N] float32, 1.0 for remote jobs
    key:         [N] int64, a stable non-zero hash of the id (jobs: excludes a job from
                 its own history)
    attributes:  [N, 3] int64, stable hashes of the city, region and company (0 = none):
                 what the pair fields compare, so a value too rare for a vocabulary
                 (<unk> there) still matches
    history:     [N, H, 3] int64, the attributes of the H most recent jobs in the user's
                 history (0 = none; jobs have H = 0)
    history_skills: [N, H, L] int64, their skill rows
    history_coords: [N, H, 2] float32, their latitude/longitude (NaN unknown)
    history_keys:   [N, H] int64, their keys (0 = no job)
    """

    ids: Sequence[str]  # a tuple, or a snapshot's TextArray
    categorical: Tensor
    skills: Tensor
    coords: Tensor
    salary: Tensor
    remote: Tensor
    key: Tensor
    attributes: Tensor
    history: Tensor
    history_skills: Tensor
    history_coords: Tensor
    history_keys: Tensor

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows: Tensor | Sequence[int] | npt.NDArray[np.integer[Any]]) -> EntityFeatures:
        """The rows `rows` [n], in that order."""
        index = torch.as_tensor(rows, dtype=torch.long)
        return EntityFeatures(
            ids=tuple(self.ids[i] for i in index.tolist()),
            **{name: getattr(self, name)[index] for name in TENSOR_FIELDS},
        )

    def arrays(self) -> dict[str, Tensor]:
        """The tensors by field name (`from_arrays` takes them back)."""
        return {name: getattr(self, name) for name in TENSOR_FIELDS}

    @staticmethod
    def from_arrays(ids: Sequence[str], arrays: Mapping[str, Tensor]) -> EntityFeatures:
        return EntityFeatures(ids=ids, **{name: arrays[name] for name in TENSOR_FIELDS})

    @staticmethod
    def cat(parts: Sequence[EntityFeatures]) -> EntityFeatures:
        """The rows of `parts`, in order (encoded by the same `FeatureSpace`)."""
        return EntityFeatures(
            ids=tuple(i for part in parts for i in part.ids),
            **{name: torch.cat([getattr(part, name) for part in parts]) for name in TENSOR_FIELDS},
        )

    @staticmethod
    def blank(n: int = 1) -> EntityFeatures:
        """n rows with nothing known: every categorical and bag row is padding."""
        return EntityFeatures(
            ids=("",) * n,
            categorical=torch.zeros((n, len(ENTITY_COLUMNS)), dtype=torch.long),
            skills=torch.zeros((n, 1), dtype=torch.long),
            coords=torch.full((n, 2), math.nan),
            salary=torch.full((n,), math.nan),
            remote=torch.zeros(n),
            key=torch.zeros(n, dtype=torch.long),
            attributes=torch.zeros((n, 3), dtype=torch.long),
            history=torch.zeros((n, 0, 3), dtype=torch.long),
            history_skills=torch.zeros((n, 0, 1), dtype=torch.long),
            history_coords=torch.zeros((n, 0, 2)),
            history_keys=torch.zeros((n, 0), dtype=torch.long),
        )


TENSOR_FIELDS = (
    "categorical",
    "skills",
    "coords",
    "salary",
    "remote",
    "key",
    "attributes",
    "history",
    "history_skills",
    "history_coords",
    "history_keys",
)


def id_key(external_id: str) -> int:
    """A stable, non-zero 63-bit hash of an id (0 means "no job" in history_keys)."""
    digest = hashlib.blake2b(str(external_id).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "little") >> 1) or 1


def encode_entities(
    vocabularies: Mapping[str, Vocabulary],
    max_skills: int,
    *,
    ids: Sequence[str],
    id_vocab: str,
    places: Sequence[Place | None],
    companies: Sequence[str | None],
    skills: Sequence[Sequence[str]],
    salary: Sequence[float | None],
    remote: Sequence[bool],
) -> EntityFeatures:
    """Users or jobs (`id_vocab` "user" or "job"), given column by column, one value per
    entity in each; no history (H = 0: `with_history` adds it)."""
    v = vocabularies
    n = len(ids)
    # plain Python rows, turned into tensors once per column: a tensor write per row
    # would dominate the start-up of a large catalog
    categorical, attributes, skill_rows = [], [], []
    coords: list[tuple[float, float]] = []
    for ext_id, place, company, names in zip(ids, places, companies, skills, strict=True):
        city_key = place.city_key if place is not None else None
        region_key = place.region_key if place is not None else None
        company_key = name_key(company) if company else None
        lat, lon = (place.latitude, place.longitude) if place is not None else (None, None)
        coords.append((lat, lon) if lat is not None and lon is not None else (math.nan,) * 2)
        categorical.append(
            (
                v[id_vocab].index(str(ext_id)),
                v["city"].index(city_key),
                v["region"].index(region_key),
                v["company"].index(company_key),
            )
        )
        attributes.append([id_key(k) if k else 0 for k in (city_key, region_key, company_key)])
        encoded = [v["skill"].index(s) for s in names]
        # Known skills first (they carry learned meaning), then unknown ones.
        encoded = sorted(encoded, key=lambda i: i == UNK)[:max_skills]
        skill_rows.append(encoded + [PAD] * (max_skills - len(encoded)))
    return EntityFeatures(
        ids=tuple(str(i) for i in ids),
        categorical=torch.tensor(categorical, dtype=torch.long).reshape(n, len(ENTITY_COLUMNS)),
        skills=torch.tensor(skill_rows, dtype=torch.long).reshape(n, max_skills),
        coords=torch.tensor(coords, dtype=torch.float32).reshape(n, 2),
        salary=torch.tensor([math.nan if s is None else s for s in salary], dtype=torch.float32),
        remote=torch.tensor(remote, dtype=torch.float32),
        key=torch.tensor([id_key(i) for i in ids], dtype=torch.long),
        attributes=torch.tensor(attributes, dtype=torch.long).reshape(n, 3),
        history=torch.zeros((n, 0, 3), dtype=torch.long),
        history_skills=torch.zeros((n, 0, 1), dtype=torch.long),
        history_coords=torch.zeros((n, 0, 2)),
        history_keys=torch.zeros((n, 0), dtype=torch.long),
    )


def with_history(users: EntityFeatures, past: EntityFeatures, rows: Tensor) -> EntityFeatures:
    """`users` with their history: rows [N, H] int64, the rows of `past` (encoded jobs)
    that each user's H history slots hold, -1 for an empty slot."""
    present = (rows >= 0).unsqueeze(-1)
    safe = rows.clamp(min=0)
    return replace(
        users,
        history=past.attributes[safe] * present,
        history_skills=past.skills[safe] * present,
        history_coords=torch.where(present, past.coords[safe], math.nan),
        history_keys=past.key[safe] * present.squeeze(-1),
    )


@dataclass(frozen=True)
class UserSnapshots:
    """Users as of given moments: row s is user `owner[s]` of `users` with the history
    `rows[s]` ([S, H] job rows of `past`, -1 for an empty slot), built a batch at a time
    (`take`) so S snapshots cost S * H integers, not S copies of a history."""

    users: EntityFeatures
    owner: Tensor  # [S] int64 rows of `users`
    past: EntityFeatures
    rows: Tensor  # [S, H] int64

    def __len__(self) -> int:
        return len(self.owner)

    def take(self, rows: Tensor | Sequence[int] | npt.NDArray[np.integer[Any]]) -> EntityFeatures:
        """The snapshots `rows` [n] as users with their history, in that order."""
        index = torch.as_tensor(rows, dtype=torch.long)
        return with_history(self.users.take(self.owner[index]), self.past, self.rows[index])
