"""Figures: sample grids, training curves, 2D densities (matplotlib, optional, Agg).

matplotlib is imported lazily with the non-interactive ``Agg`` backend, so
plotting works headless and ``import minigen`` never pays for it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._validation import check_array, check_positive_int
from .backend import to_numpy

__all__ = ["sample_grid", "training_curves", "density_2d"]


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            "plotting needs matplotlib: pip install 'minigen[plot]' (or pip install matplotlib)"
        ) from exc
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _out(path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def sample_grid(images, path, nrow: int | None = None, *, cmap: str = "gray") -> Path:
    """Tile images into one PNG.

    Parameters
    ----------
    images : array, shape (n, H, W), (n, H, W, C) or (n, D) with D a perfect square
    path : str or Path
        Output file (PNG).
    nrow : int, optional
        Images per row (default ``ceil(sqrt(n))``).
    cmap : str
        Matplotlib colormap name for gray images (``(n, H, W)`` or one channel); ignored
        for RGB/RGBA images.

    Returns
    -------
    Path
        ``path`` (parent folders are created).

    Values are scaled to [0, 1] over the whole grid; images smaller than 32
    pixels are enlarged by pixel repetition.
    """
    x = to_numpy(check_array(images, "images", allow_empty=False)).astype(np.float64)
    if x.ndim == 2:
        side = int(round(math.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise ValueError(
                f"images of shape {x.shape} are flat with a non-square width; "
                "pass them as (n, H, W)"
            )
        x = x.reshape(-1, side, side)
    if x.ndim not in (3, 4):
        raise ValueError(f"images must have shape (n, H, W) or (n, H, W, C), got {x.shape}")
    if x.ndim == 4:
        # matplotlib draws only gray (H, W), RGB or RGBA; one channel is gray
        if x.shape[3] == 1:
            x = x[..., 0]
        elif x.shape[3] not in (3, 4):
            raise ValueError(
                f"images with C={x.shape[3]} channels cannot be shown (shape {x.shape}); "
                "pass C in {1, 3, 4} (gray, RGB, RGBA)"
            )
    n = x.shape[0]
    nrow = check_positive_int(nrow, "nrow") if nrow is not None else math.ceil(math.sqrt(n))
    ncol_rows = math.ceil(n / nrow)
    lo, hi = float(x.min()), float(x.max())
    x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    scale = max(1, 32 // max(x.shape[1:3]))  # small images (8x8 digits) are blown up
    if scale > 1:
        x = x.repeat(scale, axis=1).repeat(scale, axis=2)
    h, w = x.shape[1:3]
    pad = 1
    shape = (ncol_rows * (h + pad) + pad, nrow * (w + pad) + pad) + x.shape[3:]
    canvas = np.ones(shape)
    for i in range(n):
        r, c = divmod(i, nrow)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h,
               pad + c * (w + pad): pad + c * (w + pad) + w] = x[i]
    plt = _pyplot()
    path = _out(path)
    plt.imsave(path, canvas, cmap=cmap if canvas.ndim == 2 else None, vmin=0, vmax=1)
    return path


def training_curves(history, path) -> Path:
    """Plot train loss and validation NLL per epoch (``History`` or its ``to_dict()``)."""
    d = history.to_dict() if hasattr(history, "to_dict") else dict(history)
    if "train_loss" not in d:
        raise ValueError("history must be a History or a dict with a 'train_loss' list")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    tl = [np.nan if v is None else v for v in d["train_loss"]]
    ax.plot(range(1, len(tl) + 1), tl, label="train loss")
    vn = [np.nan if v is None else v for v in d.get("valid_nll", [])]
    if vn and not all(np.isnan(vn)):
        ax.plot(range(1, len(vn) + 1), vn, label="valid NLL")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per example")
    ax.legend()
    fig.tight_layout()
    path = _out(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def density_2d(log_prob_fn, path, extent=(-4.0, 4.0, -4.0, 4.0), samples=None,
               resolution: int = 200) -> Path:
    """Heat map of ``exp(log_prob_fn(points))`` on a grid, optionally with samples on top.

    Parameters
    ----------
    log_prob_fn : callable, (m, 2) array -> (m,) log-densities
        Called once on all grid points; ``-inf`` (zero density) is allowed.
    path : str or Path
        Output image file (format from the suffix, e.g. ``.png``; parent folders are created).
    extent : (xmin, xmax, ymin, ymax)
    samples : array, shape (n, 2), optional
        Drawn as white dots over the heat map.
    resolution : int >= 1
        Grid points per axis (``resolution**2`` evaluations, endpoints included).

    Returns
    -------
    Path
        ``path``.
    """
    if not callable(log_prob_fn):
        raise TypeError("log_prob_fn must be a callable: (m, 2) points -> (m,) log-densities")
    if len(extent) != 4 or not (extent[0] < extent[1] and extent[2] < extent[3]):
        raise ValueError(f"extent must be (xmin, xmax, ymin, ymax) with min < max, got {extent}")
    resolution = check_positive_int(resolution, "resolution")
    xs = np.linspace(extent[0], extent[1], resolution)
    ys = np.linspace(extent[2], extent[3], resolution)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    # -inf is a valid log-density (zero mass), so only the type and shape are checked
    lp = to_numpy(check_array(log_prob_fn(pts), "log_prob_fn's output", finite=False))
    if lp.shape != (len(pts),):
        raise ValueError(
            f"log_prob_fn must return one log-density per point, shape ({len(pts)},) for "
            f"{len(pts)} points of shape (m, 2); it returned shape {lp.shape}"
        )
    lp = lp.astype(np.float64).reshape(resolution, resolution)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(np.exp(lp), origin="lower", extent=extent, cmap="viridis", aspect="auto")
    if samples is not None:
        s = to_numpy(check_array(samples, "samples", ndim=2, shape=(None, 2)))
        ax.scatter(s[:, 0], s[:, 1], s=2, c="white", alpha=0.5)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    fig.tight_layout()
    path = _out(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
