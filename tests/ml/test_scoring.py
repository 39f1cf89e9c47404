"""The catalog scorer equals the reference forward on random models and catalogs."""

import math

import pytest
import torch

from ml.config import ModelConfig
from ml.features import dense_features_of_user, fields_of
from ml.scoring import CatalogPairs, CatalogScorer, score_catalog
from ml.scoring import first_stage as first_stage_module
from ml.scoring import pairs as pairs_module
from ml.scoring import scorer as scorer_module
from tests.support.builders import fitted_space, random_model, random_records

CONFIGS = [
    ModelConfig(embedding_dim=32, conv_filters=32, conv_kernel_size=3),
    ModelConfig(),  # the defaults (tuned on the job-views data)
    ModelConfig(embedding_dim=64, conv_filters=64, conv_kernel_size=3, dropout_rate=0.2),  # design
    ModelConfig(embedding_dim=48, conv_filters=40, conv_kernel_size=7, hidden_dims=(24, 24)),
    ModelConfig(embedding_dim=32, conv_filters=32, use_fm=False),
    ModelConfig(embedding_dim=32, conv_filters=32, use_conv=False),
    ModelConfig(embedding_dim=32, conv_filters=32, use_deep=False),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "config",
    CONFIGS,
    ids=lambda c: (
        f"D{c.embedding_dim}k{c.conv_kernel_size}fm{c.use_fm:d}conv{c.use_conv:d}deep{c.use_deep:d}"
    ),
)
@pytest.mark.parametrize("block", [scorer_module.TOWER_BLOCK, 5])  # 37 jobs: one, or 8
def test_catalog_scorer_equals_reference_forward(config, seed, block, monkeypatch):
    monkeypatch.setattr(scorer_module, "TOWER_BLOCK", block)
    users, jobs, interactions = random_records(n_users=10, n_jobs=37, seed=seed)
    space = fitted_space(users, jobs, interactions)
    model = random_model(space, config, seed=seed)
    u, j = space.encode_users(users), space.encode_jobs(jobs)
    rows = torch.arange(len(users))
    reference = score_catalog(model, space, u, rows, j, max_pairs=50)  # many small batches
    fast = CatalogScorer(model, space, j).score_many(u, rows)
    assert fast.shape == reference.shape == (len(users), len(jobs))
    assert (fast - reference).abs().max().item() < 1e-5


@pytest.mark.parametrize("block", [scorer_module.TOWER_BLOCK, 3])
def test_scoring_a_subset_of_candidates(block, monkeypatch):
    monkeypatch.setattr(scorer_module, "TOWER_BLOCK", block)
    users, jobs, interactions = random_records(seed=5)
    space = fitted_space(users, jobs, interactions)
    model = random_model(space)
    u, j = space.encode_users(users), space.encode_jobs(jobs)
    scorer = CatalogScorer(model, space, j)
    subset = torch.tensor([7, 2, 11, 0, 5, 19, 3, 8, 13, 1])
    full = scorer.score(u, 3)
    torch.testing.assert_close(scorer.score(u, 3, subset), full[subset])
    one = scorer.score(u, 3, torch.tensor([4]))
    assert one.shape == (1,)


def test_scorer_refuses_a_model_with_nonzero_padding():
    users, jobs, interactions = random_records()
    space = fitted_space(users, jobs, interactions)
    model = random_model(space)
    with torch.no_grad():
        model.embeddings["city"].weight[0] += 1.0
    with pytest.raises(ValueError, match="padding"):
        CatalogScorer(model, space, space.encode_jobs(jobs))


@pytest.mark.parametrize("block", [first_stage_module.FIRST_STAGE_BLOCK, 4])
@pytest.mark.parametrize("use_fm", [True, False])
def test_first_stage_is_the_full_score_of_a_model_without_conv_and_deep(use_fm, block, monkeypatch):
    """The first stage is the first-order and FM terms in full, pair fields included:
    for a model without conv and deep it equals the reference forward's logit up to a
    per-user constant, on the whole catalog and on a subset, in one block of candidates
    or in several."""
    monkeypatch.setattr(first_stage_module, "FIRST_STAGE_BLOCK", block)
    users, jobs, interactions = random_records(seed=3)
    space = fitted_space(users, jobs, interactions)
    model = random_model(
        space,
        ModelConfig(
            embedding_dim=32, conv_filters=32, use_fm=use_fm, use_conv=False, use_deep=False
        ),
    )
    with torch.no_grad():
        model.dense_weights.normal_()  # random, so that the first-order pair terms count
    u, j = space.encode_users(users), space.encode_jobs(jobs)
    scorer = CatalogScorer(model, space, j)
    job_rows = torch.arange(len(jobs))
    for row in range(len(users)):
        reference = model(space.pairs(u, torch.full_like(job_rows, row), j, job_rows))
        gap = reference - scorer.first_stage(u, row)
        assert (gap - gap[0]).abs().max().item() < 1e-5
    subset = torch.tensor([5, 1, 8])
    torch.testing.assert_close(scorer.first_stage(u, 2, subset), scorer.first_stage(u, 2)[subset])
    pairs = scorer.pair_features(u, 2, subset)
    torch.testing.assert_close(scorer.score(u, 2, subset, pairs=pairs), scorer.score(u, 2)[subset])


def test_shortlist_first_stage_is_the_exact_one_up_to_int8_rounding():
    """`first_stage(exact=False)` over the whole catalog takes S_job . S_user from int8
    codes of S_job: each value off by at most half its job's scale, so each dot by at
    most that times sum |S_user|. Rows given explicitly are exact either way."""
    users, jobs, interactions = random_records(seed=6)
    space = fitted_space(users, jobs, interactions)
    u, j = space.encode_users(users), space.encode_jobs(jobs)
    scorer = CatalogScorer(random_model(space), space, j)
    subset = torch.tensor([4, 0, 9])
    for row in range(len(users)):
        exact, rough = scorer.first_stage(u, row), scorer.first_stage(u, row, exact=False)
        bound = 0.5 * scorer.stage1.shortlist_scales * scorer.user_parts(u, row).s[0].abs().sum()
        assert ((rough - exact).abs() <= bound + 1e-5).all(), row
        assert not torch.equal(rough, exact)
        torch.testing.assert_close(
            scorer.first_stage(u, row, subset, exact=False), exact[subset], rtol=0, atol=1e-5
        )


@pytest.mark.parametrize("route", ["subset", "whole catalog"])
def test_pair_features_of_a_subset_are_the_same_by_either_route(route, monkeypatch):
    """A few candidates get their own pair features; past `WHOLE_CATALOG_SHARE` of the
    catalog they are cut from the whole catalog's (cheaper per row). Same values."""
    monkeypatch.setattr(scorer_module, "WHOLE_CATALOG_SHARE", 1.0 if route == "subset" else 0.0)
    users, jobs, interactions = random_records(seed=5)
    space = fitted_space(users, jobs, interactions)
    u, j = space.encode_users(users), space.encode_jobs(jobs)
    scorer = CatalogScorer(random_model(space), space, j)
    subset = torch.tensor([7, 0, 3, 11])
    for row in range(len(users)):
        torch.testing.assert_close(
            scorer.pair_features(u, row, subset),
            scorer.pairs.dense(u, row, pair_only=True)[subset],
            rtol=0,
            atol=1e-5,
        )


@pytest.mark.parametrize("decay", [1.0, 0.6])
@pytest.mark.parametrize("seed", [0, 4])
def test_mended_stand_in_pairs_equal_the_true_pairs(seed, decay):
    """A first stage's pair features carry a stand-in for `history_skill` (the cosine
    with the union of the history's skills); `mend_pairs` gives the rows kept the true
    values, the user's own history jobs (left out of their own match) included."""
    users, jobs, interactions = random_records(n_users=15, n_jobs=40, seed=seed)
    space = fitted_space(users, jobs, interactions, history_decay=decay)
    u, j = space.encode_users(users), space.encode_jobs(jobs)
    scorer = CatalogScorer(random_model(space), space, j)
    column = scorer.history_skill_column
    own_rows = 0
    stand_ins_differ = False
    for row in range(len(users)):
        true = scorer.pair_features(u, row)
        stand_in = scorer.pair_features(u, row, stand_in=True)
        stand_ins_differ |= not torch.equal(stand_in[:, column], true[:, column])
        others = [c for c in range(true.shape[1]) if c != column]
        # skill_match comes from a sparse product with fewer columns: equal up to
        # rounding (MKL's sparse kernel may round differently with the column count)
        torch.testing.assert_close(stand_in[:, others], true[:, others], rtol=0, atol=1e-6)
        kept = torch.randperm(len(jobs), generator=torch.Generator().manual_seed(row))[:25]
        own_rows += int(
            torch.isin(j.key[kept], u.history_keys[row][u.history_keys[row] != 0]).sum()
        )
        mended = scorer.mend_pairs(u, row, kept, stand_in.index_select(0, kept))
        torch.testing.assert_close(mended, true.index_select(0, kept), rtol=0, atol=1e-6)
    assert stand_ins_differ and own_rows > 0


@pytest.mark.parametrize("decay", [1.0, 0.6])
@pytest.mark.parametrize("skills_by", ["lists", "product"])
@pytest.mark.parametrize("seed", [0, 4])
def test_catalog_pairs_equal_the_reference_dense_features(seed, skills_by, decay, monkeypatch):
    """The whole-catalog pair features (skill overlaps by either route, per-place
    proximity, O(N) history shares, the user's own history jobs recomputed
    leave-one-out) equal `dense_features_of_user`."""
    monkeypatch.setattr(
        pairs_module, "SKILL_LISTS_SHARE", math.inf if skills_by == "lists" else 0.0
    )
    users, jobs, interactions = random_records(n_users=15, n_jobs=40, seed=seed)
    space = fitted_space(users, jobs, interactions, history_decay=decay)
    u, j = space.encode_users(users), space.encode_jobs(jobs)
    pairs = CatalogPairs(space, j)
    own_history_in_catalog = 0
    for row in range(len(users)):
        own_history_in_catalog += int(torch.isin(j.key, u.history_keys[row]).sum())
        reference = dense_features_of_user(space, u, row, j)
        torch.testing.assert_close(pairs.dense(u, row), reference, rtol=0, atol=1e-5)
        job_side = torch.tensor([f.side == "job" for f in fields_of("dense")])
        torch.testing.assert_close(
            pairs.dense(u, row, pair_only=True), reference * ~job_side, rtol=0, atol=1e-5
        )
    assert own_history_in_catalog > 0  # the leave-one-out rows were exercised
    assert j.coords.isnan().any() and not j.coords.isnan().all()  # with and without place


@pytest.mark.parametrize("stand_in", [False, True])
@pytest.mark.parametrize("seed", [0, 4])
def test_first_stage_of_a_pair_table_equals_the_dense_route(seed, stand_in):
    """The whole catalog's first stage from a `PairTable` (setting fields once per
    setting, one compiled pass; the user's own history jobs from their own rows) equals
    the blocked torch products over the table's dense [N, Fd] (for a shortlist, up to
    the int8 rounding tested above); the table's rows are the dense rows, own history
    jobs included."""
    users, jobs, interactions = random_records(n_users=15, n_jobs=40, seed=seed)
    space = fitted_space(users, jobs, interactions)
    u, j = space.encode_users(users), space.encode_jobs(jobs)
    scorer = CatalogScorer(random_model(space), space, j)
    own_rows = 0
    for row in range(len(users)):
        user = scorer.user_parts(u, row)
        table = scorer.pair_table(u, row, stand_in=stand_in)
        dense = table.dense()
        own_rows += len(table.own_rows)
        torch.testing.assert_close(
            scorer.first_stage(u, row, None, user, table),
            scorer.first_stage(u, row, None, user, dense),
            rtol=0,
            atol=1e-5,
        )
        rows = torch.cat([table.own_rows, torch.tensor([3, 0, 17])])
        torch.testing.assert_close(table.rows(rows), dense[rows], rtol=0, atol=0)
    assert own_rows > 0  # the rows that leave themselves out were exercised
    with pytest.raises(ValueError, match="whole catalog"):
        scorer.first_stage(u, 0, torch.tensor([1]), None, table)
