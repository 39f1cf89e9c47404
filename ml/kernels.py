"""Compiled loops for the scorer's whole-catalog passes (numba, parallel over the cores).

torch runs an expression over a large catalog one operator at a time, each a pass
through memory with its intermediate written out; a loop compiled here reads each
per-job value once and keeps the rest in registers. Compiled on first use (about a
second; the service does it while warming up) for the float32 / int64 arrays the
scorer holds.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import torch
from numba import njit, prange

# reassociation and contraction (FMA) let the loops run in SIMD lanes; "nnan" and
# "ninf" stay off: the salary fit relies on NaN tests
FAST_MATH = {"reassoc", "contract", "arcp", "nsz"}
CHUNK = 16_384  # jobs per parallel task


def set_num_threads(threads: int) -> None:
    """torch's intra-op threads and these loops' (for the calling thread)."""
    torch.set_num_threads(threads)
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


@functools.cache
def add_pair_terms(n_job: int, n_setting: int):
    """The pass below for A = n_job per-job and B = n_setting setting fields: sizes known
    when it compiles, so that its short loops unroll (950k jobs, 2 threads: 4.2 ms
    against 11 ms with the sizes read at run time)."""

    @njit(parallel=True, fastmath=FAST_MATH, error_model="numpy", nogil=True)
    def add(scores, bias, dots, job_values, setting_of, setting_values, setting_const,
            setting_cross, job_linear, job_gram, chunk=CHUNK):
        """In place, for every catalog job j (N jobs, Fp = A + B pair fields):
        scores[j] += bias[j] + the first stage's pair terms of j, where

        * the per-job pair values x = job_values[:, j] ([A, N]) are the first A
          fields of `dots` ([Fp, N]: each pair field's vector dotted with the job's
          summed embedding), and the setting values y = setting_values[setting_of[j]]
          ([K, B]) the last B, which depend on the job's setting alone;
        * the terms are x . (dots[:A, j] + job_linear + setting_cross[k] + 0.5
          job_gram x) + y . dots[A:, j] + setting_const[k], with the per-setting
          setting_const [K] (y's own linear and quadratic terms) and setting_cross
          [K, A] (the A x B block of the Gram matrix times y) formed once per request.

        The cores share the jobs `chunk` at a time.
        """
        n = scores.shape[0]
        half = np.float32(0.5)
        for task in prange((n + chunk - 1) // chunk):
            for j in range(task * chunk, min(task * chunk + chunk, n)):
                k = setting_of[j]
                total = bias[j] + setting_const[k]
                for b in range(n_setting):
                    total += setting_values[k, b] * dots[n_job + b, j]
                for a in range(n_job):
                    weight = dots[a, j] + job_linear[a] + setting_cross[k, a]
                    for c in range(n_job):
                        weight += half * job_gram[a, c] * job_values[c, j]
                    total += job_values[a, j] * weight
                scores[j] += total

    return add
