r"""Bars and stripes: the classic tiny binary benchmark with an exact distribution.

An :math:`n \times n` binary image is a *stripe* pattern when every row is
constant and a *bar* pattern when every column is constant. There are
:math:`2^n` of each; the all-off and all-on images are both, so the number of
distinct patterns is :math:`K_n = 2^{n+1} - 2` (30 for :math:`n = 4`). The
data distribution is uniform over them:

.. math:: \log p(x) = -\log K_n \ \text{if } x \text{ is a pattern, } -\infty \text{ otherwise},
          \qquad H = \log K_n.

References: MacKay, *Information Theory, Inference, and Learning Algorithms* (2003), ch. 43.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_binary, check_positive_int
from ..random import check_random_state

_MAX_N = 12


def _check_n(n) -> int:
    n = check_positive_int(n, "n")
    if n > _MAX_N:
        raise ValueError(f"n must be <= {_MAX_N} (2^(n+1) patterns are enumerated), got {n}")
    return n


def n_bars_and_stripes(n: int) -> int:
    """Number of distinct ``n x n`` bars-and-stripes patterns, ``2**(n+1) - 2``."""
    return 2 ** (_check_n(n) + 1) - 2


def bars_and_stripes(n: int = 4) -> np.ndarray:
    """All distinct ``n x n`` patterns, shape ``(2**(n+1) - 2, n, n)``, dtype float64.

    Order: the ``2**n`` stripe patterns (row ``i`` on iff bit ``i`` of the code
    is set, codes ``0 .. 2**n - 1``), then the ``2**n - 2`` bar patterns that are
    not also stripes (codes ``1 .. 2**n - 2``, column ``j`` on iff bit ``j`` set).
    """
    n = _check_n(n)
    codes = np.arange(2**n)
    bits = ((codes[:, None] >> np.arange(n)[None, :]) & 1).astype(np.float64)  # (2^n, n)
    stripes = np.repeat(bits[:, :, None], n, axis=2)  # row i constant = bits[i]
    bars = np.repeat(bits[1:-1, None, :], n, axis=1)  # column j constant = bits[j]
    return np.concatenate([stripes, bars], axis=0)


def _as_images(x, n: int) -> np.ndarray:
    x = check_array(x, "x", ndim=(1, 2, 3))
    x = np.asarray(x)
    if x.ndim == 3:
        if x.shape[1:] != (n, n):
            raise ValueError(f"x must have shape (N, {n}, {n}) or (N, {n * n}), got {x.shape}")
        return x
    if x.shape[-1] != n * n:
        raise ValueError(f"x must have shape (N, {n}, {n}) or (N, {n * n}), got {x.shape}")
    return x.reshape(-1, n, n)


def bars_and_stripes_log_prob(x, n: int = 4) -> np.ndarray:
    """Exact log-probability under the uniform bars-and-stripes distribution.

    Parameters
    ----------
    x : array of shape (N, n, n) or (N, n*n)
        Binary images (0/1 only, else ``ValueError``).
    n : int
        Side of the images, 1 <= n <= 12 (default 4); the distribution is uniform over its
        ``2**(n+1) - 2`` patterns (every row constant, or every column constant).

    Returns
    -------
    (N,) float64 array: ``-log(2**(n+1) - 2)`` for patterns, ``-inf`` elsewhere.
    """
    n = _check_n(n)
    imgs = _as_images(check_binary(x, "x"), n)
    rows_const = (imgs == imgs[:, :, :1]).all(axis=(1, 2))
    cols_const = (imgs == imgs[:, :1, :]).all(axis=(1, 2))
    ok = rows_const | cols_const
    return np.where(ok, -np.log(float(n_bars_and_stripes(n))), -np.inf)


def bars_and_stripes_entropy(n: int = 4) -> float:
    """Exact entropy in nats, ``log(2**(n+1) - 2)`` (3.4012 for ``n = 4``)."""
    return float(np.log(n_bars_and_stripes(n)))


def sample_bars_and_stripes(n: int, n_samples: int, random_state=None) -> np.ndarray:
    """I.i.d. draws from the uniform distribution over the distinct patterns.

    Returns an ``(n_samples, n, n)`` float64 array of 0/1.
    """
    patterns = bars_and_stripes(n)
    n_samples = check_positive_int(n_samples, "n_samples", allow_zero=True)
    rng = check_random_state(random_state)
    idx = rng.integers(0, len(patterns), size=n_samples)
    return patterns[idx]
