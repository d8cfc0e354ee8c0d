r"""2-D (and 1-D) convolution as im2col + one matrix product, with a hand-written backward.

For input :math:`x` of shape ``(N, C, H, W)`` and weight :math:`w` of shape ``(O, C, kh, kw)``

.. math::

    y[n, o, i, j] = b[o] + \sum_{c, p, q} w[o, c, p, q]\,
        x_{pad}[n, c, i s_h + p d_h, j s_w + q d_w]

with output size :math:`H_o = \lfloor (H + 2 p_h - d_h (k_h - 1) - 1) / s_h \rfloor + 1`.

Layout: inputs are handled channel-major, ``(C, N, H, W)`` (a previous conv's output is a
transposed view of such a buffer, so the transpose is free).

* Stride 1 (when the zero-padding ring adds at most half the output columns): the
  *flat padded grid*. The padded input is flattened to ``(C, N Hp Wp)``; kernel tap
  ``(i, j)`` is then the contiguous slice at offset ``i d_h Wp + j d_w``, so im2col copies
  whole rows (``memcpy`` speed) and the output is computed on the padded grid, its ring
  thrown away (``Hp Wp / (Ho Wo)`` extra columns: 15% for "same" 3x3 on 28x28). Columns are
  built and multiplied in ~4 MB blocks (``y[:, block] = w @ cols_block``), so no
  ``(C kh kw, N Ho Wo)`` matrix is ever allocated or kept: the backward forms
  ``dw[:, :, tap] = gy @ x_flat[:, tap slice].T`` straight from the padded input (one GEMM
  per tap, no transposed copies: the slice is a strided BLAS operand) and ``dx`` as
  ``w.T @ gy`` block by block, added back at the tap offsets. The graph keeps the padded
  input (``C N Hp Wp`` floats) instead of the ``kh kw``-times larger columns.
* Otherwise (strides, heavy padding): for each tap a strided slice of the padded input
  ``(C, N, Ho, Wo)`` is copied into a contiguous column matrix ``cols``
  ``(C kh kw, N Ho Wo)`` and ``y = w.reshape(O, -1) @ cols`` is one GEMM; the backward is
  two GEMMs (``dw = gy @ cols.T``, ``dcols = w.T @ gy``) and a col2im that accumulates
  ``kh kw`` shifted strided slices (no ``add.at``).

Copies are split over channels between threads on NumPy (unless the machine is
oversubscribed). Masked kernels pass ``taps``: masked-out positions are skipped everywhere.

References: Chellapilla et al., "High performance convolutional neural networks for
document processing" (2006).
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._threads import current_policy, usable_cpus
from ..backend import xp_of
from .custom import custom_op
from .tensor import Tensor

__all__ = ["conv2d", "conv1d", "conv2d_forward", "conv2d_backward", "conv_output_size"]


def _pair(v, name: str) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
        a, b = int(v[0]), int(v[1])
    else:
        a = b = int(v)
    return a, b


def conv_output_size(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
    """Output length along one axis: ``(size + 2 padding - dilation (k - 1) - 1) // stride + 1``."""
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _check_conv_args(x_shape, w_shape, b_shape, stride, padding, dilation):
    if len(x_shape) != 4:
        raise ValueError(f"conv2d: x must have shape (N, C, H, W), got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(
            f"conv2d: weight must have shape (O, C, kh, kw), got shape {tuple(w_shape)}"
        )
    if x_shape[1] != w_shape[1]:
        raise ValueError(
            f"conv2d: input channels do not match: x has shape {tuple(x_shape)} "
            f"(C={x_shape[1]}) but weight has shape {tuple(w_shape)} (C={w_shape[1]})"
        )
    if b_shape is not None and tuple(b_shape) != (w_shape[0],):
        raise ValueError(
            f"conv2d: bias must have shape ({w_shape[0]},) for weight of shape "
            f"{tuple(w_shape)}, got shape {tuple(b_shape)}"
        )
    s, p, d = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    if min(s) < 1 or min(d) < 1 or min(p) < 0:
        raise ValueError(
            f"conv2d: need stride >= 1, dilation >= 1, padding >= 0; got stride={s}, "
            f"padding={p}, dilation={d}"
        )
    ho = conv_output_size(x_shape[2], w_shape[2], s[0], p[0], d[0])
    wo = conv_output_size(x_shape[3], w_shape[3], s[1], p[1], d[1])
    if ho < 1 or wo < 1:
        raise ValueError(
            f"conv2d: kernel {tuple(w_shape[2:])} (dilation {d}) is larger than the padded "
            f"input of shape {tuple(x_shape)} with padding {p}"
        )
    return s, p, d, ho, wo


@functools.lru_cache(maxsize=1)
def _pool():
    return ThreadPoolExecutor(max_workers=max(1, min(4, usable_cpus())))


def _split_channels(xp, c, work, fn):
    """Run ``fn(lo, hi)`` over channel blocks; on NumPy, large copies use a thread pool
    (NumPy releases the GIL while copying, so the strided copies run on all cores) of
    the size the CPU policy allows (:mod:`minigen._threads`)."""
    nthreads = min(_pool()._max_workers, current_policy().copy_threads)
    if xp.__name__ != "numpy" or nthreads == 1 or c < 2 or work < (1 << 18):
        fn(0, c)
        return
    bounds = [c * k // nthreads for k in range(nthreads + 1)]
    futs = [_pool().submit(fn, bounds[k], bounds[k + 1]) for k in range(nthreads)]
    for f in futs:
        f.result()


def _all_taps(kh, kw):
    return tuple((i, j) for i in range(kh) for j in range(kw))


def _im2col(xp, xt, taps, s, d, ho, wo):
    """Contiguous ``(C T, N ho wo)`` columns of the padded channel-major input
    ``xt`` ``(C, N, Hp, Wp)`` for kernel ``taps``."""
    c, n = xt.shape[:2]
    cols = xp.empty((c, len(taps), n, ho, wo), dtype=xt.dtype)
    hspan, wspan = s[0] * (ho - 1) + 1, s[1] * (wo - 1) + 1
    def fill(lo, hi):
        for t, (i, j) in enumerate(taps):
            r0, c0 = i * d[0], j * d[1]
            cols[lo:hi, t] = xt[lo:hi, :, r0:r0 + hspan:s[0], c0:c0 + wspan:s[1]]

    _split_channels(xp, c, cols.size, fill)
    return cols.reshape(c * len(taps), n * ho * wo)


def _tap_weight(xp, w, taps):
    """Weight restricted to ``taps`` as an ``(O, C T)`` matrix."""
    o, c, kh, kw = w.shape
    if len(taps) == kh * kw:
        return w.reshape(o, c * kh * kw)
    ii = xp.asarray([t[0] for t in taps], dtype=xp.intp)
    jj = xp.asarray([t[1] for t in taps], dtype=xp.intp)
    return xp.ascontiguousarray(w[:, :, ii, jj]).reshape(o, c * len(taps))


def _flat_ok(x_shape, s, p, ho, wo, narrow=False) -> bool:
    """Use the flat (padded-grid) layout: stride 1 and at most ~1.5x wasted columns (2x
    for a conv narrowing its channels, whose flat products are ``T O`` rows instead of
    the ``T C`` rows of columns: 3x3 "same" on 7x7 images wastes 1.65x)."""
    hp, wp = x_shape[2] + 2 * p[0], x_shape[3] + 2 * p[1]
    return s == (1, 1) and hp * wp <= (2.0 if narrow else 1.5) * ho * wo


def _pad_channel_major(xp, x, p):
    """``x`` ``(N, C, H, W)`` as a C-contiguous, zero-padded ``(C, N, H + 2p, W + 2p)``."""
    n, c, h, w = x.shape
    xt = x.transpose(1, 0, 2, 3)
    if not (p[0] or p[1]):
        return xp.ascontiguousarray(xt)  # free when x is a view of a channel-major buffer
    xpad = xp.empty((c, n, h + 2 * p[0], w + 2 * p[1]), dtype=x.dtype)
    xpad[:, :, :p[0]] = 0
    xpad[:, :, h + p[0]:] = 0
    xpad[:, :, p[0]:h + p[0], :p[1]] = 0
    xpad[:, :, p[0]:h + p[0], w + p[1]:] = 0
    xpad[:, :, p[0]:h + p[0], p[1]:w + p[1]] = xt
    return xpad


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, taps=None):
    """Plain-array forward. Returns ``(y, cache)``; ``y`` has shape ``(N, O, Ho, Wo)``.

    ``taps`` (optional) lists the kernel positions ``(i, j)`` that may be non-zero (a
    masked convolution passes the positions its mask keeps); the others are skipped,
    which saves their share of the im2col copy and the matrix products.

    With stride 1 the columns live on the *padded grid*: flattening the padded
    channel-major input to ``(C, N Hp Wp)``, tap ``(i, j)`` is the contiguous slice at
    offset ``i d_h Wp + j d_w``, so im2col (and col2im in the backward) move whole rows
    of ``N Hp Wp`` floats instead of ``Wo``-float pieces. Outputs on the padding ring are
    computed and thrown away (``Hp Wp / (Ho Wo)`` extra columns, 15% for 28x28 "same").
    """
    xp = xp_of(x, w, b)
    s, p, d, ho, wo = _check_conv_args(
        x.shape, w.shape, None if b is None else b.shape, stride, padding, dilation
    )
    o, c, kh, kw = w.shape
    taps = _all_taps(kh, kw) if taps is None else tuple(taps)
    w2 = _tap_weight(xp, w, taps)
    if (kh, kw) == (1, 1) and s == (1, 1) and p == (0, 0) and len(taps) == 1:
        return _forward_pointwise(xp, x, w2, b, taps)
    # The flat layout is a CPU optimization (memcpy-speed row copies in cache-sized blocks,
    # measured against torch CPU); under CuPy the one-GEMM im2col path below is the one
    # verified on a GPU (matmul into strided `out` views is not), so it stays there.
    if xp is np and _flat_ok(x.shape, s, p, ho, wo, narrow=o < c):
        return _forward_flat(xp, x, w2, b, taps, p, d, ho, wo, (kh, kw))
    n = x.shape[0]
    # Work channel-major, (C, N, H, W): a previous conv's output is a transposed view of
    # such a buffer, so this transpose is free and the padded copy reads contiguous rows.
    xpad = _pad_channel_major(xp, x, p)
    cols = _im2col(xp, xpad, taps, s, d, ho, wo)
    y2 = w2 @ cols  # (O, N ho wo)
    if b is not None:
        y2 += b[:, None]
    y = y2.reshape(o, n, ho, wo).transpose(1, 0, 2, 3)  # (N, O, Ho, Wo) view, no copy
    cache = ("cols", cols, w2, taps, xpad.shape, x.shape, s, p, d, ho, wo)
    return y, cache


def _forward_pointwise(xp, x, w2, b, taps):
    """A 1x1 convolution is one product on the channel-major input, ``W (O, C) @ x (C, N H
    W)``: no padding, columns or blocks (its input is usually a previous conv's
    channel-major output, so the transpose below is free)."""
    n, c, h, wd = x.shape
    o = w2.shape[0]
    xc = xp.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(c, n * h * wd)
    y2 = w2 @ xc
    if b is not None:
        y2 += b[:, None]
    y = y2.reshape(o, n, h, wd).transpose(1, 0, 2, 3)
    cache = ("pointwise", xc, w2, taps, None, x.shape, (1, 1), (0, 0), (1, 1), h, wd)
    return y, cache


def _offsets(taps, d, wp):
    return [i * d[0] * wp + j * d[1] for i, j in taps]


def _chunk(k, span):
    """Columns per block so a ``(k, block)`` float block stays ~4 MB (cache-sized, and
    small enough that the allocator reuses it instead of mapping fresh pages each call)."""
    return max(256, min(span, (1 << 20) // max(k, 1)))


def _forward_flat(xp, x, w2, b, taps, p, d, ho, wo, ksize):
    n, c, h, wd = x.shape
    o = w2.shape[0]
    hp, wp = h + 2 * p[0], wd + 2 * p[1]
    size = n * hp * wp
    span = size - ((ksize[0] - 1) * d[0] * wp + (ksize[1] - 1) * d[1])
    xflat = _pad_channel_major(xp, x, p).reshape(c, size)
    offs = _offsets(taps, d, wp)
    nt = len(taps)
    y2 = xp.empty((o, size), dtype=x.dtype)
    if o < c:
        _tap_products(xp, w2, xflat, offs, span, y2)
        q_range = ()
    else:
        blk = _chunk(c * nt, span)
        cols = xp.empty((c, nt, blk), dtype=x.dtype)
        q_range = range(0, span, blk)
    for q0 in q_range:
        q1 = min(span, q0 + blk)

        def fill(lo, hi, q0=q0, q1=q1):
            for t, off in enumerate(offs):
                cols[lo:hi, t, :q1 - q0] = xflat[lo:hi, off + q0:off + q1]

        _split_channels(xp, c, c * nt * (q1 - q0), fill)
        xp.matmul(w2, cols.reshape(c * nt, blk)[:, :q1 - q0], out=y2[:, q0:q1])
    if b is not None:
        y2[:, :span] += b[:, None]
    y = y2.reshape(o, n, hp, wp)[:, :, :ho, :wo].transpose(1, 0, 2, 3)
    cache = ("flat", xflat, w2, taps, (hp, wp, span), x.shape, (1, 1), p, d, ho, wo)
    return y, cache


def _tap_products(xp, w2, src, offs, span, out):
    r"""``out[:, q] = sum_t W_t src[:, q + off_t]`` for ``q < span``, as one product per
    block, ``P = [W_1; ...; W_T] src`` ``(T O, block)``, then ``T`` shifted adds of ``O``
    rows: when ``O < C`` this moves ``T O`` rows per column instead of copying ``T C``
    rows of columns. ``w2`` is ``(O, C T)`` (tap fastest)."""
    o, ct = w2.shape
    nt = len(offs)
    wt = xp.ascontiguousarray(w2.reshape(o, ct // nt, nt).transpose(2, 0, 1)).reshape(nt * o, -1)
    reach = max(offs)
    blk = _chunk(nt * o, span)
    prod = xp.empty((nt * o, blk + reach), dtype=out.dtype)
    for q0 in range(0, span, blk):
        q1 = min(span, q0 + blk)
        width = q1 - q0 + reach
        pr = prod[:, :width]
        xp.matmul(wt, src[:, q0:q0 + width], out=pr)
        dst = out[:, q0:q1]
        dst[...] = pr[:o, offs[0]:offs[0] + q1 - q0]
        for t in range(1, nt):
            dst += pr[t * o:(t + 1) * o, offs[t]:offs[t] + q1 - q0]


def conv2d_backward(gy, w, cache, need_x=True, has_bias=True):
    """Gradients ``(gx, gw, gb)`` of the conv for output gradient ``gy`` ``(N, O, Ho, Wo)``.

    ``gw`` is zero outside the cached ``taps``.
    """
    xp = xp_of(gy, w)
    kind, cols, w2, taps, geom, x_shape, s, p, d, ho, wo = cache
    o, c, kh, kw = w.shape
    n = gy.shape[0]
    nt = len(taps)
    if kind == "pointwise":  # gw = gy x^T, gx = W^T gy: two products, channel-major
        gy2 = xp.ascontiguousarray(gy.transpose(1, 0, 2, 3)).reshape(o, -1)
        gb = gy2.sum(axis=1) if has_bias else None
        gw = (gy2 @ cols.T).reshape(w.shape)
        gx = None
        if need_x:
            gx = (w2.T @ gy2).reshape(c, n, ho, wo).transpose(1, 0, 2, 3)
        return gx, gw, gb
    if kind == "flat":
        hp, wp, span = geom
        size = n * hp * wp
        lead = size - span if c > o else 0  # room for the shifted reads of g_y's columns
        gext = xp.empty((o, lead + size), dtype=gy.dtype)
        gext[:, :lead] = 0
        gyp = gext[:, lead:].reshape(o, n, hp, wp)
        gyp[:, :, ho:] = 0
        gyp[:, :, :ho, wo:] = 0
        gyp[:, :, :ho, :wo] = gy.transpose(1, 0, 2, 3)
        gyp = gyp.reshape(o, n * hp * wp)
        gy2 = gyp[:, :span]
        gb = gyp.sum(axis=1) if has_bias else None
    else:
        gy2 = xp.ascontiguousarray(gy.transpose(1, 0, 2, 3)).reshape(o, n * ho * wo)
        gb = gy2.sum(axis=1) if has_bias else None
    gx = None
    if kind == "flat" and lead:  # narrow output: both gradients from g_y's columns
        gx, gw2 = _grads_from_output_columns(xp, w2, gext, lead, cols, taps, x_shape, p, d,
                                             hp, wp, need_x)
    elif kind == "flat" and c < o and nt > 1:  # narrow input: one product with its columns
        gw2 = _grad_weight_cols(xp, gy2, cols, _offsets(taps, d, wp), span).reshape(o, c, nt)
    elif kind == "flat":  # per tap, straight from the padded input (no stored columns)
        xflat, offs = cols, _offsets(taps, d, wp)
        gwt = xp.empty((nt, o, c), dtype=gy.dtype)
        for t, off in enumerate(offs):
            xp.matmul(gy2, xflat[:, off:off + span].T, out=gwt[t])
        gw2 = gwt.transpose(1, 2, 0)
    else:
        gw2 = (gy2 @ cols.T).reshape(o, c, nt)
    if nt == kh * kw:
        gw = gw2.reshape(w.shape)
    else:
        gw = xp.zeros(w.shape, dtype=gw2.dtype)
        for t, (i, j) in enumerate(taps):
            gw[:, :, i, j] = gw2[:, :, t]
    if need_x and gx is None:
        if kind == "flat":
            gx = _col2im_flat(xp, w2, gy2, taps, x_shape, p, d, hp, wp, span)
        else:
            gx = _col2im(xp, (w2.T @ gy2).reshape(c, nt, -1), taps, geom, x_shape, s, p, d,
                         ho, wo)
    return gx, gw, gb


def _grad_weight_cols(xp, gy2, xflat, offs, span):
    """``gw (O, C T) = gy2 @ cols.T``, the input's columns built block by block: one
    product instead of ``T`` skinny ``(O, C)`` ones (each re-reading ``gy2``) when ``C``
    is small."""
    c = xflat.shape[0]
    nt = len(offs)
    blk = _chunk(c * nt, span)
    cols = xp.empty((c, nt, blk), dtype=xflat.dtype)
    gw = xp.zeros((gy2.shape[0], c * nt), dtype=gy2.dtype)
    for q0 in range(0, span, blk):
        q1 = min(span, q0 + blk)
        for t, off in enumerate(offs):
            cols[:, t, :q1 - q0] = xflat[:, off + q0:off + q1]
        gw += gy2[:, q0:q1] @ cols.reshape(c * nt, blk)[:, :q1 - q0].T
    return gw


def _grads_from_output_columns(xp, w2, gext, lead, xflat, taps, x_shape, p, d, hp, wp,
                               need_x):
    r"""Both gradients of a conv narrowing ``C -> O`` from the columns of the output
    gradient, :math:`G_t[:, j] = g_y[:, j - \mathrm{off}_t]` (``T O`` rows, built block by
    block over the padded grid):

    * :math:`g_x[:, j] = \sum_t W_t^\top G_t[:, j]`: one product writing ``gx`` once
      (instead of ``T C`` rows of column gradients added back tap by tap);
    * :math:`g_{W_t} = \sum_j G_t[:, j]\, x[:, j]^\top`: one product reading ``x`` once
      (instead of ``T`` products each re-reading it).

    ``gext`` holds ``lead`` zero columns, then ``g_y`` on the padded grid (zero on its ring).
    Returns ``(gx or None, gw (O, C, T))``."""
    n, c, h, wd = x_shape
    o = gext.shape[0]
    offs = _offsets(taps, d, wp)
    nt = len(taps)
    size = n * hp * wp
    # W_t^T over the taps, as (C, O T) in the columns' (o, t) order
    wr = xp.ascontiguousarray(w2.reshape(o, c, nt).transpose(1, 0, 2)).reshape(c, o * nt)
    gpad = xp.empty((c, size), dtype=gext.dtype) if need_x else None
    gw = xp.zeros((o * nt, c), dtype=gext.dtype)
    blk = _chunk(o * nt, size)
    cols = xp.empty((o, nt, blk), dtype=gext.dtype)
    for q0 in range(0, size, blk):
        q1 = min(size, q0 + blk)
        for t, off in enumerate(offs):  # g_y[:, j - off] sits at gext[:, lead + j - off]
            cols[:, t, :q1 - q0] = gext[:, lead + q0 - off:lead + q1 - off]
        cb = cols.reshape(o * nt, blk)[:, :q1 - q0]
        gw += cb @ xflat[:, q0:q1].T
        if need_x:
            xp.matmul(wr, cb, out=gpad[:, q0:q1])
    gw = gw.reshape(o, nt, c).transpose(0, 2, 1)
    if not need_x:
        return None, gw
    g4 = gpad.reshape(c, n, hp, wp)[:, :, p[0]:p[0] + h, p[1]:p[1] + wd]
    return g4.transpose(1, 0, 2, 3), gw


def _col2im_flat(xp, w2, gy2, taps, x_shape, p, d, hp, wp, span):
    """``gx`` on the flat padded grid: block by block, the column gradients
    ``w2.T @ gy2[:, block]`` ``(C, T, block)`` are added back at each tap's offset; returns
    the ``(N, C, H, W)`` view of the interior."""
    n, c, h, wd = x_shape
    nt = len(taps)
    offs = _offsets(taps, d, wp)
    gpad = xp.zeros((c, n * hp * wp), dtype=gy2.dtype)
    blk = _chunk(c * nt, span)
    gcols = xp.empty((c, nt, blk), dtype=gy2.dtype)
    w2t = w2.T
    for q0 in range(0, span, blk) if nt else ():
        q1 = min(span, q0 + blk)
        xp.matmul(w2t, gy2[:, q0:q1], out=gcols.reshape(c * nt, blk)[:, :q1 - q0])

        def scatter(lo, hi, q0=q0, q1=q1):
            for t, off in enumerate(offs):
                gpad[lo:hi, off + q0:off + q1] += gcols[lo:hi, t, :q1 - q0]

        _split_channels(xp, c, c * nt * (q1 - q0), scatter)
    g4 = gpad.reshape(c, n, hp, wp)[:, :, p[0]:p[0] + h, p[1]:p[1] + wd]
    return g4.transpose(1, 0, 2, 3)  # (N, C, H, W) view of a channel-major buffer


def _col2im(xp, gcols, taps, pad_shape, x_shape, s, p, d, ho, wo):
    c = gcols.shape[0]
    n = x_shape[0]
    gcols = gcols.reshape(c, len(taps), n, ho, wo)
    gpad = xp.zeros(pad_shape, dtype=gcols.dtype)
    hspan, wspan = s[0] * (ho - 1) + 1, s[1] * (wo - 1) + 1

    def scatter(lo, hi):
        for t, (i, j) in enumerate(taps):
            r0, c0 = i * d[0], j * d[1]
            gpad[lo:hi, :, r0:r0 + hspan:s[0], c0:c0 + wspan:s[1]] += gcols[lo:hi, t]

    _split_channels(xp, c, gcols.size, scatter)
    gx = xp.ascontiguousarray(gpad[:, :, p[0]:p[0] + x_shape[2], p[1]:p[1] + x_shape[3]])
    return gx.transpose(1, 0, 2, 3)  # (N, C, H, W) view of a channel-major buffer


def _needs_grad(t) -> bool:
    return isinstance(t, Tensor) and t.requires_grad


@custom_op
def _conv2d_op(x, w, b, *, stride, padding, dilation, taps, need_x):
    y, cache = conv2d_forward(x, w, b, stride, padding, dilation, taps)

    def backward(gy):
        gx, gw, gb = conv2d_backward(gy, w, cache, need_x=need_x, has_bias=b is not None)
        return gx, gw, gb

    return y, backward


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, taps=None):
    r"""Differentiable 2-D cross-correlation (the deep-learning "convolution").

    Parameters
    ----------
    x : Tensor, shape (N, C, H, W)
    w : Tensor, shape (O, C, kh, kw)
    b : Tensor of shape (O,) or None
    stride, padding, dilation : int or (int, int)
    taps : sequence of (i, j), optional
        Kernel positions that may be non-zero (see :func:`conv2d_forward`).

    Returns
    -------
    Tensor, shape (N, O, Ho, Wo), :math:`H_o = (H + 2p - d(k-1) - 1) // s + 1`.
    """
    return _conv2d_op(
        x, w, b, stride=stride, padding=padding, dilation=dilation, taps=taps,
        need_x=_needs_grad(x),
    )


@custom_op
def _conv1d_op(x, w, b, *, stride, padding, dilation, taps, need_x):
    y, cache = conv2d_forward(
        x[:, :, None, :], w[:, :, None, :], b, (1, stride), (0, padding), (1, dilation), taps
    )

    def backward(gy):
        gx, gw, gb = conv2d_backward(
            gy[:, :, None, :], w[:, :, None, :], cache, need_x=need_x, has_bias=b is not None
        )
        return (None if gx is None else gx[:, :, 0, :]), gw[:, :, 0, :], gb

    return y[:, :, 0, :], backward


def conv1d(x, w, b=None, stride=1, padding=0, dilation=1, taps=None):
    """Differentiable 1-D convolution over ``(N, C, W)`` with weight ``(O, C, k)``.

    Implemented as :func:`conv2d` on a height-1 image; ``taps`` lists kernel positions
    ``j`` that may be non-zero. Returns ``(N, O, Wo)``.
    """
    xs, ws = tuple(x.shape), tuple(w.shape)
    if len(xs) != 3:
        raise ValueError(f"conv1d: x must have shape (N, C, W), got shape {xs}")
    if len(ws) != 3:
        raise ValueError(f"conv1d: weight must have shape (O, C, k), got shape {ws}")
    if xs[1] != ws[1]:
        raise ValueError(
            f"conv1d: input channels do not match: x has shape {xs} (C={xs[1]}) but "
            f"weight has shape {ws} (C={ws[1]})"
        )
    taps2 = None if taps is None else tuple((0, int(j)) for j in taps)
    return _conv1d_op(
        x, w, b, stride=int(stride), padding=int(padding), dilation=int(dilation),
        taps=taps2, need_x=_needs_grad(x),
    )
