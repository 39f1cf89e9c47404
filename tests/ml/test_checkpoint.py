"""Checkpoints: weights in safetensors + JSON metadata, validated on load."""

import json

import pytest
import torch

from ml.checkpoint import (
    METADATA_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from tests.support.builders import fitted_space, random_model, random_records


@pytest.fixture
def saved(tmp_path):
    users, jobs, interactions = random_records()
    space = fitted_space(users, jobs, interactions)
    model = random_model(space)
    path = tmp_path / "ckpt"
    meta = save_checkpoint(path, model, space, metrics={"ndcg@10": 0.5}, data_fingerprint="abc")
    return path, model, space, users, jobs, meta


def test_save_then_load_gives_identical_scores(saved):
    path, model, _, users, jobs, meta = saved
    loaded = load_checkpoint(path)
    assert loaded.version == meta["model_version"]
    assert loaded.metadata["metrics"] == {"ndcg@10": 0.5}
    assert not loaded.model.training
    u, j = loaded.space.encode_users(users), loaded.space.encode_jobs(jobs)
    rows = torch.arange(len(jobs))
    x = loaded.space.pairs(u, torch.zeros_like(rows), j, rows)
    assert torch.equal(loaded.model.predict(x), model.predict(x))


def test_checkpoint_files_are_safetensors_and_json_not_pickle(saved):
    path = saved[0]
    assert sorted(p.name for p in path.iterdir()) == [METADATA_FILE, WEIGHTS_FILE]
    json.loads((path / METADATA_FILE).read_text())
    header_len = int.from_bytes((path / WEIGHTS_FILE).read_bytes()[:8], "little")
    header = json.loads((path / WEIGHTS_FILE).read_bytes()[8 : 8 + header_len])
    assert "embeddings.user.weight" in header  # safetensors header, not a pickle stream


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda p: (p / WEIGHTS_FILE).unlink(), "weights.safetensors missing"),
        (lambda p: (p / METADATA_FILE).write_text("{not json"), "not valid JSON"),
        (lambda p: (p / WEIGHTS_FILE).write_bytes(b"garbage"), "sha256"),
    ],
)
def test_damaged_checkpoints_fail_clearly(saved, damage, message):
    path = saved[0]
    damage(path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def _edit_metadata(path, edit):
    meta = json.loads((path / METADATA_FILE).read_text())
    edit(meta)
    (path / METADATA_FILE).write_text(json.dumps(meta))


def test_mismatches_fail_clearly(saved, tmp_path):
    path = saved[0]
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope")
    _edit_metadata(path, lambda m: m.update(format=99))
    with pytest.raises(CheckpointError, match="format 99"):
        load_checkpoint(path)
    _edit_metadata(path, lambda m: m.update(format=1))
    _edit_metadata(path, lambda m: m["model_config"].update(embedding_dim=64))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(path)
    _edit_metadata(path, lambda m: m["model_config"].update(embedding_dim=32, conv_kernel_size=4))
    with pytest.raises(CheckpointError, match="odd"):
        load_checkpoint(path)
    _edit_metadata(path, lambda m: m["model_config"].update(conv_kernel_size=3))
    _edit_metadata(path, lambda m: m["features"]["vocabularies"]["job"].append("extra"))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(path)
