"""The ConvFM building blocks, each proved on its own."""

import itertools

import pytest
import torch

from ml.layers import BatchNorm1d, ConvPooling, DeepTower, FactorizationMachine, bag_mean


def brute_force_fm(embeddings: torch.Tensor) -> torch.Tensor:
    """sum over field pairs i < j of <e_i, e_j>, one loop per pair."""
    batch, fields, _ = embeddings.shape
    out = torch.zeros(batch, dtype=torch.float64)
    for i, j in itertools.combinations(range(fields), 2):
        out += (embeddings[:, i] * embeddings[:, j]).sum(-1)
    return out


@pytest.mark.parametrize("fields,dim", [(2, 1), (5, 8), (16, 64)])
def test_fm_equals_brute_force_pairwise_sum(fields, dim):
    torch.manual_seed(fields)
    embeddings = torch.randn(7, fields, dim, dtype=torch.float64)
    fm = FactorizationMachine()(embeddings)
    assert fm.shape == (7,)
    torch.testing.assert_close(fm, brute_force_fm(embeddings), rtol=1e-10, atol=1e-10)


def test_bag_mean_ignores_padding():
    table = torch.randn(10, 4)
    short = torch.tensor([[3, 5]])
    padded = torch.tensor([[3, 5, 0, 0, 0]])
    reordered_padding = torch.tensor([[0, 3, 0, 5, 0]])
    expected = (table[3] + table[5]) / 2
    for rows in (short, padded, reordered_padding):
        torch.testing.assert_close(bag_mean(table, rows)[0], expected)


def test_bag_mean_of_empty_bag_is_zero_whatever_the_padding_row_holds():
    table = torch.randn(10, 4)  # row 0 is not zero: it must still not count
    assert torch.equal(bag_mean(table, torch.zeros(2, 3, dtype=torch.long)), torch.zeros(2, 4))


@pytest.mark.parametrize("kernel", [3, 5, 7])
def test_conv_pooling_same_padding_shapes(kernel):
    layer = ConvPooling(embedding_dim=8, filters=6, kernel_size=kernel)
    out = layer(torch.randn(4, 5, 8))
    assert out.shape == (4, 6)
    assert (out >= 0).all()  # ReLU before pooling
    pre = layer.conv(torch.randn(4, 8, 5))
    assert pre.shape[-1] == 5  # 'same' padding keeps the field axis


def test_conv_pooling_rejects_even_kernel():
    with pytest.raises(ValueError, match="odd"):
        ConvPooling(8, 4, 4)


def test_batchnorm_trains_on_a_batch_of_one_without_touching_running_stats():
    norm = BatchNorm1d(3).train()
    norm.running_mean.fill_(1.0)
    out = norm(torch.randn(1, 3))
    assert out.shape == (1, 3)
    assert torch.equal(norm.running_mean, torch.ones(3))
    norm(torch.randn(4, 3))  # a real batch still updates them
    assert not torch.equal(norm.running_mean, torch.ones(3))


def test_deep_tower_residual_only_where_shapes_allow():
    tower = DeepTower(8, (8, 4, 4), dropout=0.1)
    assert [b.residual for b in tower.blocks] == [True, False, True]
    assert tower(torch.randn(3, 8)).shape == (3,)
