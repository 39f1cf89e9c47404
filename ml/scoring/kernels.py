"""Compiled loops for the scorer's whole-catalog passes (numba, parallel over the cores).

torch runs an expression over a large catalog one operator at a time, each a pass
through memory with its intermediate written out; a loop compiled here reads each
per-job value once and keeps the rest in registers. Each loop is compiled on first use
(about a second; the service does it while warming up) for the sizes it is given, so
that its short inner loops unroll. numba itself is imported then too: a process that
never needs these loops (a catalog ranked in one stage) does not carry the compiler
and its memory. The loops use as many threads as torch's intra-op pool of the calling
thread. (Measured: docs/benchmarks/measured-choices.md.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import torch

# reassociation and contraction (FMA) let the loops run in SIMD lanes; "nnan" and
# "ninf" stay off, as for the sums torch computes
FAST_MATH = {"reassoc", "contract", "arcp", "nsz"}
CHUNK = 16_384  # jobs per parallel task

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


class PairTermsPass(Protocol):
    """`add_pair_terms`' pass: in place, scores[j] += bias[j] + the pair terms of job j."""

    def __call__(
        self,
        scores: F32,
        bias: F32,
        dots: F32,
        job_values: F32,
        setting_of: I64,
        setting_values: F32,
        setting_const: F32,
        setting_cross: F32,
        job_linear: F32,
        job_gram: F32,
        /,
    ) -> None: ...


class ShortlistPass(Protocol):
    """`shortlist_scores`' pass: out[j] = S_job . u from int8 codes + the pair terms."""

    def __call__(
        self,
        out: F32,
        codes: npt.NDArray[np.int8],
        scales: F32,
        u: F32,
        bias: F32,
        dots: F32,
        job_values: F32,
        setting_of: I64,
        setting_values: F32,
        setting_const: F32,
        setting_cross: F32,
        job_linear: F32,
        job_gram: F32,
        /,
    ) -> None: ...


def _parallel(kernel: Callable[..., None]) -> Callable[..., None]:
    """`kernel` compiled for the cores (numba, imported now), run with as many threads
    as torch's intra-op pool of the calling thread."""
    import numba

    compiled = numba.njit(parallel=True, fastmath=FAST_MATH, error_model="numpy", nogil=True)(
        kernel
    )
    # numba.config sets its options at import from the environment: not in its types
    most = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]

    @functools.wraps(kernel)
    def launch(*args: Any) -> None:
        numba.set_num_threads(min(torch.get_num_threads(), most))
        return compiled(*args)

    return launch


def quantize_rows(vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, D] float32 -> (int8 codes [N, D], float32 scales [N]) with
    vectors[j] ~ codes[j] * scales[j], each value off by at most scales[j] / 2
    (scale: the row's largest magnitude / 127; 1 for an all-zero row)."""
    scales = vectors.abs().amax(1) / 127
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    codes = torch.round(vectors / scales.unsqueeze(1)).clamp_(-127, 127).to(torch.int8)
    return codes, scales


@functools.cache
def _pair_terms(n_job: int, n_setting: int) -> Callable[..., np.float32]:
    """The first stage's pair terms of job j, inlined into the passes below, for A =
    n_job per-job and B = n_setting setting fields (Fp = A + B):

    x . (dots[:A, j] + job_linear + setting_cross[k] + 0.5 job_gram x)
    + y . dots[A:, j] + setting_const[k]

    with x = job_values[:, j] ([A, N]) and y = setting_values[k] ([K, B]) the values
    of the per-job and of the setting fields (k: the job's setting), dots [Fp, N]
    each pair field's vector dotted with the job's summed embedding, and the
    per-setting setting_const [K] (y's own linear and quadratic terms) and
    setting_cross [K, A] (the A x B block of the Gram matrix times y) formed once per
    request."""
    import numba

    @numba.njit(inline="always", fastmath=FAST_MATH, error_model="numpy")
    def terms(
        j: int,
        k: int,
        dots: F32,
        job_values: F32,
        setting_values: F32,
        setting_const: F32,
        setting_cross: F32,
        job_linear: F32,
        job_gram: F32,
    ) -> np.float32:
        half = np.float32(0.5)
        total = setting_const[k]
        for b in range(n_setting):
            total += setting_values[k, b] * dots[n_job + b, j]
        for a in range(n_job):
            weight = dots[a, j] + job_linear[a] + setting_cross[k, a]
            for c in range(n_job):
                weight += half * job_gram[a, c] * job_values[c, j]
            total += job_values[a, j] * weight
        return total

    return terms


@functools.cache
def add_pair_terms(n_job: int, n_setting: int) -> PairTermsPass:
    """`add(scores, bias, dots, job_values, setting_of, setting_values, setting_const,
    setting_cross, job_linear, job_gram)`: in place, scores[j] += bias[j] + the pair
    terms of job j (`_pair_terms`) for every catalog job (N jobs; the cores share them
    `chunk` at a time)."""
    from numba import prange

    terms = _pair_terms(n_job, n_setting)

    @_parallel
    def add(
        scores: F32,
        bias: F32,
        dots: F32,
        job_values: F32,
        setting_of: I64,
        setting_values: F32,
        setting_const: F32,
        setting_cross: F32,
        job_linear: F32,
        job_gram: F32,
        chunk: int = CHUNK,
    ) -> None:
        n = scores.shape[0]
        for task in prange((n + chunk - 1) // chunk):
            for j in range(task * chunk, min(task * chunk + chunk, n)):
                scores[j] += bias[j] + terms(
                    j,
                    setting_of[j],
                    dots,
                    job_values,
                    setting_values,
                    setting_const,
                    setting_cross,
                    job_linear,
                    job_gram,
                )

    return add


@functools.cache
def shortlist_scores(n_job: int, n_setting: int, dim: int) -> ShortlistPass:
    """`score(out, codes, scales, u, bias, dots, job_values, setting_of, ...)`: as
    `add_pair_terms` into `out` [N], with S_job . u from the int8 codes of the jobs'
    summed embeddings ([N, D] and scales [N], `quantize_rows`; u [D] float32) in the
    same pass: a quarter of float32's bytes, the pass's main read."""
    from numba import prange

    terms = _pair_terms(n_job, n_setting)

    @_parallel
    def score(
        out: F32,
        codes: npt.NDArray[np.int8],
        scales: F32,
        u: F32,
        bias: F32,
        dots: F32,
        job_values: F32,
        setting_of: I64,
        setting_values: F32,
        setting_const: F32,
        setting_cross: F32,
        job_linear: F32,
        job_gram: F32,
        chunk: int = CHUNK,
    ) -> None:
        n = out.shape[0]
        for task in prange((n + chunk - 1) // chunk):
            for j in range(task * chunk, min(task * chunk + chunk, n)):
                dot = np.float32(0.0)
                for t in range(dim):
                    dot += np.float32(codes[j, t]) * u[t]
                out[j] = (
                    dot * scales[j]
                    + bias[j]
                    + terms(
                        j,
                        setting_of[j],
                        dots,
                        job_values,
                        setting_values,
                        setting_const,
                        setting_cross,
                        job_linear,
                        job_gram,
                    )
                )

    return score
