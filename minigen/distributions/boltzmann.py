r"""Exact enumeration of small Boltzmann distributions: the ground truth that models, MCMC
and the tests are checked against (it sits below both, with the other distributions).

For binary units :math:`x \in \{0, 1\}^n` and an energy :math:`E(x)`, the Gibbs
distribution is :math:`p(x) = e^{-E(x)} / Z` with
:math:`Z = \sum_{x} e^{-E(x)}`. For :math:`n \le 24` the :math:`2^n` states are
enumerated in chunks and combined with a running log-sum-exp, so memory stays
bounded by ``chunk_size * n`` and no term overflows.

State index convention: state ``k`` has :math:`x_i = \lfloor k / 2^i \rfloor \bmod 2`
(unit 0 is the least significant bit); :func:`state_index` inverts it.

The quadratic (fully visible Boltzmann machine) energy is
:math:`E(x) = -\tfrac12 x^\top J x - h^\top x` with symmetric, zero-diagonal ``J``.

References: Ackley, Hinton & Sejnowski, "A learning algorithm for Boltzmann
machines", Cognitive Science 9 (1985).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_binary, check_positive_int
from ..backend import get_backend

MAX_ENUM_UNITS = 24


def _check_n(n_units: int) -> int:
    n_units = int(n_units)
    if n_units < 0 or n_units > MAX_ENUM_UNITS:
        raise ValueError(
            f"n_units must be in [0, {MAX_ENUM_UNITS}] for exact enumeration, got {n_units}"
        )
    return n_units


def _check_chunk_size(chunk_size) -> int:
    # 0 would crash inside range() and a negative size would skip every state (log Z = -inf).
    return check_positive_int(chunk_size, "chunk_size")


def _check_rows(X, n_units: int | None = None, name: str = "X"):
    """Binary rows ``(m, n_units)``: other values would give a wrong state or energy."""
    X = check_array(X, name, ndim=2, shape=None if n_units is None else (None, n_units))
    return check_binary(X, name)


def all_states(n_units: int, start: int = 0, stop: int | None = None, dtype=np.float64, xp=None):
    """Binary states ``start .. stop-1`` as rows of a ``(stop - start, n_units)`` array."""
    xp = xp or get_backend().xp
    n_units = _check_n(n_units)
    stop = 2**n_units if stop is None else stop
    k = xp.arange(start, stop, dtype=xp.int64)
    bits = xp.arange(n_units, dtype=xp.int64)
    return ((k[:, None] >> bits[None, :]) & 1).astype(dtype)


def state_index(X):
    """Integer index (unit 0 = least significant bit) of each binary row of ``X`` (n, d)."""
    X = _check_rows(X)
    if X.shape[1] > 63:  # 2**63 does not fit the int64 index
        raise ValueError(f"X must have at most 63 columns for an int64 index, got {X.shape[1]}")
    xp = get_backend().xp
    w = xp.asarray(2 ** np.arange(X.shape[1], dtype=np.int64))
    return (xp.asarray(X).astype(xp.int64) * w).sum(axis=1)


def _chunks(n_units: int, chunk_size: int):
    total = 2**n_units
    for s in range(0, total, chunk_size):
        yield s, min(total, s + chunk_size)


def logsumexp_over_states(log_weight, n_units: int, *, chunk_size: int = 1 << 16,
                          dtype=np.float64) -> float:
    r"""Stable :math:`\log \sum_{x \in \{0,1\}^n} \exp(f(x))` for ``f = log_weight``.

    Parameters
    ----------
    log_weight : callable
        Maps a ``(m, n_units)`` array of states to ``(m,)`` log-weights.
    n_units : int
        Number of binary units (at most 24).
    chunk_size : int
        States evaluated per call.
    """
    xp = get_backend().xp
    n_units = _check_n(n_units)
    chunk_size = _check_chunk_size(chunk_size)
    acc = -np.inf
    for s, e in _chunks(n_units, chunk_size):
        lw = log_weight(all_states(n_units, s, e, dtype=dtype, xp=xp))
        m = float(lw.max())
        if m == -np.inf:
            continue
        c = m + float(np.log(float(xp.exp(lw - m).sum())))
        acc = np.logaddexp(acc, c)
    return float(acc)


def check_coupling(J, h=None, name: str = "J"):
    """Validate a symmetric, zero-diagonal coupling matrix ``J`` (n, n) and biases ``h`` (n,)."""
    J = check_array(J, name, ndim=2)
    if J.shape[0] != J.shape[1]:
        raise ValueError(f"{name} must be square, got shape {J.shape}")
    xp = get_backend().xp
    if J.size and not bool(xp.allclose(J, J.T, rtol=0, atol=1e-10 * (1 + float(abs(J).max())))):
        raise ValueError(f"{name} must be symmetric (J == J.T)")
    if J.size and bool((xp.diagonal(J) != 0).any()):
        raise ValueError(f"{name} must have a zero diagonal")
    if h is not None:
        h = check_array(h, "h", ndim=1, shape=(J.shape[0],))
    return J, h


def quadratic_energy(X, J, h):
    r"""Energy :math:`E(x) = -\tfrac12 x^\top J x - h^\top x` for rows of ``X`` (m, n) -> (m,)."""
    return -0.5 * ((X @ J) * X).sum(axis=1) - X @ h


def log_partition(J, h, *, chunk_size: int = 1 << 16) -> float:
    """Exact :math:`\\log Z` of the quadratic Boltzmann machine ``(J, h)`` by enumeration."""
    J, h = check_coupling(J, h)
    chunk_size = _check_chunk_size(chunk_size)
    return logsumexp_over_states(lambda S: -quadratic_energy(S, J, h), J.shape[0],
                                 chunk_size=chunk_size)


def _enumerate(J, h, chunk_size):
    r"""``(n, log_z, chunks)``: the checked model's size and :math:`\log Z`, and for each chunk
    of the :math:`2^n` states (:func:`state_index` order) ``(start, end, states, energies,
    probabilities)``."""
    J, h = check_coupling(J, h)
    chunk_size = _check_chunk_size(chunk_size)
    n = J.shape[0]
    xp = get_backend().xp
    logz = log_partition(J, h, chunk_size=chunk_size)

    def chunks():
        for s, e in _chunks(n, chunk_size):
            S = all_states(n, s, e, xp=xp)
            en = quadratic_energy(S, J, h)
            yield s, e, S, en, xp.exp(-en - logz)  # p(x) = exp(-E(x)) / Z

    return n, logz, chunks()


def exact_probabilities(J, h, *, chunk_size: int = 1 << 16):
    """All :math:`2^n` probabilities, indexed as in :func:`state_index` -> ``(2**n,)``."""
    n, _, chunks = _enumerate(J, h, chunk_size)
    out = get_backend().xp.empty(2**n, dtype=np.float64)
    for s, e, _, _, p in chunks:
        out[s:e] = p
    return out


def exact_log_likelihood(X, J, h, *, log_z: float | None = None):
    """Exact :math:`\\log p(x)` of each binary row of ``X`` (m, n) -> (m,)."""
    J, h = check_coupling(J, h)
    X = _check_rows(X, J.shape[0])
    logz = log_partition(J, h) if log_z is None else log_z
    return -quadratic_energy(X.astype(J.dtype), J, h) - logz


def exact_moments(J, h, *, chunk_size: int = 1 << 16):
    r"""Model moments :math:`E_p[x]` (n,) and :math:`E_p[x x^\top]` (n, n), exactly."""
    n, _, chunks = _enumerate(J, h, chunk_size)
    xp = get_backend().xp
    m1 = xp.zeros(n)
    m2 = xp.zeros((n, n))
    for _, _, S, _, p in chunks:
        m1 += p @ S
        m2 += (S * p[:, None]).T @ S
    return m1, m2


def entropy(J, h, *, chunk_size: int = 1 << 16) -> float:
    r"""Exact entropy :math:`H = \log Z + E_p[E(x)]` in nats."""
    _, logz, chunks = _enumerate(J, h, chunk_size)
    mean_e = 0.0
    for _, _, _, en, p in chunks:
        mean_e += float((p * en).sum())
    return float(logz + mean_e)


def empirical_distribution(X, n_units: int):
    """Histogram of binary rows of ``X`` over the ``2**n_units`` states, normalized."""
    xp = get_backend().xp
    n_units = _check_n(n_units)
    X = _check_rows(X, n_units)  # kept: X.shape below (X may be a list)
    idx = state_index(X)
    counts = xp.bincount(idx, minlength=2**n_units).astype(xp.float64)
    return counts / max(1, X.shape[0])


def tv_distance(p, q) -> float:
    """Total-variation distance :math:`\\tfrac12 \\sum |p - q|`."""
    xp = get_backend().xp
    return 0.5 * float(xp.abs(xp.asarray(p) - xp.asarray(q)).sum())
