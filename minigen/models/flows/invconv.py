r"""Invertible 1x1 convolution (Glow) with the LU parametrization.

.. math::

    W = P\, L\, (U + \mathrm{diag}(\sigma \odot e^{\log|s|})),

with ``P`` a fixed permutation, ``L`` unit lower-triangular (free strict lower part),
``U`` strictly upper-triangular, ``sigma`` fixed signs and ``log|s|`` free, so
:math:`\log|\det W| = \sum_c \log|s_c|` with no determinant to compute, and ``W`` stays
invertible whatever values the free parameters take (as long as ``e^{log|s|}`` is a
finite non-zero number; otherwise :class:`NonInvertibleError`). On ``(N, C, H, W)``,
:math:`y_{:,h,w} = W x_{:,h,w}` and :math:`\log|\det| = H W \sum_c \log|s_c|`;
``(N, C)`` vectors are treated as ``H = W = 1`` (a learned invertible linear map).

The product runs through the ``invconv1x1`` kernel op. :meth:`InvertibleConv1x1.set_weight`
factors a given weight (LU with partial pivoting) and rejects a singular one.

References: Kingma & Dhariwal (2018) Glow, section 3.2.
"""

from __future__ import annotations

import numpy as np

from ...autograd import F, Tensor
from ...autograd.coupling_ops import invconv1x1
from ...autograd.nn import Parameter
from ...backend import get_backend, to_numpy
from ...random import check_random_state
from .actnorm import check_log_scale
from .base import NonInvertibleError, Transform, as_input, to64

__all__ = ["InvertibleConv1x1", "lu_factor"]


def lu_factor(W, tol: float = 1e-12):
    """``W = P L U`` with partial pivoting (host NumPy). Returns ``(P, L, U)``.

    Raises NonInvertibleError when a pivot is below ``tol * max|W|`` (singular ``W``).
    """
    A = np.array(to_numpy(W), dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"W must be a square (C, C) matrix, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise NonInvertibleError("1x1 convolution weight W has non-finite entries")
    c = A.shape[0]
    perm = np.arange(c)
    L = np.eye(c)
    scale = max(np.abs(A).max(), np.finfo(float).tiny)
    for k in range(c):
        p = k + int(np.argmax(np.abs(A[k:, k])))
        if abs(A[p, k]) <= tol * scale:
            raise NonInvertibleError(
                f"1x1 convolution weight W is singular (pivot {k} is {A[p, k]:.3g}); "
                "an invertible 1x1 convolution needs det W != 0"
            )
        if p != k:
            A[[k, p]] = A[[p, k]]
            perm[[k, p]] = perm[[p, k]]
            L[[k, p], :k] = L[[p, k], :k]
        L[k + 1:, k] = A[k + 1:, k] / A[k, k]
        A[k + 1:] -= np.outer(L[k + 1:, k], A[k])
    P = np.eye(c)[perm].T  # P @ (L @ U) == W
    return P, L, np.triu(A)


class InvertibleConv1x1(Transform):
    """LU-parametrized invertible 1x1 convolution (see the module docstring).

    Parameters
    ----------
    n_channels : int
    dtype : float dtype
    random_state : None, int or Generator
        Initial weight: a random rotation (QR of a Gaussian matrix).
    """

    #: drawn at build time (the LU factors of a random rotation): kept in checkpoints
    drawn_buffers = ("perm", "sign_s")

    def __init__(self, n_channels: int, dtype=np.float32, random_state=None):
        super().__init__()
        c = self.n_channels = int(n_channels)
        rng = check_random_state(random_state)
        xp = get_backend().xp
        self.lower = Parameter(xp.zeros((c, c), dtype=dtype))
        self.upper = Parameter(xp.zeros((c, c), dtype=dtype))
        self.log_s = Parameter(xp.zeros(c, dtype=dtype))
        self.register_buffer("l_mask", xp.asarray(np.tril(np.ones((c, c)), -1), dtype=dtype))
        self.register_buffer("u_mask", xp.asarray(np.triu(np.ones((c, c)), 1), dtype=dtype))
        self.register_buffer("eye", xp.eye(c, dtype=dtype))
        self.register_buffer("perm", xp.eye(c, dtype=dtype))
        self.register_buffer("sign_s", xp.ones(c, dtype=dtype))
        q, _ = np.linalg.qr(rng.standard_normal((c, c)))
        self.set_weight(q)

    def set_weight(self, W) -> None:
        """Factor ``W (C, C)`` into the parameters; NonInvertibleError if ``W`` is singular."""
        P, L, U = lu_factor(W)
        if P.shape[0] != self.n_channels:
            raise ValueError(f"W must be ({self.n_channels}, {self.n_channels}), got {P.shape}")
        d = np.diag(U)
        be = get_backend()
        dt = self.lower.dtype
        self.lower.data[...] = be.asarray(np.tril(L, -1), dtype=dt)
        self.upper.data[...] = be.asarray(np.triu(U, 1), dtype=dt)
        self.log_s.data[...] = be.asarray(np.log(np.abs(d)), dtype=dt)
        self.perm[...] = be.asarray(P, dtype=dt)
        self.sign_s[...] = be.asarray(np.sign(d), dtype=dt)

    def set_drawn(self, values: dict) -> None:
        """Put back ``perm`` (a permutation matrix) and ``sign_s`` (entries +-1) read from a
        checkpoint; ValueError for anything else (the map would not be this model's)."""
        perm, sign = np.asarray(values["perm"]), np.asarray(values["sign_s"])
        ones = np.ones(self.n_channels)
        if not (np.isin(perm, (0, 1)).all() and np.array_equal(perm.sum(axis=0), ones)
                and np.array_equal(perm.sum(axis=1), ones)):
            raise ValueError("perm must be a permutation matrix (one 1 per row and column)")
        if not np.isin(sign, (-1, 1)).all():
            raise ValueError("sign_s must hold only -1 and +1")
        be, dt = get_backend(), self.perm.dtype
        self.perm[...] = be.asarray(perm, dtype=dt)
        self.sign_s[...] = be.asarray(sign, dtype=dt)

    def weight(self) -> Tensor:
        """``W = P L U`` as a Tensor (differentiable in the free parameters)."""
        check_log_scale(self.log_s.data, "InvertibleConv1x1 (diagonal of U)")
        L = self.lower * self.l_mask + self.eye
        s = F.exp(self.log_s) * self.sign_s
        U = self.upper * self.u_mask + self.eye * F.reshape(s, (1, self.n_channels))
        return F.matmul(self.perm, F.matmul(L, U))

    def logabsdet_weight(self) -> Tensor:
        r""":math:`\log|\det W| = \sum_c \log|s_c|` (float64 scalar Tensor)."""
        return F.sum(to64(self.log_s))

    def _apply(self, x, inverse, name):
        x = as_input(x, name, ndim=(2, 4))
        if x.shape[1] != self.n_channels:
            raise ValueError(
                f"{name} must have {self.n_channels} channels on axis 1, got shape {tuple(x.shape)}"
            )
        vec = x.ndim == 2
        x4 = F.reshape(x, (x.shape[0], self.n_channels, 1, 1)) if vec else x
        W = self.weight()
        if W.dtype != x4.dtype:
            W = F.astype(W, x4.dtype)
        y, _ = invconv1x1(x4, W, inverse=inverse)
        hw = x4.shape[2] * x4.shape[3]
        ones = x.xp.ones(x.shape[0], dtype=np.float64)
        ld = self.logabsdet_weight() * (-hw if inverse else hw) * ones
        return (F.reshape(y, x.shape) if vec else y), ld

    def forward(self, x):
        return self._apply(x, False, "x")

    def inverse(self, z):
        return self._apply(z, True, "z")

    def extra_repr(self) -> str:
        return f"{self.n_channels}"
