r"""Fixed permutations of axis 1 (features or channels): reverse or random; log-det 0.

Between coupling layers they let every dimension be transformed (NICE/RealNVP use
alternating masks or a reversal; Glow's 1x1 convolution learns the mixing instead).
"""

from __future__ import annotations

import numpy as np

from ...backend import get_backend, to_numpy
from ...random import check_random_state
from .base import Transform, as_input, zero_logdet

__all__ = ["Permutation", "ReversePermutation", "RandomPermutation"]


class Permutation(Transform):
    """``y[:, i] = x[:, perm[i]]`` along axis 1."""

    def __init__(self, perm):
        super().__init__()
        p = np.asarray(to_numpy(perm))
        ok = p.ndim == 1 and p.dtype.kind in "iu"
        if not ok or not np.array_equal(np.sort(p), np.arange(len(p))):
            raise ValueError("perm must be a permutation of 0..n-1 (1-D integer array)")
        be = get_backend()
        self.register_buffer("perm", be.asarray(p.astype(np.int64)))
        self.register_buffer("inv_perm", be.asarray(np.argsort(p).astype(np.int64)))

    def set_drawn(self, values: dict) -> None:
        """Put back ``perm`` read from a checkpoint (ValueError unless a permutation)."""
        p = np.asarray(values["perm"])
        if p.dtype.kind not in "iu" or not np.array_equal(np.sort(p), np.arange(len(p))):
            raise ValueError("perm must be a permutation of 0..n-1 (1-D integer array)")
        be = get_backend()
        self.perm[...] = be.asarray(p.astype(np.int64))
        self.inv_perm[...] = be.asarray(np.argsort(p).astype(np.int64))

    def _apply(self, x, idx, name):
        x = as_input(x, name, ndim=(2, 3, 4))
        if x.shape[1] != len(idx):
            raise ValueError(f"{name} must have {len(idx)} entries on axis 1, got {tuple(x.shape)}")
        return x[:, idx], zero_logdet(x)

    def forward(self, x):
        return self._apply(x, self.perm, "x")

    def inverse(self, z):
        return self._apply(z, self.inv_perm, "z")


class ReversePermutation(Permutation):
    """Reverse the order of axis 1."""

    def __init__(self, n: int):
        super().__init__(np.arange(int(n))[::-1].copy())


class RandomPermutation(Permutation):
    """A fixed random permutation of axis 1 drawn from ``random_state``."""

    #: drawn at build time: kept in checkpoints (see :mod:`.drawn`)
    drawn_buffers = ("perm",)

    def __init__(self, n: int, random_state=None):
        super().__init__(check_random_state(random_state).permutation(int(n)))
