"""Named arrays in a folder of `.npy` files, read back memory-mapped.

A folder written by `write_arrays` holds one `NAME.npy` per array (numpy's own format:
dtype, shape and the raw bytes; never pickle). `read_arrays` maps each file
copy-on-write: processes that read the same folder share its pages in the page cache, so
N processes hold one copy in RAM, and an accidental write stays private to its process
instead of changing the file (or faulting, as a read-only mapping would under torch).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar, overload

import numpy as np
import torch
from torch import Tensor

T = TypeVar("T")
NAME = re.compile(r"^[A-Za-z0-9_.]+$")


def write_arrays(folder: Path, arrays: Mapping[str, np.ndarray | Tensor]) -> None:
    """One `NAME.npy` per array under `folder` (created). Tensors must be dense."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in arrays.items():
        if not NAME.match(name):
            raise ValueError(f"array name {name!r}: letters, digits, '_' and '.' only")
        array = value.detach().cpu().numpy() if isinstance(value, Tensor) else value
        if array.dtype == object:
            raise ValueError(f"array {name!r}: object arrays cannot be stored")
        np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)


def read_arrays(folder: Path) -> dict[str, np.ndarray]:
    """Every array of `folder`, by name, memory-mapped copy-on-write."""
    return {
        path.stem: np.load(path, mmap_mode="c", allow_pickle=False)
        for path in sorted(folder.glob("*.npy"))
    }


def under(prefix: str, arrays: Mapping[str, T]) -> dict[str, T]:
    """The entries named `prefix` + NAME, by NAME."""
    return {name[len(prefix) :]: value for name, value in arrays.items() if name.startswith(prefix)}


def prefixed(prefix: str, arrays: Mapping[str, T]) -> dict[str, T]:
    """`arrays` with `prefix` put before each name."""
    return {f"{prefix}{name}": value for name, value in arrays.items()}


def as_tensors(arrays: Mapping[str, np.ndarray]) -> dict[str, Tensor]:
    """The numeric arrays as tensors sharing their memory (a mapped file's pages too)."""
    numeric = {name: a for name, a in arrays.items() if a.dtype.kind in "biuf"}
    return {name: torch.from_numpy(array) for name, array in numeric.items()}


class TextArray(Sequence[str]):
    """A numpy array of texts (a mapped one too) read as a sequence of `str`: its items
    become Python strings only when read."""

    def __init__(self, texts: np.ndarray) -> None:
        self.texts = texts

    def __len__(self) -> int:
        return len(self.texts)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> TextArray: ...
    def __getitem__(self, index: int | slice) -> str | TextArray:
        if isinstance(index, slice):
            return TextArray(self.texts[index])
        return str(self.texts[index])
