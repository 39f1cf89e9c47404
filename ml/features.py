"""Model inputs for training AND serving: one code path, so no train/serve skew.

Fields and why they sit where they do
-------------------------------------
The model sees 16 fields per (user, job) pair, in this order (`FIELDS`):

    user, job,
    user_skills, job_skills, skill_match,
    user_city, job_city, same_city, proximity,
    user_region, job_region, same_region,
    user_company, job_company,
    salary_fit, job_remote

* Skills, city, region and company appear on BOTH sides and the two sides share one
  embedding table per vocabulary. A user and a job with the same city then have the
  same city vector, and the FM term's inner product <v_user_city, v_job_city> becomes a
  learned "same place" bonus that also generalises to cities with few interactions;
  the same holds for skills (mean-pooled bags) and companies. This is what lets the
  service match a user's skills, place and company, resolved from the store, to a job's.
* The ids (user, job) carry collaborative signal. Ids seen too rarely in training, and a
  random `id_dropout` share of training rows, map to <unk>, so the model also learns to
  score a cold job or a cold user from content alone.
* Pair fields are dense values computed from both sides: skill overlap (cosine of the
  two skill sets), same city, same region, proximity (exp(-km / scale), 0 when either
  side has no coordinates) and salary fit. Explicit match signals are learnt from far
  fewer examples than embedding inner products; each enters the model as x * v_f.
* The order interleaves user side, job side and their match so that the Conv1d kernel
  (3 wide by default) sees each pair of matching fields together with their match.

Every vocabulary keeps index 0 for padding and 1 for unknown (`ml.vocab`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from ml.config import FeatureConfig
from ml.records import JobRecord, UserRecord
from ml.skills import SkillExtractor, canonical_skill, learn_terms
from ml.text import name_key
from ml.vocab import PAD, UNK, Vocabulary

FieldKind = Literal["categorical", "bag", "dense"]
FEATURE_FORMAT_VERSION = 1


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
    Field("user", "categorical", "user", "user"),
    Field("job", "categorical", "job", "job"),
    Field("user_skills", "bag", "user", "skill"),
    Field("job_skills", "bag", "job", "skill"),
    Field("skill_match", "dense", "pair"),
    Field("user_city", "categorical", "user", "city"),
    Field("job_city", "categorical", "job", "city"),
    Field("same_city", "dense", "pair"),
    Field("proximity", "dense", "pair"),
    Field("user_region", "categorical", "user", "region"),
    Field("job_region", "categorical", "job", "region"),
    Field("same_region", "dense", "pair"),
    Field("user_company", "categorical", "user", "company"),
    Field("job_company", "categorical", "job", "company"),
    Field("salary_fit", "dense", "pair"),
    Field("job_remote", "dense", "job"),
)
VOCABULARIES = ("user", "job", "skill", "city", "region", "company")
# Columns of EntityFeatures.categorical, the same for users and jobs.
ENTITY_COLUMNS = ("id", "city", "region", "company")


def fields_of(kind: FieldKind) -> tuple[Field, ...]:
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

    def index(self, rows: Tensor) -> ModelInput:
        return ModelInput(self.categorical[rows], self.bags[rows], self.dense[rows])


@dataclass(frozen=True)
class EntityFeatures:
    """Encoded users or jobs, one row each (N rows).

    categorical: [N, 4] int64, columns `ENTITY_COLUMNS` (id, city, region, company)
    skills:      [N, L] int64, skill rows padded with 0
    coords:      [N, 2] float32, latitude/longitude in degrees, NaN when unknown
    salary:      [N] float32, US dollars per year, NaN when unknown (users: desired;
                 jobs: upper bound of the posted range)
    remote:      [N] float32, 1.0 for remote jobs
    """

    ids: tuple[str, ...]
    categorical: Tensor
    skills: Tensor
    coords: Tensor
    salary: Tensor
    remote: Tensor

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows: Tensor | Sequence[int]) -> EntityFeatures:
        rows = torch.as_tensor(rows, dtype=torch.long)
        return EntityFeatures(
            ids=tuple(self.ids[i] for i in rows.tolist()),
            categorical=self.categorical[rows],
            skills=self.skills[rows],
            coords=self.coords[rows],
            salary=self.salary[rows],
            remote=self.remote[rows],
        )


class FeatureSpace:
    """Vocabularies and learned skill terms, fitted on training data, and the encoders.

    `fit` builds it from the training catalog; `to_json`/`from_json` put it in the
    checkpoint; `encode_users`, `encode_jobs` and `pairs` build model inputs, the same
    way in training, evaluation and serving.
    """

    def __init__(
        self,
        vocabularies: dict[str, Vocabulary],
        learned_terms: Sequence[str],
        config: FeatureConfig,
    ) -> None:
        missing = set(VOCABULARIES) - set(vocabularies)
        if missing:
            raise ValueError(f"feature space lacks vocabularies: {sorted(missing)}")
        self.vocabularies = vocabularies
        self.config = config
        self.extractor = SkillExtractor(learned_terms)

    # -- fitting and persistence -------------------------------------------------------

    @classmethod
    def fit(
        cls,
        users: Sequence[UserRecord],
        jobs: Sequence[JobRecord],
        train_pairs: Iterable[tuple[str, str]],
        config: FeatureConfig | None = None,
    ) -> FeatureSpace:
        """Learn vocabularies from training data only.

        Ids come from `train_pairs` (the (user_id, job_id) positives used for training),
        so an id first seen at serving time maps to <unk>. Skill terms are learned from
        the catalog's titles; skills, places and companies from users and jobs.
        """
        config = config or FeatureConfig()
        pairs = list(train_pairs)
        terms = learn_terms(
            [j.title for j in jobs],
            min_df=config.learned_term_min_df,
            max_terms=config.max_learned_terms,
        )
        draft = cls({name: Vocabulary([]) for name in VOCABULARIES}, terms, config)
        skills = [s for u in users for s in draft.user_skills(u)]
        skills += [s for j in jobs for s in draft.job_skills(j)]
        places = [p for p in (*(u.place for u in users), *(j.place for j in jobs)) if p]
        companies = [name_key(c) for c in (*(u.company for u in users),
                                          *(j.company for j in jobs)) if c]
        vocabularies = {
            "user": Vocabulary.build(u for u, _ in pairs),
            "job": Vocabulary.build(j for _, j in pairs),
            "skill": Vocabulary.build(skills, min_count=config.min_skill_count),
            "city": Vocabulary.build(p.city_key for p in places),
            "region": Vocabulary.build(p.region_key for p in places),
            "company": Vocabulary.build(companies),
        }
        return cls(vocabularies, terms, config)

    def to_json(self) -> dict:
        return {
            "format_version": FEATURE_FORMAT_VERSION,
            "fields": [[f.name, f.kind, f.side, f.vocab] for f in FIELDS],
            "config": self.config.model_dump(mode="json"),
            "learned_terms": self.extractor.learned_terms,
            "vocabularies": {k: v.to_json() for k, v in self.vocabularies.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> FeatureSpace:
        if data.get("format_version") != FEATURE_FORMAT_VERSION:
            raise ValueError(
                f"feature format {data.get('format_version')!r} is not the supported "
                f"{FEATURE_FORMAT_VERSION}"
            )
        expected = [[f.name, f.kind, f.side, f.vocab] for f in FIELDS]
        if data.get("fields") != expected:
            raise ValueError("the checkpoint's fields differ from this code's FIELDS")
        return cls(
            {k: Vocabulary.from_json(v) for k, v in data["vocabularies"].items()},
            data["learned_terms"],
            FeatureConfig.model_validate(data["config"]),
        )

    def vocab_sizes(self) -> dict[str, int]:
        return {name: len(v) for name, v in self.vocabularies.items()}

    # -- per-record features ---------------------------------------------------------

    def user_skills(self, user: UserRecord) -> list[str]:
        """Explicit skills (canonical spelling) plus those found in the headline."""
        found = {canonical_skill(s) for s in user.skills if s}
        found.update(self.extractor.extract(user.headline))
        return sorted(found)

    def job_skills(self, job: JobRecord) -> list[str]:
        """Explicit skills plus those found in the title and description."""
        found = {canonical_skill(s) for s in job.skills if s}
        found.update(self.extractor.extract(job.title))
        found.update(self.extractor.extract(job.description))
        return sorted(found)

    def encode_users(self, users: Sequence[UserRecord]) -> EntityFeatures:
        return self._encode(
            ids=[u.user_id for u in users],
            id_vocab="user",
            places=[u.place for u in users],
            companies=[u.company for u in users],
            skills=[self.user_skills(u) for u in users],
            salary=[u.desired_salary_usd for u in users],
            remote=[False] * len(users),
        )

    def encode_jobs(self, jobs: Sequence[JobRecord]) -> EntityFeatures:
        return self._encode(
            ids=[j.job_id for j in jobs],
            id_vocab="job",
            places=[j.place for j in jobs],
            companies=[j.company for j in jobs],
            skills=[self.job_skills(j) for j in jobs],
            salary=[j.salary_max_usd for j in jobs],
            remote=[j.remote for j in jobs],
        )

    def _encode(self, *, ids, id_vocab, places, companies, skills, salary, remote):
        v = self.vocabularies
        n = len(ids)
        categorical = torch.zeros((n, len(ENTITY_COLUMNS)), dtype=torch.long)
        max_len = self.config.max_skills
        skill_rows = torch.zeros((n, max_len), dtype=torch.long)
        coords = torch.full((n, 2), math.nan)
        for row, (ext_id, place, company, names) in enumerate(
            zip(ids, places, companies, skills, strict=True)
        ):
            city = region = PAD
            if place is not None:
                city = v["city"].index(place.city_key)
                region = v["region"].index(place.region_key)
                if place.has_coordinates:
                    coords[row, 0] = place.latitude
                    coords[row, 1] = place.longitude
            company_row = v["company"].index(name_key(company)) if company else PAD
            categorical[row] = torch.tensor(
                [v[id_vocab].index(str(ext_id)), city, region, company_row]
            )
            encoded = [v["skill"].index(s) for s in names]
            # Known skills first (they carry learned meaning), then unknown ones.
            encoded = sorted(encoded, key=lambda i: i == UNK)[:max_len]
            skill_rows[row, : len(encoded)] = torch.tensor(encoded, dtype=torch.long)
        return EntityFeatures(
            ids=tuple(str(i) for i in ids),
            categorical=categorical,
            skills=skill_rows,
            coords=coords,
            salary=torch.tensor([math.nan if s is None else s for s in salary],
                                dtype=torch.float32),
            remote=torch.tensor(remote, dtype=torch.float32),
        )

    # -- pairs -------------------------------------------------------------------------

    def pairs(
        self, users: EntityFeatures, user_rows: Tensor, jobs: EntityFeatures, job_rows: Tensor
    ) -> ModelInput:
        """Model input for the pairs (users[user_rows[b]], jobs[job_rows[b]]), b < B."""
        u_cat = users.categorical[user_rows]
        j_cat = jobs.categorical[job_rows]
        u_skills = users.skills[user_rows]
        j_skills = jobs.skills[job_rows]
        categorical = torch.stack(
            [u_cat[:, 0], j_cat[:, 0], u_cat[:, 1], j_cat[:, 1],
             u_cat[:, 2], j_cat[:, 2], u_cat[:, 3], j_cat[:, 3]],
            dim=1,
        )
        # Trim the bags to the longest non-empty prefix in this batch (same values).
        width = max(_longest_bag(u_skills), _longest_bag(j_skills), 1)
        bags = torch.stack([_fit_width(u_skills, width), _fit_width(j_skills, width)], dim=1)
        dense = self.dense_features(users, user_rows, jobs, job_rows)
        return ModelInput(categorical, bags, dense)

    def blank_users(self, n: int = 1) -> EntityFeatures:
        """n users with nothing known: every categorical and bag row is padding."""
        return EntityFeatures(
            ids=("",) * n,
            categorical=torch.zeros((n, len(ENTITY_COLUMNS)), dtype=torch.long),
            skills=torch.zeros((n, 1), dtype=torch.long),
            coords=torch.full((n, 2), math.nan),
            salary=torch.full((n,), math.nan),
            remote=torch.zeros(n),
        )

    def dense_features(
        self, users: EntityFeatures, user_rows: Tensor, jobs: EntityFeatures, job_rows: Tensor
    ) -> Tensor:
        """The dense fields of each pair, [B, Fd] in `FIELDS` order."""
        u_cat = users.categorical[user_rows]
        j_cat = jobs.categorical[job_rows]
        return torch.stack(
            [
                skill_match(users.skills[user_rows], jobs.skills[job_rows]),
                same_value(u_cat[:, 1], j_cat[:, 1]),
                proximity(users.coords[user_rows], jobs.coords[job_rows],
                          self.config.proximity_scale_km),
                same_value(u_cat[:, 2], j_cat[:, 2]),
                salary_fit(users.salary[user_rows], jobs.salary[job_rows]),
                jobs.remote[job_rows],
            ],
            dim=1,
        )


def _fit_width(rows: Tensor, width: int) -> Tensor:
    """[B, L] bag rows cut or zero-padded to [B, width]."""
    if rows.shape[1] >= width:
        return rows[:, :width]
    return torch.nn.functional.pad(rows, (0, width - rows.shape[1]))


def _longest_bag(rows: Tensor) -> int:
    """Length of the longest bag in [B, L] rows (bags are left-packed, 0-padded)."""
    return int((rows != PAD).sum(1).max()) if rows.shape[0] else 0


# -- pair features: [B] float32 each ---------------------------------------------------


def skill_match(user_skills: Tensor, job_skills: Tensor) -> Tensor:
    """Cosine similarity of two skill sets ([B, L] rows, 0 = padding) -> [B] in [0, 1].

    Only known skills (row > 1) can match; unknown ones still count in the set sizes.
    """
    width = max(_longest_bag(user_skills), _longest_bag(job_skills), 1)
    user_skills, job_skills = user_skills[:, :width], job_skills[:, :width]
    known = (user_skills > UNK).unsqueeze(2)
    common = ((user_skills.unsqueeze(2) == job_skills.unsqueeze(1)) & known).sum((1, 2))
    sizes = (user_skills != PAD).sum(1) * (job_skills != PAD).sum(1)
    return common.float() / sizes.clamp(min=1).float().sqrt()


def same_value(a: Tensor, b: Tensor) -> Tensor:
    """1.0 where two vocabulary rows are the same known value ([B] -> [B])."""
    return ((a == b) & (a > UNK)).float()


def proximity(a: Tensor, b: Tensor, scale_km: float) -> Tensor:
    """exp(-great-circle km / scale_km) for [B, 2] lat/lon degrees; 0 if either is NaN."""
    lat1, lon1, lat2, lon2 = (torch.deg2rad(t) for t in (a[:, 0], a[:, 1], b[:, 0], b[:, 1]))
    h = (torch.sin((lat2 - lat1) / 2) ** 2
         + torch.cos(lat1) * torch.cos(lat2) * torch.sin((lon2 - lon1) / 2) ** 2)
    km = 2 * 6371.0088 * torch.asin(h.clamp(0, 1).sqrt())
    return torch.nan_to_num(torch.exp(-km / scale_km), nan=0.0)


def salary_fit(desired: Tensor, offered_max: Tensor) -> Tensor:
    """(offered - desired) / desired clipped to [-1, 1]; 0 when either is unknown."""
    fit = ((offered_max - desired) / desired.clamp(min=1.0)).clamp(-1.0, 1.0)
    return torch.nan_to_num(fit, nan=0.0)
