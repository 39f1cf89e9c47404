"""ConvFM: linear + factorization machine + Conv1d over field embeddings + deep MLP.

    logit = first_order(x) + FM(E) + deep(concat(flatten(E), conv_pool(E_side)))
    score = sigmoid(logit)

E [B, F, D] stacks the field embeddings in `ml.features.FIELDS` order; E_side [B, Fs, D]
keeps the user and job fields (side "user" or "job"), the ones the Conv1d runs over
(`ml.features` says why the pair fields stay out of it):

* categorical field: its vocabulary's embedding row;
* bag (multi-valued) field: the masked mean of its rows (padding never counts);
* dense field with value x: x * v_f, one learned vector per field.

Vocabularies shared by several fields (user and job skills, cities, regions, companies)
share one embedding table, which is what makes a user's and a job's values comparable.
The first-order term is a global bias plus one learned weight per feature value and
field (a field-specific table), and w_f * x for dense fields.

Ablations (`ModelConfig.use_fm/use_conv/use_deep`): without the deep tower the conv
features get their own Linear(C, 1) head, so "no deep" still measures the conv branch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import torch
from torch import Tensor, nn

from ml.config import ModelConfig
from ml.features import FIELDS, Field, ModelInput
from ml.layers import ConvPooling, DeepTower, FactorizationMachine, bag_mean


class ConvFM(nn.Module):
    """Convolutional factorization machine over the fields of a (user, job) pair.

    Args:
        vocab_sizes: rows per vocabulary (index 0 padding, 1 unknown).
        config: architecture hyper-parameters.
        fields: field layout, default `ml.features.FIELDS`.

    forward(ModelInput with B rows) -> logits [B]; `predict` gives sigmoid scores.

    >>> from ml.features import ModelInput
    >>> m = ConvFM({"user": 3, "job": 3, "skill": 4, "city": 3, "region": 3,
    ...             "company": 3}, ModelConfig(embedding_dim=32)).eval()
    >>> x = ModelInput(torch.ones(2, 8, dtype=torch.long),
    ...                torch.zeros(2, 2, 5, dtype=torch.long), torch.zeros(2, 11))
    >>> m(x).shape
    torch.Size([2])
    """

    order: Tensor  # buffers: E's fields back in `fields` order; the conv's fields
    conv_index: Tensor

    def __init__(
        self,
        vocab_sizes: Mapping[str, int],
        config: ModelConfig | None = None,
        fields: Sequence[Field] = FIELDS,
    ) -> None:
        super().__init__()
        self.config = config = config or ModelConfig()
        self.fields = tuple(fields)
        dim = config.embedding_dim
        self.categorical = [f for f in self.fields if f.kind == "categorical"]
        self.bags = [f for f in self.fields if f.kind == "bag"]
        n_dense = sum(f.kind == "dense" for f in self.fields)
        vocabs = sorted({f.vocab for f in self.fields if f.vocab})
        missing = [v for v in vocabs if v not in vocab_sizes]
        if missing:
            raise ValueError(f"vocab_sizes lacks {missing}")

        self.embeddings = nn.ModuleDict(
            {v: nn.Embedding(vocab_sizes[v], dim, padding_idx=0) for v in vocabs}
        )
        self.weights = nn.ModuleDict(
            {
                f.name: nn.Embedding(vocab_sizes[_vocab(f)], 1, padding_idx=0)
                for f in (*self.categorical, *self.bags)
            }
        )
        self.dense_vectors = nn.Parameter(torch.empty(n_dense, dim))
        self.dense_weights = nn.Parameter(torch.zeros(n_dense))
        self.bias = nn.Parameter(torch.zeros(()))
        # Position of each field in E when the kinds are concatenated as
        # [categorical..., bags..., dense...]; `order` puts them back in FIELDS order.
        by_kind = [*self.categorical, *self.bags, *(f for f in self.fields if f.kind == "dense")]
        self.register_buffer(
            "order", torch.tensor([by_kind.index(f) for f in self.fields]), persistent=False
        )
        self.conv_fields = [i for i, f in enumerate(self.fields) if f.side != "pair"]
        self.register_buffer("conv_index", torch.tensor(self.conv_fields), persistent=False)

        self.fm: FactorizationMachine | None = FactorizationMachine() if config.use_fm else None
        self.conv: ConvPooling | None = (
            ConvPooling(dim, config.conv_filters, config.conv_kernel_size)
            if config.use_conv
            else None
        )
        conv_out = config.conv_filters if config.use_conv else 0
        self.deep: DeepTower | None
        self.conv_head: nn.Linear | None
        if config.use_deep:
            self.deep = DeepTower(
                len(self.fields) * dim + conv_out, config.hidden_dims, config.dropout_rate
            )
            self.conv_head = None
        else:
            self.deep = None
            self.conv_head = nn.Linear(conv_out, 1) if config.use_conv else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for vocab in self.embeddings:
            table = self.embedding(vocab)
            nn.init.normal_(table.weight, std=0.05)
            with torch.no_grad():
                table.weight[0].zero_()
        for name in self.weights:
            nn.init.zeros_(self.field_weights(name).weight)
        nn.init.normal_(self.dense_vectors, std=0.05)

    def padding_is_zero(self) -> bool:
        """True when every table's padding row (index 0) is zero, as training keeps it.

        Padding must contribute nothing: the catalog scorer relies on it.
        """
        tables = [*map(self.embedding, self.embeddings), *map(self.field_weights, self.weights)]
        return all(bool((t.weight[0] == 0).all()) for t in tables)

    def embedding(self, vocab: str) -> nn.Embedding:
        """The [V, D] embedding table of a vocabulary."""
        return cast(nn.Embedding, self.embeddings[vocab])

    def field_weights(self, field: str) -> nn.Embedding:
        """The [V, 1] first-order weights of a categorical or bag field."""
        return cast(nn.Embedding, self.weights[field])

    # -- pieces --------------------------------------------------------------------------

    def field_embeddings(self, x: ModelInput) -> Tensor:
        """E: [B, F, D], fields in `self.fields` order."""
        parts = [
            self.embedding(_vocab(f))(x.categorical[:, i]) for i, f in enumerate(self.categorical)
        ]
        parts += [
            bag_mean(self.embedding(_vocab(f)).weight, x.bags[:, i])
            for i, f in enumerate(self.bags)
        ]
        stacked = torch.stack(parts, dim=1)
        dense = x.dense.unsqueeze(-1) * self.dense_vectors  # [B, Fd, D]
        return torch.cat([stacked, dense], dim=1).index_select(1, self.order)

    def first_order(self, x: ModelInput) -> Tensor:
        """bias + sum of per-value weights + w . dense: [B]."""
        out = self.bias + x.dense @ self.dense_weights
        for i, f in enumerate(self.categorical):
            out = out + self.field_weights(f.name)(x.categorical[:, i]).squeeze(-1)
        for i, f in enumerate(self.bags):
            out = out + bag_mean(self.field_weights(f.name).weight, x.bags[:, i]).squeeze(-1)
        return out

    def conv_features(self, embeddings: Tensor) -> Tensor:
        """Conv1d + ReLU + mean over the user and job fields of E [B, F, D] -> [B, C]."""
        if self.conv is None:
            raise ValueError("this model has no conv branch (use_conv=False)")
        return self.conv(embeddings.index_select(1, self.conv_index))

    def forward(self, x: ModelInput) -> Tensor:
        """Logits [B]."""
        embeddings = self.field_embeddings(x)
        logit = self.first_order(x)
        if self.fm is not None:
            logit = logit + self.fm(embeddings)
        conv = self.conv_features(embeddings) if self.conv is not None else None
        if self.deep is not None:
            deep_in = embeddings.flatten(1)
            if conv is not None:
                deep_in = torch.cat([deep_in, conv], dim=1)
            logit = logit + self.deep(deep_in)
        elif self.conv_head is not None:
            logit = logit + self.conv_head(conv).squeeze(-1)
        return logit

    @torch.inference_mode()
    def predict(self, x: ModelInput) -> Tensor:
        """Scores in [0, 1], [B]. Call `eval()` first for deterministic output."""
        return torch.sigmoid(self(x))


def _vocab(field: Field) -> str:
    """The vocabulary of a categorical or bag field."""
    if field.vocab is None:
        raise ValueError(f"field {field.name} ({field.kind}) has no vocabulary")
    return field.vocab
