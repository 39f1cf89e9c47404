"""Baselines, ranked by exactly the protocol that ranks ConvFM (`ml.metrics`).

Each baseline is a callable: user rows [U] -> scores [U, N] over the catalog.

* popularity: distinct users with a training positive on the job.
* location-popularity: jobs in the user's cities first, then in the user's regions,
  then the rest; popularity orders each tier. The user's places are the profile's place
  and the places of the user's training positives.
* content: the weighted pair features ConvFM also sees (skill overlap, same city,
  proximity, same region, salary fit).
* tfidf: cosine of TF-IDF vectors over title, company and place words; the user's
  document is the headline plus the documents of the user's training positives.
* item-knn: sum of item-item cosine similarities (users as features) between the job
  and the user's training positives.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ml.data import Feedback
from ml.features import EntityFeatures, FeatureSpace, fields_of
from ml.records import JobRecord, UserRecord
from ml.scoring.pairs import CatalogPairs
from ml.text import tokenize

# weights of the content-match score: sum of w * pair feature
CONTENT_WEIGHTS = {
    "skill_match": 1.0,
    "same_city": 1.0,
    "proximity": 0.5,
    "same_region": 0.5,
    "salary_fit": 0.25,
}


def positives_by_user(train: Sequence[Feedback]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for fb in train:
        if fb.label > 0:
            out[fb.user_id].append(fb.job_id)
    return out


class PopularityRanker:
    """Score = number of distinct users with a positive on the job in training."""

    def __init__(self, train: Sequence[Feedback], catalog_ids: Sequence[str]) -> None:
        index = {job_id: i for i, job_id in enumerate(catalog_ids)}
        counts = np.zeros(len(catalog_ids), dtype=np.float64)
        for fb in train:
            if fb.label > 0 and fb.job_id in index:
                counts[index[fb.job_id]] += 1.0
        self.scores = torch.from_numpy(counts)

    def __call__(self, user_rows: Tensor) -> Tensor:
        return self.scores.expand(len(user_rows), -1)

    @property
    def tie_break(self) -> Tensor:
        """Popularity scaled into [0, 1e-6]: orders ties of other scores."""
        return self.scores / self.scores.max().clamp(min=1) * 1e-6


class LocationPopularityRanker:
    """2 * in one of the user's cities + 1 * in one of the user's regions + popularity
    scaled into [0, 1) (see the module docstring)."""

    def __init__(
        self,
        users: EntityFeatures,
        user_ids: Sequence[str],
        jobs: EntityFeatures,
        job_index: dict[str, int],
        catalog: EntityFeatures,
        train: Sequence[Feedback],
        popularity: PopularityRanker,
    ) -> None:
        history = positives_by_user(train)
        self.cities: list[set[int]] = []
        self.regions: list[set[int]] = []
        for row, user_id in enumerate(user_ids):
            rows = [job_index[j] for j in history.get(user_id, ()) if j in job_index]
            cities = {int(users.attributes[row, 0]), *jobs.attributes[rows, 0].tolist()}
            regions = {int(users.attributes[row, 1]), *jobs.attributes[rows, 1].tolist()}
            self.cities.append(cities - {0})
            self.regions.append(regions - {0})
        self.job_city = catalog.attributes[:, 0].numpy()
        self.job_region = catalog.attributes[:, 1].numpy()
        pop = popularity.scores
        self.popularity = pop / (pop.max() + 1.0)

    def __call__(self, user_rows: Tensor) -> Tensor:
        return self.tiers(user_rows) + self.popularity

    def tiers(self, user_rows: Tensor) -> Tensor:
        """[U, N] float64: 2 for a job in one of the user's cities + 1 in a region."""
        out = torch.zeros((len(user_rows), len(self.job_city)), dtype=torch.float64)
        for i, row in enumerate(user_rows.tolist()):
            city = np.isin(self.job_city, list(self.cities[row]))
            region = np.isin(self.job_region, list(self.regions[row]))
            out[i] = torch.from_numpy(2.0 * city + 1.0 * region)
        return out


class ContentRanker:
    """Score = weighted sum of the pair features that ConvFM also sees
    (`CONTENT_WEIGHTS`); a one-millionth popularity term only breaks ties."""

    def __init__(
        self,
        space: FeatureSpace,
        users: EntityFeatures,
        jobs: EntityFeatures,
        popularity: PopularityRanker,
    ) -> None:
        names = [f.name for f in fields_of("dense")]
        self.weights = torch.tensor([CONTENT_WEIGHTS.get(n, 0.0) for n in names])
        self.users = users
        # the pair features of the whole catalog, the job side prepared once (equal to
        # `dense_features_of_user` up to float rounding; per user O(N), not O(N x H x L))
        self.pairs = CatalogPairs(space, jobs)
        self.tie_break = popularity.tie_break

    def __call__(self, user_rows: Tensor) -> Tensor:
        scores = torch.stack(
            [self.pairs.dense(self.users, int(row)) @ self.weights for row in user_rows]
        )
        return scores.double() + self.tie_break


def job_document(job: JobRecord) -> list[str]:
    place = job.place.label if job.place else ""
    return tokenize(f"{job.title} {job.company or ''} {place}")


class TfidfRanker:
    """Cosine of TF-IDF vectors (sublinear tf, smoothed idf) over title, company and
    place words; the user's document adds the headline to the training positives'."""

    def __init__(
        self,
        users: Sequence[UserRecord],
        jobs: Sequence[JobRecord],
        catalog_rows: np.ndarray,
        train: Sequence[Feedback],
    ) -> None:
        docs = {j.job_id: job_document(j) for j in jobs}
        catalog_docs = [docs[jobs[r].job_id] for r in catalog_rows]
        df = Counter(t for doc in catalog_docs for t in set(doc))
        self.vocab = {t: i for i, t in enumerate(sorted(df))}
        n = len(catalog_docs)
        self.idf = {t: math.log((1 + n) / (1 + df[t])) + 1.0 for t in df}
        self.jobs_matrix = self._matrix(catalog_docs).t().coalesce()  # [V, N]
        history = positives_by_user(train)
        self.user_docs = [
            tokenize(u.headline)
            + [t for j in history.get(u.user_id, ()) if j in docs for t in docs[j]]
            for u in users
        ]

    def _matrix(self, documents: Sequence[list[str]]) -> Tensor:
        """L2-normalised TF-IDF rows as a sparse [len(documents), V] tensor."""
        rows, cols, values = [], [], []
        for r, doc in enumerate(documents):
            counts = Counter(t for t in doc if t in self.vocab)
            weights = {t: (1.0 + math.log(c)) * self.idf[t] for t, c in counts.items()}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for t, w in weights.items():
                rows.append(r)
                cols.append(self.vocab[t])
                values.append(w / norm)
        indices = torch.tensor([rows, cols], dtype=torch.long).reshape(2, -1)
        return torch.sparse_coo_tensor(
            indices,
            values,
            (len(documents), len(self.vocab)),
            dtype=torch.float64,
            check_invariants=True,
        )

    def __call__(self, user_rows: Tensor) -> Tensor:
        users = self._matrix([self.user_docs[r] for r in user_rows.tolist()])
        with warnings.catch_warnings():  # sparse @ sparse goes through beta CSR kernels
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse.mm(users, self.jobs_matrix).to_dense()


class ItemKnnRanker:
    """score(u, j) = sum over the user's training positives i of cos(i, j), items as
    vectors of the users who liked them."""

    def __init__(
        self,
        user_index: dict[str, int],
        job_index: dict[str, int],
        catalog_rows: np.ndarray,
        train: Sequence[Feedback],
    ) -> None:
        pairs = sorted(
            {
                (user_index[f.user_id], job_index[f.job_id])
                for f in train
                if f.label > 0 and f.user_id in user_index and f.job_id in job_index
            }
        )
        n_users, n_jobs = len(user_index), len(job_index)
        rows = [u for u, _ in pairs]
        cols = [j for _, j in pairs]
        degree = np.bincount(cols, minlength=n_jobs).astype(np.float64)
        scale = 1.0 / np.sqrt(np.maximum(degree, 1.0))
        values = torch.ones(len(pairs), dtype=torch.float64)
        indices = torch.tensor([rows, cols], dtype=torch.long).reshape(2, -1)
        self.likes = torch.sparse_coo_tensor(
            indices, values, (n_users, n_jobs), check_invariants=True
        )
        scaled = torch.from_numpy(scale[cols])
        self.scaled = torch.sparse_coo_tensor(
            indices, scaled, (n_users, n_jobs), check_invariants=True
        )
        self.catalog_rows = torch.from_numpy(np.asarray(catalog_rows))

    def __call__(self, user_rows: Tensor) -> Tensor:
        with warnings.catch_warnings():  # sparse @ sparse goes through beta CSR kernels
            warnings.simplefilter("ignore", UserWarning)
            mine = torch.index_select(self.scaled, 0, user_rows)  # [U, J] history/sqrt(d_i)
            co_users = torch.sparse.mm(mine, self.likes.t())  # [U, all users]
            scores = torch.sparse.mm(co_users, self.scaled).to_dense()  # [U, J]
        return scores[:, self.catalog_rows]
