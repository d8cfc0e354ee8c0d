r"""Layer normalization and embedding lookup as fused ops with hand-written backward.

Layer norm over the last axis (size D), with :math:`\mu, \sigma^2` the mean and the
(biased) variance of that axis:

.. math::

    \hat x = (x - \mu) / \sqrt{\sigma^2 + \epsilon}, \qquad y = \gamma \odot \hat x + \beta,

    \frac{\partial L}{\partial x} = \frac{1}{\sqrt{\sigma^2+\epsilon}}
        \Big(\hat g - \overline{\hat g} - \hat x\, \overline{\hat g \odot \hat x}\Big),
    \quad \hat g = \gamma \odot \frac{\partial L}{\partial y},

where the bars are means over the last axis.

Embedding: ``y = W[idx]``; its gradient scatter-adds the rows of ``dy`` into ``dW``.

References: Ba, Kiros, Hinton, "Layer normalization" (2016).
"""

from __future__ import annotations

from ..backend import xp_of
from .custom import custom_op
from .tensor import Tensor

__all__ = ["layer_norm", "embedding", "scatter_add_rows"]


@custom_op
def _layer_norm_op(x, gamma, beta, *, eps):
    xp = xp_of(x, gamma, beta)
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)
    rstd = 1.0 / xp.sqrt(var + eps)
    xhat = xc * rstd
    y = xhat if gamma is None else xhat * gamma
    if beta is not None:
        y = y + beta
    axes = tuple(range(x.ndim - 1))

    def backward(gy):
        gg = None if gamma is None else (gy * xhat).sum(axis=axes)
        gb = None if beta is None else gy.sum(axis=axes)
        gh = gy if gamma is None else gy * gamma
        gx = rstd * (
            gh - gh.mean(axis=-1, keepdims=True)
            - xhat * (gh * xhat).mean(axis=-1, keepdims=True)
        )
        return gx, gg, gb

    return y, backward


def layer_norm(x, gamma=None, beta=None, eps: float = 1e-5):
    """Differentiable layer normalization over the last axis.

    Parameters
    ----------
    x : Tensor, shape (..., D)
    gamma, beta : Tensor of shape (D,) or None (no scale / no shift)
    eps : float

    Returns
    -------
    Tensor, shape (..., D)
    """
    d = x.shape[-1]
    for name, p in (("gamma", gamma), ("beta", beta)):
        if p is not None and tuple(p.shape) != (d,):
            raise ValueError(
                f"layer_norm: {name} must have shape ({d},) for x of shape "
                f"{tuple(x.shape)}, got shape {tuple(p.shape)}"
            )
    return _layer_norm_op(x, gamma, beta, eps=float(eps))


def scatter_add_rows(xp, out, idx, rows):
    """``out[idx[k]] += rows[k]`` with repeated indices accumulated (NumPy or CuPy)."""
    if xp.__name__ == "numpy":
        xp.add.at(out, idx, rows)
    else:  # pragma: no cover - needs a GPU
        import cupyx

        cupyx.scatter_add(out, idx, rows)
    return out


@custom_op
def _embedding_op(weight, idx):
    xp = xp_of(weight, idx)
    y = weight[idx]

    def backward(gy):
        gw = xp.zeros_like(weight)
        scatter_add_rows(xp, gw, idx.reshape(-1), gy.reshape(-1, weight.shape[1]))
        return gw, None

    return y, backward


def embedding(idx, weight):
    """Differentiable row lookup ``weight[idx]``.

    Parameters
    ----------
    idx : integer array or Tensor, any shape S, values in ``[0, V)``
    weight : Tensor, shape (V, E)

    Returns
    -------
    Tensor, shape S + (E,)
    """
    raw = idx.data if isinstance(idx, Tensor) else idx
    xp = xp_of(raw, weight.data if isinstance(weight, Tensor) else weight)
    raw = xp.asarray(raw)
    if raw.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {raw.dtype}")
    v = weight.shape[0]
    if raw.size and (int(raw.min()) < 0 or int(raw.max()) >= v):
        raise IndexError(
            f"embedding: indices must lie in [0, {v}) for weight of shape "
            f"{tuple(weight.shape)}; got min {int(raw.min())}, max {int(raw.max())}"
        )
    return _embedding_op(weight, raw)
