"""ConvFM as a whole: shapes, batch of one, determinism, unknown ids, ablations, config."""

import pytest
import torch

from ml.config import Config, ConfigError, ModelConfig
from ml.features import FIELDS, fields_of
from ml.model import ConvFM
from ml.vocab import UNK
from tests.support.builders import fitted_space, random_model, random_records


@pytest.fixture(scope="module")
def setup():
    users, jobs, interactions = random_records()
    space = fitted_space(users, jobs, interactions)
    return space, space.encode_users(users), space.encode_jobs(jobs)


def pairs(space, u, j, user_rows, job_rows):
    return space.pairs(u, torch.tensor(user_rows), j, torch.tensor(job_rows))


def test_shapes_and_probability_range(setup):
    space, u, j = setup
    model = random_model(space)
    x = pairs(space, u, j, [0, 1, 2], [3, 4, 5])
    assert x.categorical.shape == (3, len(fields_of("categorical")))
    assert x.bags.shape[:2] == (3, len(fields_of("bag")))
    assert x.dense.shape == (3, len(fields_of("dense")))
    assert model.field_embeddings(x).shape == (3, len(FIELDS), 32)
    scores = model.predict(x)
    assert scores.shape == (3,)
    assert ((scores >= 0) & (scores <= 1)).all()


def test_logit_is_the_sum_of_its_terms(setup):
    space, u, j = setup
    model = random_model(space)
    x = pairs(space, u, j, [0, 1], [2, 3])
    with torch.no_grad():
        e = model.field_embeddings(x)
        deep_in = torch.cat([e.flatten(1), model.conv(e[:, model.conv_fields])], dim=1)
        expected = model.first_order(x) + model.fm(e) + model.deep(deep_in)
        torch.testing.assert_close(model(x), expected)


def test_batch_of_one_trains_and_predicts(setup):
    space, u, j = setup
    model = ConvFM(space.vocab_sizes(), ModelConfig(embedding_dim=32, conv_filters=32))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = pairs(space, u, j, [0], [1])
    model.train()
    before = model(x).detach()
    for _ in range(3):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), torch.ones(1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.isfinite(loss)
    model.eval()
    after = model.predict(x)
    assert after.shape == (1,)
    assert after.item() > torch.sigmoid(before).item()  # it learned from that one row


def test_eval_mode_is_deterministic(setup):
    space, u, j = setup
    model = random_model(space)
    x = pairs(space, u, j, [0, 1, 2, 3], [0, 1, 2, 3])
    assert torch.equal(model.predict(x), model.predict(x))


def test_unseen_ids_map_to_unknown_and_score(setup):
    space, _, _ = setup
    from ml.records import JobRecord, UserRecord

    stranger = UserRecord(user_id="never-seen", skills=("python", "brand-new-skill"))
    new_job = JobRecord(job_id="new-job", title="Quantum Gardener", company="Unheard Of Inc")
    u = space.encode_users([stranger])
    j = space.encode_jobs([new_job])
    assert u.categorical[0, 0] == UNK and j.categorical[0, 0] == UNK
    assert j.categorical[0, 3] == UNK  # unknown company
    score = random_model(space).predict(space.pairs(u, torch.tensor([0]), j, torch.tensor([0])))
    assert torch.isfinite(score).all() and 0 <= score.item() <= 1


@pytest.mark.parametrize("ablation", ["no_conv", "no_fm", "no_deep"])
def test_ablations_drop_their_branch(setup, ablation):
    space, u, j = setup
    config = ModelConfig(embedding_dim=32, conv_filters=32).ablated(ablation)
    model = random_model(space, config)
    assert (model.conv is None) == (ablation == "no_conv")
    assert (model.fm is None) == (ablation == "no_fm")
    assert (model.deep is None) == (ablation == "no_deep")
    assert model(pairs(space, u, j, [0, 1], [1, 2])).shape == (2,)


def test_config_defaults_are_the_files_and_the_designs_values_stay_valid():
    """The defaults are configs/default.toml (what `jobrec tune` found on the job-views
    data); the design's values (64, 64, 3, 0.2, lr 1e-3) remain a valid config, as
    configs/demo.toml uses them."""
    from tests.support.paths import REPO

    assert Config.load(REPO / "configs" / "default.toml") == Config()
    design = Config.load(
        **{
            "model.embedding_dim": 64,
            "model.conv_filters": 64,
            "model.conv_kernel_size": 3,
            "model.dropout_rate": 0.2,
            "train.learning_rate": 0.001,
        }
    )
    assert design.model.hidden_dims == (128, 64, 32)
    demo = Config.load(REPO / "configs" / "demo.toml")
    assert (demo.model.embedding_dim, demo.model.conv_kernel_size) == (64, 3)


@pytest.mark.parametrize(
    "override,message",
    [
        ({"model.embedding_dim": 16}, "model.embedding_dim"),
        ({"model.conv_kernel_size": 4}, "odd"),
        ({"model.conv_kernel_size": 9}, "conv_kernel_size"),
        ({"model.dropout_rate": 0.6}, "dropout_rate"),
        ({"train.learning_rate": 0.1}, "learning_rate"),
        ({"model.hidden_dims": []}, "hidden_dims"),
        ({"model.unknown": 1}, "unknown"),
    ],
)
def test_bad_hyper_parameters_fail_with_clear_messages(override, message):
    with pytest.raises(ConfigError, match=message):
        Config.load(**override)


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[model]\nembedding_dim = 96\nconv_kernel_size = 5\n[train]\nseed = 3\n")
    config = Config.load(path, **{"train.seed": 11})
    assert (config.model.embedding_dim, config.model.conv_kernel_size) == (96, 5)
    assert config.train.seed == 11
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Config.load(bad)
    with pytest.raises(ConfigError, match="not found"):
        Config.load(tmp_path / "missing.toml")


def test_shipped_configs_are_valid():
    from tests.support.paths import REPO

    for path in (REPO / "configs").glob("*.toml"):
        Config.load(path)
