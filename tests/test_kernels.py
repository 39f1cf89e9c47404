"""The compiled first-stage pass against the same sum written out in numpy."""

import numpy as np
import pytest

from ml.kernels import add_pair_terms


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
    expected = scores + bias + (values * (dots.T + linear)).sum(1) \
        + 0.5 * np.einsum("nf,fg,ng->n", values, gram, values)

    a, b = slice(0, n_job), slice(n_job, None)
    const = (y @ linear[b] + 0.5 * ((y @ gram[b, b]) * y).sum(1)).astype(f32)
    cross = np.ascontiguousarray(y @ gram[a, b].T, dtype=f32)
    add_pair_terms(n_job, n_setting)(scores, bias, dots, x, setting_of, y, const, cross,
                                     linear[a], np.ascontiguousarray(gram[a, a]), chunk)
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)
