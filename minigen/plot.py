"""Figures: sample grids, training curves, 2-D densities (matplotlib, optional).

Every function returns the matplotlib ``Figure`` (a notebook shows it), draws into
``ax=`` when given one, and writes an image file only when given ``path``. Figures are
built with :class:`matplotlib.figure.Figure` directly, never through ``pyplot``, so a
plot never selects, switches or opens a matplotlib backend: the one a notebook or script
chose stays in place, and headless machines need nothing.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._validation import check_array, check_positive_int
from .backend import to_numpy

__all__ = ["sample_grid", "training_curves", "density_2d", "new_figure"]

#: grid separators: a colour no gray image contains, so cells never merge into white pixels
SEPARATOR_RGB = (0.85, 0.33, 0.10)
#: sample grids blow small images up to at least this many pixels per side
MIN_CELL_PIXELS = 56


_FIGURE = None


def _matplotlib():
    """The Figure class minigen returns: matplotlib's, plus ``_repr_png_`` so that a
    notebook shows it whatever backend is active (pyplot is never involved)."""
    global _FIGURE
    try:
        import matplotlib  # noqa: F401  (first: a submodule import can succeed without it)
        from matplotlib.figure import Figure as _Base
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install 'minigen[plot]' (or "
                          "pip install matplotlib)") from exc
    if _FIGURE is None:

        class Figure(_Base):
            """A matplotlib Figure that notebooks render (``_repr_png_``)."""

            def _repr_png_(self):
                import io

                buf = io.BytesIO()
                self.savefig(buf, format="png", dpi=self.dpi)
                return buf.getvalue()

        _FIGURE = Figure
    return _FIGURE


def new_figure(figsize=(5, 3.5), dpi=100, ax=None, **subplot_kw):
    """``(fig, ax)``: ``ax`` and its figure when given, else a new pyplot-free Figure."""
    if ax is not None:
        return ax.figure, ax
    Figure = _matplotlib()
    fig = Figure(figsize=figsize, dpi=dpi)
    return fig, fig.add_subplot(**subplot_kw)


def _save(fig, path, **kw):
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **kw)


def _as_images(images) -> np.ndarray:
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
    return x


def _grid_canvas(x, nrow, cmap):
    """The RGB canvas: cells scaled to [0, 1] over the whole grid, enlarged by pixel
    repetition, 2-pixel separators in :data:`SEPARATOR_RGB`."""
    from matplotlib import colormaps

    n = x.shape[0]
    ncol_rows = math.ceil(n / nrow)
    lo, hi = float(x.min()), float(x.max())
    x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    if x.ndim == 3:  # gray -> RGB through the colormap
        x = colormaps[cmap](x)[..., :3]
    x = x[..., :3]
    scale = max(1, math.ceil(MIN_CELL_PIXELS / max(x.shape[1:3])))
    if scale > 1:
        x = x.repeat(scale, axis=1).repeat(scale, axis=2)
    h, w = x.shape[1:3]
    pad = 2
    canvas = np.empty((ncol_rows * (h + pad) + pad, nrow * (w + pad) + pad, 3))
    canvas[...] = SEPARATOR_RGB
    for i in range(n):
        r, c = divmod(i, nrow)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h,
               pad + c * (w + pad): pad + c * (w + pad) + w] = x[i]
    return canvas


def sample_grid(images, path=None, nrow: int | None = None, *, cmap: str = "gray", ax=None,
                title: str | None = None):
    """Tile images into one picture.

    Parameters
    ----------
    images : array, shape (n, H, W), (n, H, W, C) or (n, D) with D a perfect square
    path : str or Path, optional
        Also write the picture there (pixel-exact PNG at one canvas pixel per pixel;
        parent folders are created).
    nrow : int, optional
        Images per row (default ``ceil(sqrt(n))``).
    cmap : str
        Colormap for gray images; ignored for RGB/RGBA images.
    ax : matplotlib Axes, optional
        Draw into it instead of a new figure.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Values are scaled to [0, 1] over the whole grid; images are enlarged by pixel
    repetition to at least :data:`MIN_CELL_PIXELS` pixels and separated by lines of
    :data:`SEPARATOR_RGB`, a colour no gray image contains.
    """
    x = _as_images(images)
    nrow = check_positive_int(nrow, "nrow") if nrow is not None else math.ceil(
        math.sqrt(x.shape[0]))
    _matplotlib()
    canvas = _grid_canvas(x, nrow, cmap)
    if ax is None:
        dpi = 100
        fig, ax = new_figure(figsize=(canvas.shape[1] / dpi, canvas.shape[0] / dpi), dpi=dpi)
        ax.set_position((0, 0, 1, 1))
    else:
        fig = ax.figure
    ax.imshow(canvas, interpolation="nearest", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if path is not None:
        import matplotlib.image

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        matplotlib.image.imsave(path, canvas, vmin=0, vmax=1)  # exact pixels, no resampling
    return fig


def training_curves(history, path=None, *, ax=None):
    """Train loss and validation NLL per epoch (``History`` or its ``to_dict()``);
    returns the Figure (written to ``path`` when given)."""
    d = history.to_dict() if hasattr(history, "to_dict") else dict(history)
    if "train_loss" not in d:
        raise ValueError("history must be a History or a dict with a 'train_loss' list")
    fig, ax = new_figure(ax=ax)
    tl = [np.nan if v is None else v for v in d["train_loss"]]
    ax.plot(range(1, len(tl) + 1), tl, label="train loss")
    vn = [np.nan if v is None else v for v in d.get("valid_nll", [])]
    if vn and not all(np.isnan(vn)):
        ax.plot(range(1, len(vn) + 1), vn, label="valid NLL")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per example")
    ax.legend()
    fig.tight_layout()
    _save(fig, path, dpi=100)
    return fig


def density_2d(log_prob_fn, path=None, extent=(-4.0, 4.0, -4.0, 4.0), samples=None,
               resolution: int = 200, *, ax=None, title: str | None = None,
               colorbar: bool = True):
    """Heat map of ``exp(log_prob_fn(points))`` on a grid, optionally with samples on top.

    Parameters
    ----------
    log_prob_fn : callable, (m, 2) array -> (m,) log-densities
        Called once on all grid points; ``-inf`` (zero density) is allowed.
    path : str or Path, optional
        Also write the figure there (format from the suffix; parent folders are created).
    extent : (xmin, xmax, ymin, ymax)
    samples : array, shape (n, 2), optional
        Drawn as white dots over the heat map (with a legend entry).
    resolution : int >= 1
        Grid points per axis (``resolution**2`` evaluations, endpoints included).
    ax : matplotlib Axes, optional
    title : str, optional
    colorbar : bool
        A colour bar labelled with the density.

    Returns
    -------
    matplotlib.figure.Figure
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
    s = None if samples is None else to_numpy(
        check_array(samples, "samples", ndim=2, shape=(None, 2)))
    fig, ax = new_figure(figsize=(4.8, 4), ax=ax)
    im = ax.imshow(np.exp(lp), origin="lower", extent=extent, cmap="viridis", aspect="auto")
    if colorbar:
        fig.colorbar(im, ax=ax, label="density p(x)")
    if s is not None:
        ax.scatter(s[:, 0], s[:, 1], s=2, c="white", alpha=0.5, label=f"{len(s)} samples")
        ax.legend(loc="upper right", fontsize="small", markerscale=4)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    _save(fig, path, dpi=100)
    return fig
