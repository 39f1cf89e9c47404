"""The feature space: vocabularies and learned skill terms, fitted on training data, and
the encoders that turn records into model inputs the same way in training, evaluation
and serving (one code path, so no train/serve skew)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, TypedDict

import torch
from torch import Tensor

from ml.config import FeatureConfig
from ml.features.entities import EntityFeatures, encode_entities, with_history
from ml.features.fields import (
    CATEGORICAL_COLUMN,
    FIELDS,
    VOCABULARIES,
    ModelInput,
    fields_of,
    fit_width,
    longest_bag,
)
from ml.features.matching import dense_features
from ml.records import JobRecord, UserRecord
from ml.skills import SkillExtractor, canonical_skill, learn_terms
from ml.text import name_key
from ml.vocab import Vocabulary

FEATURE_FORMAT_VERSION = 3
SKILL_CACHE_SIZE = 16384  # jobs whose extracted skills are remembered
# `FeatureConfig` settings added after checkpoints were written, and the value that
# reproduces those checkpoints' features
PRE_SETTING_VALUES: dict[str, Any] = {"history_decay": 1.0}


class FeatureSpaceJson(TypedDict):
    """A `FeatureSpace` as the checkpoint's metadata keeps it."""

    format_version: int
    fields: list[list[str | None]]  # [name, kind, side, vocab] per field of `FIELDS`
    config: dict[str, Any]  # `FeatureConfig`
    learned_terms: list[str]
    vocabularies: dict[str, list[str]]  # name -> its tokens (`Vocabulary.to_json`)


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
        companies = [
            name_key(c) for c in (*(u.company for u in users), *(j.company for j in jobs)) if c
        ]
        id_pairs = pairs if config.id_embeddings else []
        vocabularies = {
            "user": Vocabulary.build((u for u, _ in id_pairs), min_count=config.min_id_count),
            "job": Vocabulary.build((j for _, j in id_pairs), min_count=config.min_id_count),
            "skill": Vocabulary.build(skills, min_count=config.min_skill_count),
            "city": Vocabulary.build(
                (p.city_key for p in places), min_count=config.min_attribute_count
            ),
            "region": Vocabulary.build(
                (p.region_key for p in places), min_count=config.min_attribute_count
            ),
            "company": Vocabulary.build(companies, min_count=config.min_attribute_count),
        }
        return cls(vocabularies, terms, config)

    def to_json(self) -> FeatureSpaceJson:
        """What `from_json` reads back (plain JSON values)."""
        return {
            "format_version": FEATURE_FORMAT_VERSION,
            "fields": [[f.name, f.kind, f.side, f.vocab] for f in FIELDS],
            "config": self.config.model_dump(mode="json"),
            "learned_terms": self.extractor.learned_terms,
            "vocabularies": {k: v.to_json() for k, v in self.vocabularies.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureSpace:
        """The feature space `to_json` wrote; ValueError for another format or fields."""
        if data.get("format_version") != FEATURE_FORMAT_VERSION:
            raise ValueError(
                f"feature format {data.get('format_version')!r} is not the supported "
                f"{FEATURE_FORMAT_VERSION}"
            )
        expected = [[f.name, f.kind, f.side, f.vocab] for f in FIELDS]
        if data.get("fields") != expected:
            raise ValueError("the checkpoint's fields differ from this code's FIELDS")
        # a checkpoint from before a setting was made keeps the behaviour it was trained
        # with, whatever today's default
        config = {**PRE_SETTING_VALUES, **data["config"]}
        return cls(
            {k: Vocabulary.from_json(v) for k, v in data["vocabularies"].items()},
            data["learned_terms"],
            FeatureConfig.model_validate(config),
        )

    def vocab_sizes(self) -> dict[str, int]:
        """Rows per vocabulary (index 0 padding, 1 unknown): `ConvFM`'s table sizes."""
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
        base = encode_entities(
            self.vocabularies,
            self.config.max_skills,
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
        return with_history(base, past, rows)

    def encode_jobs(self, jobs: Sequence[JobRecord]) -> EntityFeatures:
        """Jobs, one row each (no history: H = 0)."""
        return encode_entities(
            self.vocabularies,
            self.config.max_skills,
            ids=[j.job_id for j in jobs],
            id_vocab="job",
            places=[j.place for j in jobs],
            companies=[j.company for j in jobs],
            skills=[self.job_skills(j) for j in jobs],
            salary=[j.salary_annual_max_usd for j in jobs],
            remote=[j.remote for j in jobs],
        )

    # -- pairs -------------------------------------------------------------------------

    def user_against(
        self,
        user: UserRecord,
        jobs: Sequence[JobRecord],
        users: EntityFeatures | None = None,
    ) -> ModelInput:
        """Model input for one user against each of `jobs`: [len(jobs)] pairs (`users`:
        the user already encoded, one row)."""
        if users is None:
            users = self.encode_users([user])
        rows = torch.arange(len(jobs))
        return self.pairs(users, torch.zeros_like(rows), self.encode_jobs(jobs), rows)

    def pairs(
        self,
        users: EntityFeatures,
        user_rows: Tensor,
        jobs: EntityFeatures,
        job_rows: Tensor,
        *,
        dense: bool = True,
    ) -> ModelInput:
        """Model input for the pairs (users[user_rows[b]], jobs[job_rows[b]]), b < B;
        `dense=False` leaves the dense fields at zero (and skips computing them)."""
        side_rows = {"user": users.categorical[user_rows], "job": jobs.categorical[job_rows]}
        categorical = torch.stack(
            [side_rows[f.side][:, CATEGORICAL_COLUMN[f.name]] for f in fields_of("categorical")],
            dim=1,
        )
        u_skills = users.skills[user_rows]
        j_skills = jobs.skills[job_rows]
        # Trim the bags to the longest non-empty prefix in this batch (same values).
        width = max(longest_bag(u_skills), longest_bag(j_skills), 1)
        bags = torch.stack([fit_width(u_skills, width), fit_width(j_skills, width)], dim=1)
        values = (
            self.dense_features(users, user_rows, jobs, job_rows)
            if dense
            else torch.zeros((len(categorical), len(fields_of("dense"))))
        )
        return ModelInput(categorical, bags, values)

    def blank_users(self, n: int = 1) -> EntityFeatures:
        """n users with nothing known: every categorical and bag row is padding."""
        return EntityFeatures.blank(n)

    def dense_features(
        self, users: EntityFeatures, user_rows: Tensor, jobs: EntityFeatures, job_rows: Tensor
    ) -> Tensor:
        """The dense fields of each pair, [B, Fd] in `FIELDS` order."""
        return dense_features(
            users,
            user_rows,
            jobs,
            job_rows,
            self.config.proximity_scale_km,
            self.config.history_decay,
        )
