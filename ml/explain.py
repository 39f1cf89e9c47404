"""What each field adds to a ConvFM logit, for given user-job pairs.

logit = bias + first order + FM + deep(E, conv(E)) (or the conv head), E [B, F, D]:

- the first-order term is a sum over fields already: each field gets its own weight
  (a dense field: value x weight);
- the FM term is a sum over field pairs, <e_f, e_g>: each pair's value is exact, and each
  field gets half of every pair it is in;
- the convolution and the deep tower are attributed to the fields against the
  all-padding input E = 0 (every embedding's padding row and a zero dense value embed
  to 0) by DeepLIFT's rescale rule: the gradient pass with each ReLU's derivative
  replaced by (relu(z) - relu(z0)) / (z - z0), z0 its input at E = 0. Everything else
  in those branches is linear (convolution, mean pooling, Linear, BatchNorm in eval,
  residual sums), so the attributions sum to deep(E) - deep(0) exactly: the
  decomposition is complete by construction, in one forward and one backward pass.
  What those branches give the all-padding input is part of `bias`; the `residual`
  left is float rounding, shown rather than hidden.

So `bias + sum(fields) + residual == logit`, the residual within about 1e-5. The logit
is the model's forward computed term by term (tests hold it to `ConvFM.forward`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ml.features import ModelInput
from ml.layers import bag_mean
from ml.model import ConvFM

NEAR = 1e-6  # a ReLU input this close to its reference takes the plain derivative
BIAS, RESIDUAL = "bias", "residual"


@dataclass(frozen=True)
class Explanation:
    """One pair's logit split: `fields` [F] in `ConvFM.fields` order; `pairs` [F, F] the
    FM interaction of each field pair (symmetric, zero diagonal)."""

    logit: float
    bias: float
    fields: dict[str, float]
    residual: float
    pairs: Tensor

    def contributions(self) -> list[tuple[str, float]]:
        """(name, value) adding up to the logit: bias, the fields, the residual."""
        return [(BIAS, self.bias), *self.fields.items(), (RESIDUAL, self.residual)]

    def top_pairs(self, names: list[str], n: int) -> list[tuple[str, str, float]]:
        """The n FM interactions largest in size, (field, field, value)."""
        upper = torch.triu(self.pairs, diagonal=1)
        order = upper.abs().flatten().argsort(descending=True)[:n]
        size = len(names)
        return [
            (names[int(i) // size], names[int(i) % size], float(upper.flatten()[i]))
            for i in order
            if upper.flatten()[i] != 0
        ]


def first_order_by_field(model: ConvFM, x: ModelInput) -> Tensor:
    """[B, F] each field's first-order term, in `model.fields` order (bias apart)."""
    parts = [
        model.field_weights(f.name)(x.categorical[:, i]).squeeze(-1)
        for i, f in enumerate(model.categorical)
    ]
    parts += [
        bag_mean(model.field_weights(f.name).weight, x.bags[:, i]).squeeze(-1)
        for i, f in enumerate(model.bags)
    ]
    dense = x.dense * model.dense_weights  # [B, Fd]
    by_kind = torch.cat([torch.stack(parts, dim=1), dense], dim=1)  # categorical, bags, dense
    return by_kind[:, model.order]


def _branches(model: ConvFM, embeddings: Tensor) -> Tensor:
    """[B] what the convolution and the deep tower (or the conv head) add to the logit."""
    return _through(model, embeddings, torch.relu)


class _RescaleReLU(torch.autograd.Function):
    """relu(z) forward; backward: the gradient times (relu(z) - relu(z0)) / (z - z0), or
    relu'(z) where z and its reference z0 nearly agree."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, z0: Tensor) -> Tensor:
        out = z.clamp(min=0)
        delta = z - z0
        near = delta.abs() < NEAR
        slope = (out - z0.clamp(min=0)) / torch.where(near, torch.ones_like(delta), delta)
        ctx.save_for_backward(torch.where(near, (z > 0).to(z.dtype), slope))
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (multiplier,) = ctx.saved_tensors
        return grad * multiplier, None


def _through(model: ConvFM, embeddings: Tensor, relu: Callable[[Tensor], Tensor]) -> Tensor:
    """`_branches` with its ReLUs given: [B, F, D] -> [B]."""
    conv = None
    if model.conv is not None:
        stacked = embeddings.index_select(1, model.conv_index).transpose(1, 2)
        conv = relu(model.conv.conv(stacked)).mean(dim=2)
    if model.deep is not None:
        h = embeddings.flatten(1)
        if conv is not None:
            h = torch.cat([h, conv], dim=1)
        for block in model.deep.dense_blocks:  # eval: dropout is the identity
            out = relu(block.norm(block.linear(h)))
            h = out + h if block.residual else out
        return model.deep.out(h).squeeze(-1)
    if model.conv_head is not None and conv is not None:
        return model.conv_head(conv).squeeze(-1)
    return embeddings.new_zeros(len(embeddings))


def rescale_attributions(model: ConvFM, embeddings: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """DeepLIFT (rescale rule) attributions of `_branches` at `embeddings` [B, F, D]
    against E = 0: (attributions [B, F, D], _branches(E) [B], _branches(0) [1]); the
    attributions sum to the difference of the two."""
    references: list[Tensor] = []

    def record(z: Tensor) -> Tensor:
        references.append(z)
        return z.clamp(min=0)

    with torch.no_grad():
        at_zero = _through(model, torch.zeros_like(embeddings[:1]), record)
    pending = iter(references)

    def rescale(z: Tensor) -> Tensor:
        out: Tensor = _RescaleReLU.apply(z, next(pending))
        return out

    with torch.enable_grad():
        e = embeddings.detach().requires_grad_(True)
        at_e = _through(model, e, rescale)
        (grads,) = torch.autograd.grad(at_e.sum(), e)
    return embeddings * grads, at_e.detach(), at_zero


def explain(model: ConvFM, x: ModelInput) -> list[Explanation]:
    """The explanation of each of the B pairs of `x` (the model in eval mode)."""
    model.eval()
    names = [f.name for f in model.fields]
    with torch.no_grad():
        embeddings = model.field_embeddings(x)  # [B, F, D]
        linear = first_order_by_field(model, x)  # [B, F]
        gram = embeddings @ embeddings.transpose(1, 2)  # [B, F, F]
        gram = gram - torch.diag_embed(torch.diagonal(gram, dim1=1, dim2=2))
        if model.fm is None:
            gram = torch.zeros_like(gram)
        fm = 0.5 * gram.sum(-1)  # each pair split between its two fields
    # the model's forward, term by term: first order, FM, branches (`ConvFM.forward`)
    logits = model.bias.detach() + linear.sum(1) + fm.sum(1)
    deep = torch.zeros_like(linear)
    at_zero = torch.zeros(1)
    if model.conv is not None or model.deep is not None:
        attributions, at_e, at_zero = rescale_attributions(model, embeddings)
        deep = attributions.sum(-1)  # [B, F]
        logits = logits + at_e
    fields = linear + fm + deep
    bias = (model.bias.detach() + at_zero).expand(len(logits))
    residual = logits - bias - fields.sum(1)
    return [
        Explanation(
            logit=float(logits[b]),
            bias=float(bias[b]),
            fields=dict(zip(names, fields[b].tolist(), strict=True)),
            residual=float(residual[b]),
            pairs=gram[b],
        )
        for b in range(len(logits))
    ]
