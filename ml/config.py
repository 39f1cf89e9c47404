"""Hyper-parameters, validated, with the design's defaults and ranges.

Configuration is data: a TOML file with `[model]`, `[features]` and `[train]` tables
(see `configs/default.toml`), overridden by CLI flags. Out-of-range values fail with a
message that names the field and the allowed range.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Ablation = Literal["no_conv", "no_fm", "no_deep"]
ABLATIONS: tuple[Ablation, ...] = ("no_conv", "no_fm", "no_deep")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Strict):
    """ConvFM architecture. Ranges are those of the design."""

    embedding_dim: int = Field(default=32, ge=32, le=128, description="D, per-field embedding size")
    conv_filters: int = Field(default=128, ge=32, le=128, description="C, Conv1d output channels")
    conv_kernel_size: int = Field(default=5, ge=3, le=7, description="odd; 'same' padding")
    dropout_rate: float = Field(default=0.31, ge=0.1, le=0.5)
    hidden_dims: tuple[int, ...] = Field(default=(128, 64, 32), min_length=1, max_length=6)
    use_fm: bool = True
    use_conv: bool = True
    use_deep: bool = True

    @field_validator("conv_kernel_size")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError("conv_kernel_size must be odd (3, 5 or 7) for 'same' padding")
        return value

    @field_validator("hidden_dims")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= d <= 4096 for d in value):
            raise ValueError("every hidden dim must be between 1 and 4096")
        return value

    def ablated(self, ablation: Ablation) -> ModelConfig:
        """This config with one branch switched off."""
        flag = {"no_conv": "use_conv", "no_fm": "use_fm", "no_deep": "use_deep"}[ablation]
        return self.model_copy(update={flag: False})


class FeatureConfig(_Strict):
    """How model inputs are built from records (see `ml.features`)."""

    max_skills: int = Field(default=32, ge=1, le=256, description="skills kept per user or job")
    max_history: int = Field(
        default=16,
        ge=0,
        le=256,
        description="most recent liked jobs kept per user for the history fields",
    )
    history_decay: float = Field(
        default=0.36,
        gt=0.0,
        le=1.0,
        description="weight of the h-th most recent history job: decay ** h (1: all alike)",
    )
    id_embeddings: bool = Field(
        default=False,
        description="learn an embedding per user and per job id. Off by default: "
        "on sparse data (most held-out jobs never seen in training, as on the real job "
        "views) id vectors memorise and lose to content and history; turn it on where "
        "users and jobs have many interactions each",
    )
    min_id_count: int = Field(
        default=2,
        ge=1,
        description="with id_embeddings, users and jobs with fewer training "
        "positives map to <unk>: their embeddings would be noise, content scores them",
    )
    min_skill_count: int = Field(default=2, ge=1, description="rarer skills map to <unk>")
    min_attribute_count: int = Field(
        default=3,
        ge=1,
        description="cities, regions and companies seen fewer times among users "
        "and jobs map to <unk> (their match still counts through the pair fields)",
    )
    learned_term_min_df: int = Field(
        default=3, ge=1, description="title terms in >= this many jobs"
    )
    max_learned_terms: int = Field(default=2000, ge=0, le=100_000)
    proximity_scale_km: float = Field(
        default=50.0, gt=0, description="proximity = exp(-km / scale)"
    )


class TrainConfig(_Strict):
    """Optimisation and data sampling.

    The defaults of the loss, learning rate, negatives, dropouts and weight decay (and of
    the model's sizes and the history decay) are what `jobrec tune --trials 8` found on
    the job-views data, rounded (docs/benchmarks/ranking-quality.md).

    batch_size defaults to 1024, not the design's 32: on CPU cores a step costs far less
    per row at 1024 rows, so training sees several times more examples per second, and
    throughput is flat above that (`benchmarks/train_step.py` measures it; numbers in
    docs/benchmarks/measured-choices.md). Adam at lr 1e-3 still converges in a few
    epochs on the demo.
    """

    loss: Literal["pointwise", "bpr", "softmax"] = Field(
        default="bpr",
        description="pointwise BCE, BPR or sampled softmax over each positive's negatives",
    )
    learning_rate: float = Field(default=0.0012, ge=0.0001, le=0.01)
    batch_size: int = Field(default=1024, ge=1, le=65536)
    epochs: int = Field(default=30, ge=1, le=1000)
    patience: int = Field(default=3, ge=1, le=100, description="epochs without val NDCG gain")
    negative_ratio: int = Field(
        default=14, ge=1, le=100, description="sampled negatives per positive"
    )
    local_negative_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="share of sampled negatives drawn near the "
        "positive job (hard negatives: the model must rank within an area)",
    )
    local_negative_scope: Literal["city", "region"] = Field(
        default="region", description="'near' for local negatives: same city or same region"
    )
    id_dropout: float = Field(
        default=0.45,
        ge=0.0,
        lt=1.0,
        description="share of training rows whose user/job id is replaced by <unk>, so "
        "cold users and jobs are scored from their content",
    )
    history_as_of: bool = Field(
        default=True,
        description="each training example sees the history the user had when its "
        "feedback came (the positives before it), as a held-out item does; false: "
        "the user's whole training history, the example's own job left out",
    )
    history_dropout: float = Field(
        default=0.3,
        ge=0.0,
        lt=1.0,
        description="share of training rows whose history fields are zeroed, so new "
        "users known by their profile alone are scored from it",
    )
    weight_decay: float = Field(default=0.0005, ge=0.0, le=0.1)
    seed: int = 42
    eval_k: int = Field(default=10, ge=1, le=1000)
    max_val_users: int = Field(default=2000, ge=1, description="validation users per epoch")
    ablations: tuple[Ablation, ...] = Field(
        default=ABLATIONS, description="ablations trained and reported next to the model"
    )


class Config(_Strict):
    model: ModelConfig = ModelConfig()
    features: FeatureConfig = FeatureConfig()
    train: TrainConfig = TrainConfig()

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> Config:
        """Read a TOML file (optional), then apply `overrides` as "section.field"=value.

        Raises `ConfigError` with every problem listed.
        """
        data: dict[str, dict[str, Any]] = {"model": {}, "features": {}, "train": {}}
        if path is not None:
            try:
                loaded = tomllib.loads(Path(path).read_text())
            except FileNotFoundError as exc:
                raise ConfigError(f"config file not found: {path}") from exc
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
            unknown = set(loaded) - set(data)
            if unknown:
                raise ConfigError(f"unknown config sections: {sorted(unknown)}")
            for section, values in loaded.items():
                data[section].update(values)
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, name = dotted.partition(".")
            if section not in data or not name:
                raise ConfigError(f"bad override key {dotted!r}; use 'section.field'")
            data[section][name] = value
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc)) from exc


class ConfigError(ValueError):
    """A configuration that cannot be used; the message says what to change."""


def format_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        lines.append(f"{where}: {err['msg']} (got {err.get('input')!r})")
    return "invalid configuration:\n  " + "\n  ".join(lines)
