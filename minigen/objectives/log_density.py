r"""Unnormalized target log-densities :math:`\log \tilde p(x)` for the data-free objectives.

A target is any callable. Two ways to give its gradient in :math:`x` (what the
reparameterization gradient of reverse KL needs):

* **autograd** (``grad_log_p=None``): the callable takes a :class:`~minigen.autograd.Tensor`
  ``(n, ...)`` and returns a Tensor ``(n,)`` built from ``minigen.autograd`` ops
  (``F.logsumexp``, ...); e.g. :func:`gaussian_mixture_log_density`.
* **arrays**: the callable takes and returns NumPy arrays (a toy's exact ``log_prob``
  from :mod:`minigen.datasets.toy2d`, ``lambda x: -ebm.energy(x)``), and ``grad_log_p``
  is a callable ``x -> (n, ...)`` gradient (``lambda x: -ebm.energy_grad(x)[1]``) or
  ``"finite-difference"``: central differences, :math:`2D` extra calls per batch, step
  :math:`h = 10^{-5}\max(1, |x_j|)` (error :math:`O(h^2)` for smooth densities).
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_array, check_positive_float
from ..autograd import F, Tensor, custom_op, no_grad
from ..backend import get_backend, to_numpy

__all__ = ["LogDensity", "as_log_density", "gaussian_mixture_log_density"]

_HINT = ("write it with minigen.autograd ops (Tensor in, Tensor (n,) out), or pass "
         "grad_log_p= (a callable x -> gradient array, or 'finite-difference') to use it "
         "on arrays")


def gaussian_mixture_log_density(means, scale: float):
    r"""Unnormalized equal-weight isotropic Gaussian mixture and its exact log-normalizer.

    .. math::

        \log \tilde p(x) = \log \sum_{k=1}^K \exp\Big(-\frac{\|x - \mu_k\|^2}{2\sigma^2}\Big),
        \qquad \log Z = \log\big(K (2\pi\sigma^2)^{D/2}\big),

    so :math:`\tilde p / Z` is the mixture :math:`\frac1K\sum_k \mathcal N(\mu_k, \sigma^2 I)`
    (with ``Ring8().means`` and ``Ring8().scale``: the 8-Gaussian ring).

    Returns ``(log_p, log_z)``: a Tensor-in, Tensor-out callable (autograd mode; arrays
    are accepted too) and the float :math:`\log Z`.
    """
    mu = np.asarray(check_array(means, "means", ndim=2, allow_empty=False), dtype=np.float64)
    scale = check_positive_float(scale, "scale")
    k, d = mu.shape
    mu_b = get_backend().asarray(mu)
    inv2s2 = 0.5 / scale**2

    def log_p(x):
        x = x if isinstance(x, Tensor) else Tensor(get_backend().asarray(x))
        if x.ndim != 2 or x.shape[1] != d:
            raise ValueError(f"x must have shape (n, {d}), got {tuple(x.shape)}")
        diff = F.reshape(x, (x.shape[0], 1, d)) - mu_b.astype(x.dtype)[None]
        return F.logsumexp(F.sum(diff * diff, axis=2) * (-inv2s2), axis=1)

    return log_p, math.log(k) + 0.5 * d * math.log(2.0 * math.pi * scale**2)


def _finite_difference_grad(log_p, x):
    """Central differences of ``log_p`` at every coordinate of ``x`` (float64 array)."""
    flat = x.reshape(len(x), -1)
    h = 1e-5 * np.maximum(1.0, np.abs(flat))
    g = np.empty_like(flat)
    for j in range(flat.shape[1]):
        up, dn = flat.copy(), flat.copy()
        up[:, j] += h[:, j]
        dn[:, j] -= h[:, j]
        g[:, j] = (_values(log_p, up.reshape(x.shape), "log_p_unnormalized")
                   - _values(log_p, dn.reshape(x.shape), "log_p_unnormalized")) / (2 * h[:, j])
    return g.reshape(x.shape)


def _values(fn, x, name):
    out = fn(x)
    out = out.data if isinstance(out, Tensor) else out
    out = np.asarray(to_numpy(out), dtype=np.float64)
    if out.shape != (len(x),):
        raise ValueError(f"{name}(x) must return shape ({len(x)},), got {out.shape}")
    return out


class LogDensity:
    """A target :math:`\\log\\tilde p` with its gradient route (see the module docstring).

    ``values(x)`` -> float64 NumPy ``(n,)`` (no gradient); ``tensor(x)`` -> Tensor ``(n,)``
    joined to ``x``'s graph.
    """

    def __init__(self, log_p, grad_log_p=None):
        if not callable(log_p):
            raise TypeError(f"log_p_unnormalized must be callable, got {type(log_p).__name__}")
        named = isinstance(grad_log_p, str) and grad_log_p == "finite-difference"
        if grad_log_p is not None and not callable(grad_log_p) and not named:
            raise ValueError("grad_log_p must be None, a callable x -> gradient, or "
                             f"'finite-difference', got {grad_log_p!r}")
        self.log_p, self.grad_log_p = log_p, grad_log_p

    @property
    def uses_autograd(self) -> bool:
        return self.grad_log_p is None

    def values(self, x) -> np.ndarray:
        """``log p~(x)`` as float64 NumPy ``(n,)``, no graph (no gradient is needed here, so
        an array callable works without ``grad_log_p`` too)."""
        if self.uses_autograd:
            try:
                with no_grad():
                    return _values(self.tensor_fn, Tensor(get_backend().asarray(x)),
                                   "log_p_unnormalized")
            except TypeError:
                pass  # an array callable: evaluated on arrays below
        return _values(self.log_p, np.asarray(to_numpy(x), dtype=np.float64), "log_p_unnormalized")

    def tensor_fn(self, x: Tensor) -> Tensor:
        try:
            out = self.log_p(x)
        except (TypeError, ValueError, AttributeError) as exc:
            raise TypeError(f"log_p_unnormalized failed on a Tensor input ({exc}); {_HINT}") \
                from exc
        if not isinstance(out, Tensor):
            raise TypeError(f"log_p_unnormalized returned a {type(out).__name__}, not a "
                            f"Tensor; {_HINT}")
        if out.shape != (x.shape[0],):
            raise ValueError(f"log_p_unnormalized(x) must return shape ({x.shape[0]},), "
                             f"got {tuple(out.shape)}")
        if x.requires_grad and not out.requires_grad:  # e.g. computed from x.data
            raise TypeError("log_p_unnormalized returned a Tensor detached from x (its "
                            f"gradient would be silently dropped); {_HINT}")
        return out

    def tensor(self, x: Tensor) -> Tensor:
        """``log p~(x)`` as a Tensor ``(n,)`` whose gradient reaches ``x``."""
        if self.uses_autograd:
            return self.tensor_fn(x)
        return _array_log_density(x, fn=self.log_p, grad=self.grad_log_p)


def as_log_density(log_p_unnormalized, grad_log_p=None) -> LogDensity:
    """``log_p_unnormalized`` as a :class:`LogDensity` (returned as is if it is one)."""
    if isinstance(log_p_unnormalized, LogDensity):
        return log_p_unnormalized
    return LogDensity(log_p_unnormalized, grad_log_p)


@custom_op
def _array_log_density(x, fn=None, grad=None):
    """An array log-density as an op: forward ``fn(x)``, VJP ``g[:, None] * grad(x)``."""
    xp = get_backend().xp
    xh = np.asarray(to_numpy(x), dtype=np.float64)
    val = _values(fn, xh, "log_p_unnormalized")

    def backward(g):
        if grad == "finite-difference":
            gx = _finite_difference_grad(fn, xh)
        else:
            gx = np.asarray(to_numpy(grad(xh)), dtype=np.float64)
            if gx.shape != xh.shape:
                raise ValueError(f"grad_log_p(x) must return shape {xh.shape}, got {gx.shape}")
        gh = np.asarray(to_numpy(g), dtype=np.float64).reshape((-1,) + (1,) * (xh.ndim - 1))
        return xp.asarray((gh * gx).astype(x.dtype))

    return xp.asarray(val), backward
