"""The compiled first-stage pass against the same sum written out in numpy."""

import numpy as np
import pytest
import torch

from ml.scoring.kernels import add_pair_terms, quantize_rows, shortlist_scores


@pytest.mark.parametrize("chunk", [7, 16_384])
@pytest.mark.parametrize(("n_job", "n_setting"), [(3, 7), (1, 2)])
def test_add_pair_terms_equals_the_written_out_sum(n_job, n_setting, chunk):
    rng = np.random.default_rng(n_job)
    n, n_settings, f32 = 50, 4, np.float32
    n_fields = n_job + n_setting
    scores = rng.normal(size=n).astype(f32)
    bias = rng.normal(size=n).astype(f32)
    dots = rng.normal(size=(n_fields, n)).astype(f32)
    x = rng.normal(size=(n_job, n)).astype(f32)  # the per-job fields' values
    setting_of = rng.integers(0, n_settings, size=n)
    y = rng.normal(size=(n_settings, n_setting)).astype(f32)  # the setting fields'
    linear = rng.normal(size=n_fields).astype(f32)
    gram = rng.normal(size=(n_fields, n_fields)).astype(f32)
    gram = gram + gram.T
    np.fill_diagonal(gram, 0)

    # every job's whole pair vector and its terms, written out
    values = np.concatenate([x.T, y[setting_of]], axis=1).astype(np.float64)
    expected = (
        scores
        + bias
        + (values * (dots.T + linear)).sum(1)
        + 0.5 * np.einsum("nf,fg,ng->n", values, gram, values)
    )

    a, b = slice(0, n_job), slice(n_job, None)
    const = (y @ linear[b] + 0.5 * ((y @ gram[b, b]) * y).sum(1)).astype(f32)
    cross = np.ascontiguousarray(y @ gram[a, b].T, dtype=f32)
    add_pair_terms(n_job, n_setting)(
        scores,
        bias,
        dots,
        x,
        setting_of,
        y,
        const,
        cross,
        linear[a],
        np.ascontiguousarray(gram[a, a]),
        chunk,
    )
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)


def test_quantize_rows_rounds_each_value_to_half_its_rows_step():
    vectors = torch.randn(20, 16) * torch.logspace(-3, 3, 20).unsqueeze(1)
    vectors[5] = 0
    codes, scales = quantize_rows(vectors)
    assert codes.dtype == torch.int8 and codes.abs().max() == 127
    error = (codes.float() * scales.unsqueeze(1) - vectors).abs()
    assert (error <= scales.unsqueeze(1) / 2 * (1 + 1e-6)).all()
    assert scales[5] == 1 and not codes[5].any()


def test_shortlist_scores_add_the_int8_dots_to_the_pair_terms():
    rng = np.random.default_rng(1)
    n, n_settings, dim, f32 = 40, 3, 16, np.float32
    vectors = torch.randn(n, dim)
    codes, scales = quantize_rows(vectors)
    u = rng.normal(size=dim).astype(f32)
    bias = rng.normal(size=n).astype(f32)
    dots = rng.normal(size=(3, n)).astype(f32)
    x = rng.normal(size=(1, n)).astype(f32)
    setting_of = rng.integers(0, n_settings, size=n)
    y = rng.normal(size=(n_settings, 2)).astype(f32)
    const, cross = rng.normal(size=n_settings).astype(f32), rng.normal(size=(n_settings, 1))
    args = (
        bias,
        dots,
        x,
        setting_of,
        y,
        const,
        cross.astype(f32),
        np.ones(1, dtype=f32),
        np.zeros((1, 1), dtype=f32),
    )
    pair_terms = np.zeros(n, dtype=f32)
    add_pair_terms(1, 2)(pair_terms, *args)
    out = np.empty(n, dtype=f32)
    shortlist_scores(1, 2, dim)(out, codes.numpy(), scales.numpy(), u, *args, 7)
    dequantized = (codes.float() * scales.unsqueeze(1)).numpy()
    np.testing.assert_allclose(out, dequantized @ u + pair_terms, rtol=1e-5, atol=1e-5)


def test_the_loops_use_as_many_threads_as_torch():
    """A worker given one torch thread (WORKERS=2, TORCH_THREADS=1) must not have the
    compiled loops spread over every core."""
    import numba

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        scores = np.zeros(3, dtype=np.float32)
        add_pair_terms(1, 1)(
            scores,
            np.ones(3, dtype=np.float32),
            np.zeros((2, 3), dtype=np.float32),
            np.zeros((1, 3), dtype=np.float32),
            np.zeros(3, dtype=np.int64),
            np.zeros((1, 1), dtype=np.float32),
            np.zeros(1, dtype=np.float32),
            np.zeros((1, 1), dtype=np.float32),
            np.zeros(1, dtype=np.float32),
            np.zeros((1, 1), dtype=np.float32),
        )
        assert numba.get_num_threads() == 1
        np.testing.assert_array_equal(scores, 1.0)
    finally:
        torch.set_num_threads(threads)
