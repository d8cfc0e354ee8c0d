r"""Squeeze / unsqueeze and the multi-scale architecture with factor-out.

Squeeze (RealNVP): ``(N, C, H, W) -> (N, 4C, H/2, W/2)``, each 2x2 spatial block
becomes 4 channels; a permutation of coordinates, so :math:`\log|\det| = 0`.

:class:`MultiScale` runs ``levels[0]``, factors out (freezes) the second half of the
channels as part of the latent, runs ``levels[1]`` on the first half, and so on; the
last level keeps everything. The latent is the concatenation of the flattened
factored-out pieces and the final output, a flat ``(N, D)`` vector; the log-det is
the sum over levels. Factoring out halves the cost of the deeper levels and gives
each scale its own latent variables.

References: Dinh et al. (2017) RealNVP, section 3.6; Kingma & Dhariwal (2018) Glow.
"""

from __future__ import annotations

from ...autograd import F, no_grad
from ...autograd.nn import ModuleList
from .base import Transform, as_input, to64, zero_logdet

__all__ = ["Squeeze", "Unsqueeze", "squeeze", "unsqueeze", "MultiScale"]


def squeeze(x):
    """``(N, C, H, W) -> (N, 4C, H/2, W/2)`` (H and W even)."""
    n, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"squeeze needs even height and width, got shape {tuple(x.shape)}")
    y = F.reshape(x, (n, c, h // 2, 2, w // 2, 2))
    y = F.transpose(y, 0, 1, 3, 5, 2, 4)
    return F.reshape(y, (n, 4 * c, h // 2, w // 2))


def unsqueeze(z):
    """Inverse of :func:`squeeze`: ``(N, 4C, H, W) -> (N, C, 2H, 2W)``."""
    n, c4, h, w = z.shape
    if c4 % 4:
        raise ValueError(f"unsqueeze needs a channel count divisible by 4, got {tuple(z.shape)}")
    c = c4 // 4
    y = F.reshape(z, (n, c, 2, 2, h, w))
    y = F.transpose(y, 0, 1, 4, 2, 5, 3)
    return F.reshape(y, (n, c, 2 * h, 2 * w))


class Squeeze(Transform):
    """Space-to-depth (log-det 0)."""

    maps = (squeeze, unsqueeze)  # (forward, inverse)

    def _apply(self, v, name, direction):
        v = as_input(v, name, ndim=4)
        return self.maps[direction](v), zero_logdet(v)

    def forward(self, x):
        return self._apply(x, "x", 0)

    def inverse(self, z):
        return self._apply(z, "z", 1)


class Unsqueeze(Squeeze):
    """Depth-to-space (log-det 0): :class:`Squeeze` with the directions swapped."""

    maps = (unsqueeze, squeeze)


class MultiScale(Transform):
    """Levels with factor-out (see the module docstring).

    Parameters
    ----------
    levels : list of Transform
        Level ``k`` maps ``(N, C_k, H_k, W_k)`` to ``(N, C'_k, H'_k, W'_k)``.
    input_shape : tuple ``(C, H, W)``
        Needed to compute every level's shapes (by a dry run in ``__init__``).
    """

    def __init__(self, levels, input_shape):
        super().__init__()
        self.levels = ModuleList(levels)
        self.input_shape = tuple(int(s) for s in input_shape)
        self._shapes = None  # filled on first forward: [(kept shape, factored shape), ...]

    def _record(self, shapes):
        if self._shapes is None:
            self._shapes = shapes

    def forward(self, x):
        x = as_input(x, "x", ndim=4)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"x must have examples of shape {self.input_shape}, got {tuple(x.shape)}"
            )
        n = x.shape[0]
        total, outs, shapes = zero_logdet(x), [], []
        levels = list(self.levels)
        for k, level in enumerate(levels):
            x, ld = level.forward(x)
            total = total + to64(ld)
            if k < len(levels) - 1:
                c = x.shape[1]
                keep, out = x[:, : c // 2], x[:, c // 2:]
                shapes.append((tuple(keep.shape[1:]), tuple(out.shape[1:])))
                outs.append(F.reshape(out, (n, -1)))
                x = keep
            else:
                shapes.append((tuple(x.shape[1:]), None))
                outs.append(F.reshape(x, (n, -1)))
        self._record(shapes)
        return F.concatenate(outs, axis=1), total

    def _ensure_shapes(self, xp, dtype):
        if self._shapes is None:

            with no_grad():
                self.forward(xp.zeros((1, *self.input_shape), dtype=dtype))

    def inverse(self, z):
        z = as_input(z, "z", ndim=2)
        self._ensure_shapes(z.xp, z.dtype)
        d = sum(_prod(o) for _, o in self._shapes[:-1]) + _prod(self._shapes[-1][0])
        if z.shape[1] != d:
            raise ValueError(f"z must have shape (N, {d}), got {tuple(z.shape)}")
        n = z.shape[0]
        # split z into the pieces in forward order
        pieces, pos = [], 0
        for keep, out in self._shapes:
            shp = keep if out is None else out
            m = _prod(shp)
            pieces.append(F.reshape(z[:, pos:pos + m], (n, *shp)))
            pos += m
        total = zero_logdet(z)
        levels = list(self.levels)
        x = pieces[-1]
        for k in range(len(levels) - 1, -1, -1):
            if k < len(levels) - 1:
                x = F.concatenate([x, pieces[k]], axis=1)
            x, ld = levels[k].inverse(x)
            total = total + to64(ld)
        return x, total


def _prod(shape) -> int:
    p = 1
    for s in shape:
        p *= int(s)
    return p
