"""What each field adds to a ConvFM logit, for given user-job pairs.

logit = bias + first order + FM + deep(E, conv(E)) (or the conv head), E [B, F, D]:

- the first-order term is a sum over fields already: each field gets its own weight
  (a dense field: value x weight);
- the FM term is a sum over field pairs, <e_f, e_g>: each pair's value is exact, and each
  field gets half of every pair it is in;
- the convolution and the deep tower are attributed to the fields by integrated
  gradients from the all-padding input E = 0 (every embedding's padding row and a zero
  dense value embed to 0): complete by construction up to the integral's quadrature
  error, which is reported as its own `residual`, never hidden. What those branches give
  the all-padding input is part of `bias`. The integral is one batched pass here: all
  steps of all pairs through the branches and back at once (the midpoint rule, the
  better one for these piecewise-linear branches); captum's generic version of it took
  twice as long (docs/benchmarks/measured-choices.md).

So `bias + sum(fields) + residual == logit` exactly, and the residual is small (the
tests bound it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ml.features import ModelInput
from ml.layers import bag_mean
from ml.model import ConvFM

IG_STEPS = 32  # midpoints of the integral
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
    conv = model.conv_features(embeddings) if model.conv is not None else None
    if model.deep is not None:
        deep_in = embeddings.flatten(1)
        if conv is not None:
            deep_in = torch.cat([deep_in, conv], dim=1)
        return model.deep(deep_in)
    if model.conv_head is not None and conv is not None:
        return model.conv_head(conv).squeeze(-1)
    return embeddings.new_zeros(len(embeddings))


def integrated_gradients(model: ConvFM, embeddings: Tensor, steps: int) -> Tensor:
    """[B, F, D] the integrated gradients of `_branches` at E = `embeddings` [B, F, D]
    from E = 0: E * the mean gradient at the `steps` midpoints (a/steps, a = 0.5, 1.5...)
    of the straight path."""
    alphas = (torch.arange(steps, dtype=embeddings.dtype) + 0.5) / steps  # [S]
    path = alphas.view(-1, 1, 1, 1) * embeddings.unsqueeze(0)  # [S, B, F, D]
    with torch.enable_grad():
        points = path.reshape(-1, *embeddings.shape[1:]).requires_grad_(True)  # [S*B, F, D]
        (grads,) = torch.autograd.grad(_branches(model, points).sum(), points)
    return embeddings * grads.view(steps, *embeddings.shape).mean(0)


def explain(model: ConvFM, x: ModelInput, steps: int = IG_STEPS) -> list[Explanation]:
    """The explanation of each of the B pairs of `x` (the model in eval mode)."""
    model.eval()
    names = [f.name for f in model.fields]
    with torch.no_grad():
        embeddings = model.field_embeddings(x)  # [B, F, D]
        logits = model(x)
        linear = first_order_by_field(model, x)  # [B, F]
        gram = embeddings @ embeddings.transpose(1, 2)  # [B, F, F]
        gram = gram - torch.diag_embed(torch.diagonal(gram, dim1=1, dim2=2))
        if model.fm is None:
            gram = torch.zeros_like(gram)
        fm = 0.5 * gram.sum(-1)  # each pair split between its two fields
        baseline = torch.zeros_like(embeddings)
        at_baseline = _branches(model, baseline)
    deep = torch.zeros_like(linear)
    if model.conv is not None or model.deep is not None:
        deep = integrated_gradients(model, embeddings, steps).sum(-1)  # [B, F]
    fields = linear + fm + deep
    bias = model.bias.detach() + at_baseline
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
