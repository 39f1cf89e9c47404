"""Handing freed memory back to the system."""

from __future__ import annotations

import ctypes
import gc
from contextlib import suppress


def release_memory() -> None:
    """Collect garbage and return the heap's free pages to the system: `jobrec serve`
    runs glibc with a high trim threshold (requests reuse their large buffers), so what
    a start-up or a catalog build freed would otherwise stay resident for good."""
    gc.collect()
    with suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)
