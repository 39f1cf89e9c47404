"""Pair features: the dense fields that match a user against a job.

Skill overlap (cosine of the two skill sets), same city and region, proximity
(exp(-km / scale), 0 when either side has no coordinates), salary fit, and the history
fields that match the job against the jobs the user liked before, the job itself left
out. Each is [B] float32; `stack_dense` puts them in `FIELDS` order, [B, Fd].

History weights: the h-th most recent history job (h = 0 the latest) weighs
`decay ** h` (`recency_weights`): shares are weighted shares, and the best skill overlap
and the best proximity are the best weighted ones, so the last views say most; with
decay 1 every history job counts alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ml.features.entities import EntityFeatures
from ml.features.fields import fields_of, longest_bag
from ml.geo import great_circle_km
from ml.vocab import PAD, UNK

if TYPE_CHECKING:
    from ml.features.space import FeatureSpace


def stack_dense(values: dict[str, Tensor]) -> Tensor:
    """[B, Fd]: the dense fields' values in `FIELDS` order."""
    return torch.stack([values[f.name] for f in fields_of("dense")], dim=1)


def recency_weights(depth: int, decay: float) -> Tensor:
    """[depth] float32: `decay ** h`, the weight of the h-th most recent history job."""
    return torch.full((depth,), float(decay)).pow(torch.arange(depth, dtype=torch.float32))


def dense_features(
    users: EntityFeatures,
    user_rows: Tensor,
    jobs: EntityFeatures,
    job_rows: Tensor,
    scale_km: float,
    decay: float = 1.0,
) -> Tensor:
    """The dense fields of each pair (users[user_rows[b]], jobs[job_rows[b]]), [B, Fd] in
    `FIELDS` order; `scale_km` is the proximity's, `decay` the history's."""
    u_attr = users.attributes[user_rows]
    j_attr = jobs.attributes[job_rows]
    j_skills = jobs.skills[job_rows]
    hist = HistoryMatch(
        users.history[user_rows],
        users.history_skills[user_rows],
        users.history_coords[user_rows],
        users.history_keys[user_rows],
        jobs.key[job_rows],
        decay,
    )
    return stack_dense(
        {
            "job_remote": jobs.remote[job_rows],
            "skill_match": skill_match(users.skills[user_rows], j_skills),
            "history_skill": hist.best_skill_match(j_skills),
            "same_city": same_key(u_attr[:, 0], j_attr[:, 0]),
            "history_city": hist.share_same(0, j_attr[:, 0]),
            "proximity": proximity(users.coords[user_rows], jobs.coords[job_rows], scale_km),
            "history_proximity": hist.best_proximity(jobs.coords[job_rows], scale_km),
            "same_region": same_key(u_attr[:, 1], j_attr[:, 1]),
            "history_region": hist.share_same(1, j_attr[:, 1]),
            "history_company": hist.share_same(2, j_attr[:, 2]),
            "salary_fit": salary_fit(users.salary[user_rows], jobs.salary[job_rows]),
        }
    )


def dense_features_of_user(
    space: FeatureSpace,
    users: EntityFeatures,
    user_row: int,
    jobs: EntityFeatures,
    job_rows: Tensor | None = None,
) -> Tensor:
    """`dense_features` for ONE user against many jobs (default: all), [n, Fd].

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
    weight = recency_weights(history.shape[0], space.config.history_decay)  # [H]
    weighted = valid * weight  # [n, H]

    def share_same(column: int, job_values: Tensor) -> Tensor:
        return history_share(history[:, column], job_values, valid, weight)

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
        return (cosine.T * weighted).max(dim=1).values

    scale = space.config.proximity_scale_km
    j_coords = jobs.coords[job_rows]

    def best_history_proximity() -> Tensor:
        past = users.history_coords[user_row]  # [H, 2]
        if past.shape[0] == 0:
            return torch.zeros(n)
        near = proximity(past.unsqueeze(0), j_coords.unsqueeze(1), scale)  # [n, H]
        return (near * weighted).max(dim=1).values

    return stack_dense(
        {
            "job_remote": jobs.remote[job_rows],
            "skill_match": skill_match(users.skills[user_row].unsqueeze(0).expand(n, -1), j_skills),
            "history_skill": best_history_skill(),
            "same_city": same_key(u_attr[0].expand(n), j_attr[:, 0]),
            "history_city": share_same(0, j_attr[:, 0]),
            "proximity": proximity(users.coords[user_row].expand(n, 2), j_coords, scale),
            "history_proximity": best_history_proximity(),
            "same_region": same_key(u_attr[1].expand(n), j_attr[:, 1]),
            "history_region": share_same(1, j_attr[:, 1]),
            "history_company": share_same(2, j_attr[:, 2]),
            "salary_fit": salary_fit(users.salary[user_row], jobs.salary[job_rows]),
        }
    )


def history_validity(history_keys: Tensor, job_keys: Tensor) -> Tensor:
    """[n, H]: which of ONE user's H history jobs count against each of n jobs (real
    entries, and never the job itself)."""
    return (history_keys != 0).unsqueeze(0) & (history_keys.unsqueeze(0) != job_keys.unsqueeze(1))


def history_share(
    past_values: Tensor, job_values: Tensor, valid: Tensor, weight: Tensor | None = None
) -> Tensor:
    """Weighted share of ONE user's valid history jobs ([H] attribute hashes, valid
    [n, H], `weight` [H], default 1 each) with each job's (known) value: [n] -> [n]."""
    if past_values.shape[0] == 0:
        return torch.zeros(len(job_values))
    if weight is None:
        weight = torch.ones(past_values.shape[0])
    same = (
        (past_values.unsqueeze(0) == job_values.unsqueeze(1))
        & valid
        & (job_values != 0).unsqueeze(1)
    )
    return (same * weight).sum(1) / _total(valid * weight)


def _total(weights: Tensor) -> Tensor:
    """[n, H] -> [n] row sums, 1 where a row has no weight (its shares are 0 then)."""
    total = weights.sum(1)
    return torch.where(total > 0, total, torch.ones_like(total))


class HistoryMatch:
    """Matches a batch of jobs against their users' history, the job itself excluded.

    history [B, H, 3] (city, region, company rows), history_skills [B, H, L],
    history_coords [B, H, 2], history_keys [B, H] (0 = none), job_keys [B]; the h-th
    history job weighs `decay ** h`.
    """

    def __init__(
        self,
        history: Tensor,
        history_skills: Tensor,
        history_coords: Tensor,
        history_keys: Tensor,
        job_keys: Tensor,
        decay: float = 1.0,
    ) -> None:
        self.history = history
        self.history_skills = history_skills
        self.history_coords = history_coords
        self.valid = (history_keys != 0) & (history_keys != job_keys.unsqueeze(1))  # [B, H]
        self.weighted = self.valid * recency_weights(history_keys.shape[1], decay)  # [B, H]
        self.count = _total(self.weighted)

    def share_same(self, column: int, job_values: Tensor) -> Tensor:
        """Share of the user's other history jobs with the job's (known) value: [B]."""
        if self.history.shape[1] == 0:
            return torch.zeros(len(job_values))
        same = (
            (self.history[:, :, column] == job_values.unsqueeze(1))
            & self.valid
            & (job_values != 0).unsqueeze(1)
        )
        return (same * self.weighted).sum(1) / self.count

    def best_proximity(self, job_coords: Tensor, scale_km: float) -> Tensor:
        """Highest weighted proximity of the job to one of the other history jobs: [B]."""
        if self.valid.shape[1] == 0:
            return torch.zeros(len(job_coords))
        near = proximity(self.history_coords, job_coords.unsqueeze(1), scale_km)  # [B, H]
        return (near * self.weighted).max(dim=1).values

    def best_skill_match(self, job_skills: Tensor) -> Tensor:
        """Highest weighted skill cosine between the job and one of the other history
        jobs: [B]."""
        batch, depth = self.valid.shape
        if depth == 0:
            return torch.zeros(len(job_skills))
        past = self.history_skills.reshape(batch * depth, -1)
        cosine = skill_match(past, job_skills.repeat_interleave(depth, dim=0))
        cosine = cosine.view(batch, depth) * self.weighted
        return cosine.max(dim=1).values


# -- pair features: [B] float32 each ---------------------------------------------------


def skill_match(user_skills: Tensor, job_skills: Tensor) -> Tensor:
    """Cosine similarity of two skill sets ([B, L] rows, 0 = padding) -> [B] in [0, 1].

    Only known skills (row > 1) can match; unknown ones still count in the set sizes.
    """
    width = max(longest_bag(user_skills), longest_bag(job_skills), 1)
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
