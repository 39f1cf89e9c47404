"""One user's pair features against a whole catalog, with the job side prepared once.

`CatalogPairs` computes what `dense_features_of_user` computes, for every catalog job at
once; `PairTable` holds the result factored by the jobs' settings (place, city, region,
company), the form the first stage reads fastest.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from ml.features import (
    EntityFeatures,
    FeatureSpace,
    fields_of,
    history_share,
    history_validity,
    recency_weights,
    salary_fit,
)
from ml.geo import chord_km, unit_vectors
from ml.vocab import PAD, UNK

# The dense fields that depend on the job through its place, city, region and company
# alone, consecutive in `FIELDS` (see `CatalogPairs`)
SETTING_FIELDS = (
    "same_city",
    "history_city",
    "proximity",
    "history_proximity",
    "same_region",
    "history_region",
    "history_company",
)
# The skill overlaps sum the lists of jobs per skill while these reach at most this share
# of the catalog's (job, skill) pairs, and take one sparse product past it (a pair the
# lists reach costs about twice a pair of the product: docs/benchmarks/measured-choices.md)
SKILL_LISTS_SHARE = 0.5


class CatalogPairs:
    """`dense_features_of_user` against a whole catalog, with the job side prepared once.

    Every per-request pass is O(N) with a small constant, never O(N x H):

    * skills: the catalog lists, for each skill, the jobs that ask for it with their
      count over the job's cosine norm, so the cosine with the user's skills and with
      each of the H history jobs is a sum over the lists of THEIR skills (scaled by the
      other side's norm): work in proportion to the jobs sharing a skill with them,
      not to all (job, skill) pairs (one sparse [N, V] x [V, c] product is kept for
      columns that reach most of the catalog);
    * places: jobs share few distinct places (cities), so proximities are computed per
      distinct place ([P, 1 + H], float64 unit vectors, haversine from the chord:
      h = |u1 - u2|^2 / 4, km = 2 R asin(sqrt(h))) and gathered per job;
    * city, region, company: codes into the catalog's distinct values, so an equality
      is one comparison of codes and a history share one lookup in the counts of the
      user's history values per code;
    * the seven fields of place, city, region and company (`SETTING_FIELDS`) depend on
      the job through those alone, and jobs share few distinct combinations of them
      (a "setting": about a thousand among a million synthetic jobs): the fields are
      computed per setting, [K, 7], and kept so (`PairTable`): the first stage forms
      their terms once per setting, and the dense [N, Fd] reaches the jobs by ONE
      gather of each job's setting code, not a pass per field.

    A history job never counts against itself (leave-one-out, `history_validity`): the
    history features of the few catalog jobs that ARE in the user's history are
    recomputed with their own [k, H] validity and written over. Equal to the reference
    up to float rounding (tested).
    """

    def __init__(
        self,
        space: FeatureSpace,
        jobs: EntityFeatures,
        prepared: Mapping[str, Tensor] | None = None,
    ) -> None:
        """`prepared`: the tensors `arrays()` gave for these jobs (a catalog snapshot),
        else they are computed from `jobs`."""
        self.space, self.jobs = space, jobs
        self.vocab = len(space.vocabularies["skill"])
        t = dict(prepared) if prepared is not None else _prepare(jobs, self.vocab)
        # each job's skill counts over its cosine norm, 1 / sqrt(skill count) (1 for no
        # skill: the overlap is 0 then, as in the reference), listed by skill: the jobs
        # that ask for skill v are skill_jobs[skill_start[v] : skill_start[v + 1]]
        # (ascending), with their normed counts in skill_weights
        self.skill_norm: Tensor = t["skill_norm"]  # [N]
        self.skill_jobs: Tensor = t["skill_jobs"]  # int32: a third less memory, as fast
        self.skill_weights: Tensor = t["skill_weights"]
        self.skill_start: Tensor = t["skill_start"]
        # the same [N, V] by job, as a sparse CSR matrix with int32 indices (which the
        # sparse product would otherwise convert on every call)
        with warnings.catch_warnings():  # "sparse CSR support is in beta": it is tested
            warnings.simplefilter("ignore", UserWarning)
            self.normed_skills = torch.sparse_csr_tensor(
                t["normed_crow"], t["normed_col"], t["normed_values"], (len(jobs), self.vocab)
            )
        # distinct places: [P, 3] float64 unit vectors (a last NaN row for "no place")
        # and each job's row in it, [N]
        self.place_of: Tensor = t["place_of"]
        self.place_units: Tensor = t["place_units"]
        # city, region, company: the distinct values (sorted); settings: the distinct
        # (place, city, region, company), their codes [K, 4], and each job's setting [N]
        # (int64: gathers by it run faster than by int32)
        self.values = [t[f"values{c}"] for c in range(jobs.attributes.shape[1])]
        self.setting_codes: Tensor = t["setting_codes"]
        self.setting_of: Tensor = t["setting_of"]
        self.sorted_keys: Tensor = t["sorted_keys"]
        self.key_order: Tensor = t["key_order"]
        self.dense_names = [f.name for f in fields_of("dense")]
        first = self.dense_names.index(SETTING_FIELDS[0])
        if tuple(self.dense_names[first : first + len(SETTING_FIELDS)]) != SETTING_FIELDS:
            raise AssertionError("the setting fields must be consecutive, in this order")
        self.setting_rows = slice(first, first + len(SETTING_FIELDS))
        # the other dense fields depend on the job itself: PairTable.per_job's rows
        self.job_columns = [
            c for c, name in enumerate(self.dense_names) if name not in SETTING_FIELDS
        ]
        first = self.job_columns.index(self.dense_names.index("skill_match"))
        if self.dense_names[self.job_columns[first + 1]] != "history_skill":
            raise AssertionError("skill_match and history_skill must be consecutive")
        self.job_skill_rows = slice(first, first + 2)  # their rows in PairTable.per_job

    def arrays(self) -> dict[str, Tensor]:
        """The tensors prepared from the jobs, by name (what `prepared` takes back)."""
        csr = self.normed_skills
        return {
            "skill_norm": self.skill_norm,
            "skill_jobs": self.skill_jobs,
            "skill_weights": self.skill_weights,
            "skill_start": self.skill_start,
            "normed_crow": csr.crow_indices(),
            "normed_col": csr.col_indices(),
            "normed_values": csr.values(),
            "place_of": self.place_of,
            "place_units": self.place_units,
            **{f"values{c}": v for c, v in enumerate(self.values)},
            "setting_codes": self.setting_codes,
            "setting_of": self.setting_of,
            "sorted_keys": self.sorted_keys,
            "key_order": self.key_order,
        }

    def dense(
        self,
        users: EntityFeatures,
        user_row: int,
        *,
        pair_only: bool = False,
        stand_in: bool = False,
    ) -> Tensor:
        """[N, Fd] dense fields of one user against every catalog job (a transposed view
        of a [Fd, N] tensor: each field is written as one contiguous pass);
        `pair_only`: the job-side fields (`job_remote`) left at zero. `stand_in`: see
        `table`."""
        return self.table(users, user_row, pair_only=pair_only, stand_in=stand_in).dense()

    def table(
        self,
        users: EntityFeatures,
        user_row: int,
        *,
        pair_only: bool = False,
        stand_in: bool = False,
    ) -> PairTable:
        """The dense fields of one user against every catalog job as a `PairTable`: the
        fields of each job [Fd - 7, N], the setting fields per setting [K, 7].

        `stand_in` (for a first stage): `history_skill` holds the job's overlap with the
        union of the history's skills over sqrt(job size * mean history size) instead of
        its best cosine with one history job: one column instead of one per history
        job, the costliest part for a long history. The jobs kept get their true
        values from `history_skill`. (This normalisation keeps the shortlist's recall
        closest to the true values': docs/benchmarks/measured-choices.md.)
        """
        jobs = self.jobs
        keys = users.history_keys[user_row]  # [H]
        # only the valid history counts (against any job but the history job itself)
        past = keys.nonzero().squeeze(1)  # [h]
        weight = self._weights(keys, past)  # [h]
        u_skills = users.skills[user_row]
        mine = u_skills[u_skills > UNK]
        wanted = torch.zeros((self.vocab, 1))
        wanted[:, 0].index_add_(0, mine, torch.ones(len(mine)))
        wanted *= (u_skills != PAD).sum().clamp(min=1).float().rsqrt()
        past_wanted = self._history_skills(users, user_row, past) * weight  # [V, h]
        if stand_in and len(past):
            union = (past_wanted > 0).any(1, keepdim=True).float()
            sizes = (users.history_skills[user_row, past] != PAD).sum(1).clamp(min=1).float()
            past_wanted = union * sizes.mean().rsqrt()
        if not len(past):
            past_wanted = torch.zeros((self.vocab, 1))  # history_skill 0
        columns = torch.cat([wanted, past_wanted], 1)  # [V, 1 + h]
        centres = unit_vectors(
            torch.cat([users.coords[user_row].unsqueeze(0), users.history_coords[user_row, past]])
        )
        km = chord_km(self.place_units, centres)
        near = torch.nan_to_num(
            torch.exp(-km / self.space.config.proximity_scale_km), nan=0.0
        ).float()  # [P + 1, 1 + h]
        near[:, 1:] *= weight  # the history's weighted proximities
        history, u_attr = users.history[user_row, past], users.attributes[user_row]

        per_job = torch.empty((len(self.job_columns), len(jobs)))
        column = dict(zip((self.dense_names[c] for c in self.job_columns), per_job, strict=True))
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
            "history_city": self._share(0, history[:, 0], weight),
            "proximity": near[place, 0],
            "history_proximity": near[place, 1:].amax(1) if len(past) else torch.zeros(len(place)),
            "same_region": self._same(1, u_attr[1]),
            "history_region": self._share(1, history[:, 1], weight),
            "history_company": self._share(2, history[:, 2], weight),
        }
        table = PairTable(self, per_job, torch.stack([setting[name] for name in SETTING_FIELDS], 1))

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
                field[name].copy_(
                    history_share(history[:, i], jobs.attributes[own, i], mine, weight)
                )
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
        # [V, h], weighted; PAD, UNK rows 0
        wanted = self._history_skills(users, user_row, past) * self._weights(keys, past)
        # each job's bag of skill rows summed: [n, h] (embedding_bag reads the rows in
        # place: no [n, L, h] gather is written)
        cosine = F.embedding_bag(self.jobs.skills.index_select(0, rows), wanted, mode="sum")
        cosine *= self.skill_norm.index_select(0, rows).unsqueeze(1)
        valid = history_validity(keys[past], self.jobs.key.index_select(0, rows))
        return (cosine * valid).max(dim=1).values

    def _weights(self, keys: Tensor, past: Tensor) -> Tensor:
        """[h] the recency weights of the valid history slots `past` of `keys` [H]."""
        return recency_weights(len(keys), self.space.config.history_decay)[past]

    def _history_skills(self, users: EntityFeatures, user_row: int, past: Tensor) -> Tensor:
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
        for lo, hi, c, weight in zip(
            first.tolist(),
            end.tolist(),
            columns.tolist(),
            wanted[skills, columns].tolist(),
            strict=True,
        ):
            out[c].index_add_(0, self.skill_jobs[lo:hi], self.skill_weights[lo:hi], alpha=weight)
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

    def _share(self, column: int, past_values: Tensor, weight: Tensor) -> Tensor:
        """[K] per setting, the weighted share of `past_values` [h] (the user's valid
        history, weights [h]) equal to its attribute `column`; equals `history_share`
        for jobs not among those h history jobs."""
        codes = self._setting_codes(column)
        if not len(past_values):
            return torch.zeros(len(codes))
        code, known = self._code(column, past_values)
        counts = torch.zeros(len(self.values[column]))
        counts.index_add_(0, code[known], weight[known])
        return (counts / weight.sum())[codes]


def _prepare(jobs: EntityFeatures, vocab: int) -> dict[str, Tensor]:
    """The job-side tensors `CatalogPairs` reads (see its docstring), by name."""
    skills = jobs.skills
    known = skills > UNK
    rows = torch.arange(len(skills)).unsqueeze(1).expand_as(skills)[known]
    norm = (skills != PAD).sum(1).clamp(min=1).float().rsqrt()  # [N]
    by_skill = torch.sparse_coo_tensor(
        torch.stack([skills[known], rows]), norm[rows], (vocab, len(skills)), check_invariants=True
    ).coalesce()
    skill_of, jobs_of = by_skill.indices()
    with warnings.catch_warnings():  # "sparse CSR support is in beta": it is tested
        warnings.simplefilter("ignore", UserWarning)
        by_job = by_skill.t().coalesce().to_sparse_csr()
    located = ~jobs.coords.isnan().any(1)
    places, inverse = torch.unique(jobs.coords[located], dim=0, return_inverse=True)
    place_of = torch.full((len(jobs),), len(places), dtype=torch.int32)
    place_of[located] = inverse.int()
    values, codes = {}, []
    for column in range(jobs.attributes.shape[1]):
        values[f"values{column}"], code = torch.unique(
            jobs.attributes[:, column], return_inverse=True
        )
        codes.append(code)
    setting_codes, setting_of = torch.unique(
        torch.stack([place_of.long(), *codes], 1), dim=0, return_inverse=True
    )
    sorted_keys, key_order = torch.sort(jobs.key)
    return {
        "skill_norm": norm,
        "skill_jobs": jobs_of.int(),
        "skill_weights": by_skill.values(),
        "skill_start": torch.searchsorted(skill_of, torch.arange(vocab + 1)),
        "normed_crow": by_job.crow_indices().int(),
        "normed_col": by_job.col_indices().int(),
        "normed_values": by_job.values(),
        "place_of": place_of,
        "place_units": unit_vectors(torch.cat([places, torch.full((1, 2), math.nan)])),
        **values,
        "setting_codes": setting_codes,
        "setting_of": setting_of,
        "sorted_keys": sorted_keys,
        "key_order": key_order,
    }


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
        torch.index_select(
            self.settings.T.contiguous(), 1, pairs.setting_of, out=out[pairs.setting_rows]
        )
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
