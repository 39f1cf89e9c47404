"""Model inputs for training AND serving: one code path, so no train/serve skew.

Fields and why they sit where they do
-------------------------------------
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

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from ml.config import FeatureConfig
from ml.geo import great_circle_km
from ml.records import JobRecord, UserRecord
from ml.skills import SkillExtractor, canonical_skill, learn_terms
from ml.text import name_key
from ml.vocab import PAD, UNK, Vocabulary

FieldKind = Literal["categorical", "bag", "dense"]
FEATURE_FORMAT_VERSION = 3
SKILL_CACHE_SIZE = 16384  # jobs whose extracted skills are remembered


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
    for f in FIELDS if f.kind == "categorical"
}


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

    ids: tuple[str, ...]
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

    def take(self, rows: Tensor | Sequence[int]) -> EntityFeatures:
        rows = torch.as_tensor(rows, dtype=torch.long)
        return EntityFeatures(
            ids=tuple(self.ids[i] for i in rows.tolist()),
            **{name: getattr(self, name)[rows] for name in TENSOR_FIELDS},
        )

    @staticmethod
    def cat(parts: Sequence[EntityFeatures]) -> EntityFeatures:
        """The rows of `parts`, in order (encoded by the same `FeatureSpace`)."""
        return EntityFeatures(
            ids=tuple(i for part in parts for i in part.ids),
            **{name: torch.cat([getattr(part, name) for part in parts])
               for name in TENSOR_FIELDS},
        )


TENSOR_FIELDS = ("categorical", "skills", "coords", "salary", "remote", "key", "attributes",
                 "history",
                 "history_skills", "history_coords", "history_keys")


def id_key(external_id: str) -> int:
    """A stable, non-zero 63-bit hash of an id (0 means "no job" in history_keys)."""
    digest = hashlib.blake2b(str(external_id).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "little") >> 1) or 1


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
        # Serving encodes the same history jobs request after request: remember their
        # skills (a job record is immutable and hashable; an edited job is a new key).
        self._job_skills = lru_cache(maxsize=SKILL_CACHE_SIZE)(self._find_job_skills)

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
        id_pairs = pairs if config.id_embeddings else []
        vocabularies = {
            "user": Vocabulary.build((u for u, _ in id_pairs), min_count=config.min_id_count),
            "job": Vocabulary.build((j for _, j in id_pairs), min_count=config.min_id_count),
            "skill": Vocabulary.build(skills, min_count=config.min_skill_count),
            "city": Vocabulary.build((p.city_key for p in places),
                                     min_count=config.min_attribute_count),
            "region": Vocabulary.build((p.region_key for p in places),
                                       min_count=config.min_attribute_count),
            "company": Vocabulary.build(companies, min_count=config.min_attribute_count),
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
        return list(self._job_skills(job))

    def _find_job_skills(self, job: JobRecord) -> tuple[str, ...]:
        found = {canonical_skill(s) for s in job.skills if s}
        found.update(self.extractor.extract(job.title))
        found.update(self.extractor.extract(job.description))
        return tuple(sorted(found))

    def encode_users(self, users: Sequence[UserRecord]) -> EntityFeatures:
        """Users with their history: the `max_history` most recent liked jobs each."""
        base = self._encode(
            ids=[u.user_id for u in users],
            id_vocab="user",
            places=[u.place for u in users],
            companies=[u.company for u in users],
            skills=[self.user_skills(u) for u in users],
            salary=[u.desired_salary_usd for u in users],
            remote=[False] * len(users),
        )
        depth = self.config.max_history
        histories = [u.history[:depth] for u in users]
        unique: dict[str, JobRecord] = {}
        for history in histories:
            for job in history:
                unique.setdefault(job.job_id, job)
        if not unique or depth == 0:
            return base
        past = self.encode_jobs(list(unique.values()))
        row_of = {job_id: i for i, job_id in enumerate(past.ids)}
        rows = torch.full((len(users), depth), -1, dtype=torch.long)
        for u, history in enumerate(histories):
            for h, job in enumerate(history):
                rows[u, h] = row_of[job.job_id]
        present = (rows >= 0).unsqueeze(-1)
        safe = rows.clamp(min=0)
        return replace(
            base,
            history=past.attributes[safe] * present,
            history_skills=past.skills[safe] * present,
            history_coords=torch.where(present, past.coords[safe], math.nan),
            history_keys=past.key[safe] * present.squeeze(-1),
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
        max_len = self.config.max_skills
        # plain Python rows, turned into tensors once per column (a tensor write per row
        # cost ~40 us: 40 s of start-up at 1M jobs)
        categorical, attributes, skill_rows, coords = [], [], [], []
        for ext_id, place, company, names in zip(ids, places, companies, skills, strict=True):
            city_key = place.city_key if place is not None else None
            region_key = place.region_key if place is not None else None
            company_key = name_key(company) if company else None
            coords.append((place.latitude, place.longitude)
                          if place is not None and place.has_coordinates else (math.nan,) * 2)
            categorical.append((v[id_vocab].index(str(ext_id)), v["city"].index(city_key),
                                v["region"].index(region_key), v["company"].index(company_key)))
            attributes.append([id_key(k) if k else 0 for k in (city_key, region_key,
                                                                company_key)])
            encoded = [v["skill"].index(s) for s in names]
            # Known skills first (they carry learned meaning), then unknown ones.
            encoded = sorted(encoded, key=lambda i: i == UNK)[:max_len]
            skill_rows.append(encoded + [PAD] * (max_len - len(encoded)))
        categorical = torch.tensor(categorical, dtype=torch.long).reshape(n, len(ENTITY_COLUMNS))
        attributes = torch.tensor(attributes, dtype=torch.long).reshape(n, 3)
        skill_rows = torch.tensor(skill_rows, dtype=torch.long).reshape(n, max_len)
        coords = torch.tensor(coords, dtype=torch.float32).reshape(n, 2)
        return EntityFeatures(
            ids=tuple(str(i) for i in ids),
            categorical=categorical,
            skills=skill_rows,
            coords=coords,
            salary=torch.tensor([math.nan if s is None else s for s in salary],
                                dtype=torch.float32),
            remote=torch.tensor(remote, dtype=torch.float32),
            key=torch.tensor([id_key(i) for i in ids], dtype=torch.long),
            attributes=attributes,
            history=torch.zeros((n, 0, 3), dtype=torch.long),
            history_skills=torch.zeros((n, 0, 1), dtype=torch.long),
            history_coords=torch.zeros((n, 0, 2)),
            history_keys=torch.zeros((n, 0), dtype=torch.long),
        )

    # -- pairs -------------------------------------------------------------------------

    def pairs(
        self, users: EntityFeatures, user_rows: Tensor, jobs: EntityFeatures, job_rows: Tensor,
        *, dense: bool = True,
    ) -> ModelInput:
        """Model input for the pairs (users[user_rows[b]], jobs[job_rows[b]]), b < B;
        `dense=False` leaves the dense fields at zero (and skips computing them)."""
        side_rows = {"user": users.categorical[user_rows], "job": jobs.categorical[job_rows]}
        categorical = torch.stack([side_rows[f.side][:, CATEGORICAL_COLUMN[f.name]]
                                   for f in fields_of("categorical")], dim=1)
        u_skills = users.skills[user_rows]
        j_skills = jobs.skills[job_rows]
        # Trim the bags to the longest non-empty prefix in this batch (same values).
        width = max(_longest_bag(u_skills), _longest_bag(j_skills), 1)
        bags = torch.stack([_fit_width(u_skills, width), _fit_width(j_skills, width)], dim=1)
        values = (self.dense_features(users, user_rows, jobs, job_rows) if dense else
                  torch.zeros((len(categorical), len(fields_of("dense")))))
        return ModelInput(categorical, bags, values)

    def blank_users(self, n: int = 1) -> EntityFeatures:
        """n users with nothing known: every categorical and bag row is padding."""
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

    def dense_features(
        self, users: EntityFeatures, user_rows: Tensor, jobs: EntityFeatures, job_rows: Tensor
    ) -> Tensor:
        """The dense fields of each pair, [B, Fd] in `FIELDS` order."""
        u_attr = users.attributes[user_rows]
        j_attr = jobs.attributes[job_rows]
        j_skills = jobs.skills[job_rows]
        hist = HistoryMatch(users.history[user_rows], users.history_skills[user_rows],
                            users.history_coords[user_rows], users.history_keys[user_rows],
                            jobs.key[job_rows])
        scale = self.config.proximity_scale_km
        return stack_dense({
            "job_remote": jobs.remote[job_rows],
            "skill_match": skill_match(users.skills[user_rows], j_skills),
            "history_skill": hist.best_skill_match(j_skills),
            "same_city": same_key(u_attr[:, 0], j_attr[:, 0]),
            "history_city": hist.share_same(0, j_attr[:, 0]),
            "proximity": proximity(users.coords[user_rows], jobs.coords[job_rows], scale),
            "history_proximity": hist.best_proximity(jobs.coords[job_rows], scale),
            "same_region": same_key(u_attr[:, 1], j_attr[:, 1]),
            "history_region": hist.share_same(1, j_attr[:, 1]),
            "history_company": hist.share_same(2, j_attr[:, 2]),
            "salary_fit": salary_fit(users.salary[user_rows], jobs.salary[job_rows]),
        })


def _fit_width(rows: Tensor, width: int) -> Tensor:
    """[B, L] bag rows cut or zero-padded to [B, width]."""
    if rows.shape[1] >= width:
        return rows[:, :width]
    return torch.nn.functional.pad(rows, (0, width - rows.shape[1]))


def _longest_bag(rows: Tensor) -> int:
    """Length of the longest bag in [B, L] rows (bags are left-packed, 0-padded)."""
    return int((rows != PAD).sum(1).max()) if rows.shape[0] else 0


def stack_dense(values: dict[str, Tensor]) -> Tensor:
    """[B, Fd]: the dense fields' values in `FIELDS` order."""
    return torch.stack([values[f.name] for f in fields_of("dense")], dim=1)


def dense_features_of_user(space: FeatureSpace, users: EntityFeatures, user_row: int,
                           jobs: EntityFeatures, job_rows: Tensor | None = None) -> Tensor:
    """`FeatureSpace.dense_features` for ONE user against many jobs, [n, Fd].

    Equal to the batched version (tested) but never copies the user's rows n times: the
    history's skills become a membership table over the skill vocabulary, so matching n
    jobs against H past jobs costs O(n * H * L) lookups instead of O(n * H * L^2).
    """
    if job_rows is None:
        job_rows = torch.arange(len(jobs))
    n = len(job_rows)
    j_attr = jobs.attributes[job_rows]
    j_skills = jobs.skills[job_rows]
    u_attr = users.attributes[user_row]
    history = users.history[user_row]  # [H, 3]
    valid = history_validity(users.history_keys[user_row], jobs.key[job_rows])

    def share_same(column: int, job_values: Tensor) -> Tensor:
        return history_share(history[:, column], job_values, valid)

    def best_history_skill() -> Tensor:
        past = users.history_skills[user_row]  # [H, L]
        if past.shape[0] == 0:
            return torch.zeros(n)
        vocab = len(space.vocabularies["skill"])
        member = torch.zeros((past.shape[0], vocab), dtype=torch.bool)
        member.scatter_(1, past, True)
        member[:, : UNK + 1] = False  # padding and unknown never match
        common = member[:, j_skills].sum(-1)  # [H, n]
        sizes = (past != PAD).sum(1).unsqueeze(1) * (j_skills != PAD).sum(1).unsqueeze(0)
        cosine = common.float() / sizes.clamp(min=1).float().sqrt()
        return (cosine.T * valid).max(dim=1).values

    scale = space.config.proximity_scale_km
    j_coords = jobs.coords[job_rows]

    def best_history_proximity() -> Tensor:
        past = users.history_coords[user_row]  # [H, 2]
        if past.shape[0] == 0:
            return torch.zeros(n)
        near = proximity(past.unsqueeze(0), j_coords.unsqueeze(1), scale)  # [n, H]
        return (near * valid).max(dim=1).values

    return stack_dense({
        "job_remote": jobs.remote[job_rows],
        "skill_match": skill_match(users.skills[user_row].unsqueeze(0).expand(n, -1),
                                   j_skills),
        "history_skill": best_history_skill(),
        "same_city": same_key(u_attr[0].expand(n), j_attr[:, 0]),
        "history_city": share_same(0, j_attr[:, 0]),
        "proximity": proximity(users.coords[user_row].expand(n, 2), j_coords, scale),
        "history_proximity": best_history_proximity(),
        "same_region": same_key(u_attr[1].expand(n), j_attr[:, 1]),
        "history_region": share_same(1, j_attr[:, 1]),
        "history_company": share_same(2, j_attr[:, 2]),
        "salary_fit": salary_fit(users.salary[user_row], jobs.salary[job_rows]),
    })


def history_validity(history_keys: Tensor, job_keys: Tensor) -> Tensor:
    """[n, H]: which of ONE user's H history jobs count against each of n jobs (real
    entries, and never the job itself)."""
    return (history_keys != 0).unsqueeze(0) & (history_keys.unsqueeze(0)
                                               != job_keys.unsqueeze(1))


def history_share(past_values: Tensor, job_values: Tensor, valid: Tensor) -> Tensor:
    """Share of ONE user's valid history jobs ([H] attribute hashes) with each job's
    (known) value: [n] -> [n]."""
    if past_values.shape[0] == 0:
        return torch.zeros(len(job_values))
    same = (past_values.unsqueeze(0) == job_values.unsqueeze(1)) & valid \
        & (job_values != 0).unsqueeze(1)
    return same.sum(1).float() / valid.sum(1).clamp(min=1).float()


class HistoryMatch:
    """Matches a batch of jobs against their users' history, the job itself excluded.

    history [B, H, 3] (city, region, company rows), history_skills [B, H, L],
    history_coords [B, H, 2], history_keys [B, H] (0 = none), job_keys [B].
    """

    def __init__(self, history: Tensor, history_skills: Tensor, history_coords: Tensor,
                 history_keys: Tensor, job_keys: Tensor) -> None:
        self.history = history
        self.history_skills = history_skills
        self.history_coords = history_coords
        self.valid = (history_keys != 0) & (history_keys != job_keys.unsqueeze(1))  # [B, H]
        self.count = self.valid.sum(1).clamp(min=1).float()

    def share_same(self, column: int, job_values: Tensor) -> Tensor:
        """Share of the user's other history jobs with the job's (known) value: [B]."""
        if self.history.shape[1] == 0:
            return torch.zeros(len(job_values))
        same = (self.history[:, :, column] == job_values.unsqueeze(1)) & self.valid \
            & (job_values != 0).unsqueeze(1)
        return same.sum(1).float() / self.count

    def best_proximity(self, job_coords: Tensor, scale_km: float) -> Tensor:
        """Highest proximity of the job to one of the other history jobs: [B]."""
        if self.valid.shape[1] == 0:
            return torch.zeros(len(job_coords))
        near = proximity(self.history_coords, job_coords.unsqueeze(1), scale_km)  # [B, H]
        return (near * self.valid).max(dim=1).values

    def best_skill_match(self, job_skills: Tensor) -> Tensor:
        """Highest skill cosine between the job and one of the other history jobs: [B]."""
        batch, depth = self.valid.shape
        if depth == 0:
            return torch.zeros(len(job_skills))
        past = self.history_skills.reshape(batch * depth, -1)
        cosine = skill_match(past, job_skills.repeat_interleave(depth, dim=0))
        cosine = cosine.view(batch, depth) * self.valid
        return cosine.max(dim=1).values


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


def same_key(a: Tensor, b: Tensor) -> Tensor:
    """1.0 where two attribute hashes are equal and known (0 = none): [B] -> [B]."""
    return ((a == b) & (a != 0)).float()


def proximity(a: Tensor, b: Tensor, scale_km: float) -> Tensor:
    """exp(-great-circle km / scale_km) for [..., 2] lat/lon degrees (broadcast) -> [...];
    0 if either is NaN."""
    km = great_circle_km(a[..., 0], a[..., 1], b[..., 0], b[..., 1])
    return torch.nan_to_num(torch.exp(-km / scale_km), nan=0.0)


def salary_fit(desired: Tensor, offered_max: Tensor, out: Tensor | None = None) -> Tensor:
    """(offered - desired) / desired clipped to [-1, 1]; 0 when either is unknown.
    Yearly amounts; `desired` broadcasts (one user's against many jobs: a 0-d tensor)."""
    fit = torch.sub(offered_max, desired, out=out)
    return fit.div_(desired.clamp(min=1.0)).clamp_(-1.0, 1.0).nan_to_num_(nan=0.0)
