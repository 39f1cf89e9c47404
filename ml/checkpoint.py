"""Checkpoints: weights in safetensors + JSON metadata in one directory. No pickle.

    <dir>/weights.safetensors   tensors of ConvFM.state_dict()
    <dir>/metadata.json         format, model version, config, feature space
                                (vocabularies, learned terms), metrics, data
                                fingerprint, created_at, sha256 of the weights

`load_checkpoint` checks all of it and raises `CheckpointError` with a message that
says what is wrong (missing file, corrupt weights, another format, shapes that do not
match the config) instead of failing later inside torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import ml
from ml.config import ModelConfig
from ml.features import FeatureSpace
from ml.model import ConvFM

CHECKPOINT_FORMAT = 1
WEIGHTS_FILE = "weights.safetensors"
METADATA_FILE = "metadata.json"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded; the message says why."""


@dataclass
class Checkpoint:
    model: ConvFM
    space: FeatureSpace
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        return self.metadata["model_version"]


def save_checkpoint(
    path: str | Path,
    model: ConvFM,
    space: FeatureSpace,
    *,
    metrics: dict[str, Any] | None = None,
    data_fingerprint: str = "",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write `path`/weights.safetensors and `path`/metadata.json; return the metadata.

    Files are written to temporary names and renamed, so a reader never sees half a
    checkpoint.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with tempfile.NamedTemporaryFile(dir=path, suffix=".tmp", delete=False) as tmp:
        tmp_weights = Path(tmp.name)
    save_file(tensors, str(tmp_weights))
    digest = _sha256(tmp_weights)
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "library_version": ml.__version__,
        "model_version": f"convfm-{created:%Y%m%d-%H%M%S}-{digest[:8]}",
        "created_at": created.isoformat(),
        "model_config": model.config.model_dump(mode="json"),
        "features": space.to_json(),
        "metrics": metrics or {},
        "data_fingerprint": data_fingerprint,
        "weights_sha256": digest,
        **(extra or {}),
    }
    with tempfile.NamedTemporaryFile("w", dir=path, suffix=".tmp", delete=False) as tmp:
        json.dump(metadata, tmp, indent=1)
        tmp_meta = Path(tmp.name)
    os.replace(tmp_weights, path / WEIGHTS_FILE)
    os.replace(tmp_meta, path / METADATA_FILE)
    return metadata


def checkpoint_stamp(path: str | Path) -> tuple[int, int] | None:
    """(mtime in ns, size) of the checkpoint's metadata, written last by
    `save_checkpoint`: it changes whenever a new checkpoint lands. None when absent."""
    try:
        stat = (Path(path) / METADATA_FILE).stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load and validate a checkpoint directory; the model comes back in eval mode."""
    path = Path(path)
    meta_path, weights_path = path / METADATA_FILE, path / WEIGHTS_FILE
    metadata = _read_metadata(path)
    if _sha256(weights_path) != metadata["weights_sha256"]:
        raise CheckpointError(
            f"{weights_path} does not match its sha256 in {METADATA_FILE} (corrupt or replaced)"
        )
    try:
        config = ModelConfig.model_validate(metadata["model_config"])
        space = FeatureSpace.from_json(metadata["features"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{meta_path}: {exc}") from exc
    model = ConvFM(space.vocab_sizes(), config)
    _load_weights(model, weights_path)
    model.eval()
    return Checkpoint(model=model, space=space, metadata=metadata)


def _read_metadata(path: Path) -> dict[str, Any]:
    """The metadata of the checkpoint in `path`, once both files are there and it is
    JSON of this format with the keys `load_checkpoint` reads."""
    if not path.is_dir():
        raise CheckpointError(f"checkpoint directory not found: {path}")
    meta_path, weights_path = path / METADATA_FILE, path / WEIGHTS_FILE
    for required in (meta_path, weights_path):
        if not required.is_file():
            raise CheckpointError(f"checkpoint {path} is incomplete: {required.name} missing")
    try:
        metadata = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{meta_path} is not valid JSON: {exc}") from exc
    if not isinstance(metadata, dict) or metadata.get("format") != CHECKPOINT_FORMAT:
        found = metadata.get("format") if isinstance(metadata, dict) else None
        raise CheckpointError(
            f"{meta_path}: checkpoint format {found!r}, this code reads {CHECKPOINT_FORMAT}"
        )
    for key in ("model_version", "model_config", "features", "weights_sha256"):
        if key not in metadata:
            raise CheckpointError(f"{meta_path} lacks '{key}'")
    return metadata


def _load_weights(model: ConvFM, weights_path: Path) -> None:
    """Load the safetensors file into `model`, once it holds exactly the model's tensors
    with the model's shapes and zero padding rows."""
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights_path} is not a readable safetensors file: {exc}") from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{weights_path} does not match this model: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"{weights_path}: tensor {name} has shape {tuple(tensor.shape)}, the config "
                f"and vocabularies need {tuple(expected[name].shape)}"
            )
    model.load_state_dict(tensors)
    if not model.padding_is_zero():
        raise CheckpointError(f"{weights_path}: padding rows (index 0) must be zero")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
