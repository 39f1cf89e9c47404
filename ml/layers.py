"""Small ConvFM building blocks, each with its shapes stated and tested on its own.

Shapes: B batch, F fields, D embedding dim, L bag length, C conv filters.
"""

from __future__ import annotations

from itertools import pairwise
from typing import cast

import torch.nn.functional as F
from torch import Tensor, nn


def bag_mean(table: Tensor, rows: Tensor) -> Tensor:
    """Mean of the `table` [V, D] rows listed in `rows` [B, L]; index 0 is padding.

    Padding never counts; an all-padding bag gives zeros. -> [B, D]. Uses
    `embedding_bag`, so no [B, L, D] tensor is materialised.

    >>> import torch
    >>> bag_mean(torch.arange(6.).view(3, 2), torch.tensor([[1, 2, 0], [0, 0, 0]]))
    tensor([[3., 4.],
            [0., 0.]])
    """
    return F.embedding_bag(rows, table, mode="mean", padding_idx=0)


class FactorizationMachine(nn.Module):
    """Second-order FM term: 0.5 * sum_d [(sum_f e_fd)^2 - sum_f e_fd^2].

    Input [B, F, D] -> output [B], equal to sum_{i<j} <e_i, e_j>.

    >>> import torch
    >>> FactorizationMachine()(torch.ones(2, 3, 4))
    tensor([12., 12.])
    """

    def forward(self, embeddings: Tensor) -> Tensor:
        square_of_sum = embeddings.sum(dim=1).pow(2)
        sum_of_squares = embeddings.pow(2).sum(dim=1)
        return 0.5 * (square_of_sum - sum_of_squares).sum(dim=1)


class ConvPooling(nn.Module):
    """Conv1d over the field axis, ReLU, global average pooling.

    Input [B, F, D] is read as D channels over F positions: [B, D, F] -> Conv1d(D -> C,
    kernel k, 'same' padding k // 2 for odd k) -> ReLU -> mean over F -> [B, C].

    >>> import torch
    >>> ConvPooling(8, 4, 3)(torch.randn(2, 5, 8)).shape
    torch.Size([2, 4])
    """

    def __init__(self, embedding_dim: int, filters: int, kernel_size: int) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError("kernel_size must be odd for 'same' padding")
        self.conv = nn.Conv1d(embedding_dim, filters, kernel_size, padding=kernel_size // 2)

    def forward(self, embeddings: Tensor) -> Tensor:
        return F.relu(self.conv(embeddings.transpose(1, 2))).mean(dim=2)


class BatchNorm1d(nn.BatchNorm1d):
    """BatchNorm that also trains on a batch of one row.

    Batch statistics of a single row are undefined, so such a batch is normalised with
    the running statistics (as in eval mode) and leaves them unchanged.
    """

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.shape[0] == 1:
            return F.batch_norm(
                x,
                self.running_mean,
                self.running_var,
                self.weight,
                self.bias,
                training=False,
                momentum=0.0,
                eps=self.eps,
            )
        return super().forward(x)


class DenseBlock(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Dropout, plus the input when in_dim == out_dim.

    [B, in_dim] -> [B, out_dim].
    """

    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.norm = BatchNorm1d(out_dim)
        self.dropout = nn.Dropout(dropout)
        self.residual = in_dim == out_dim

    def forward(self, x: Tensor) -> Tensor:
        h = self.dropout(F.relu(self.norm(self.linear(x))))
        return h + x if self.residual else h


class DeepTower(nn.Module):
    """Stack of `DenseBlock`s then Linear(., 1): [B, in_dim] -> [B]."""

    def __init__(self, in_dim: int, hidden_dims: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        dims = (in_dim, *hidden_dims)
        self.blocks = nn.Sequential(*(DenseBlock(a, b, dropout) for a, b in pairwise(dims)))
        self.out = nn.Linear(dims[-1], 1)

    @property
    def dense_blocks(self) -> list[DenseBlock]:
        """The `DenseBlock`s, in order."""
        return [cast(DenseBlock, block) for block in self.blocks]

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.blocks(x)).squeeze(-1)
