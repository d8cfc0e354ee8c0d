"""O(1) argument handling shared by the public kernel wrappers, and the status protocol.

Value checks (NaN/inf, negative weights, zero or overflowing rows, uniforms outside
[0, 1)) are not made here: each backend's ``<name>_checked`` function returns
``(result, bad)``, where ``bad`` is the first bad index (row, chain or flat element) its
kernel met while reading the data, or -1. The Numba and CUDA kernels find it inside the
loop that reads the data anyway; the NumPy reference finds it with explicit checks (it is
the specification). Only when ``bad >= 0`` does the wrapper look at the data again, to
name the offending argument in its error: the cost of validation is paid on the error
path, never on a valid call.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array
from ..backend import xp_of


def array_arg(x, name: str, **kwargs):
    """``check_array(x, name, finite=False, **kwargs)``, with a fast path for a NumPy array
    of a real dtype when only ``ndim`` is asked (the wrappers run once per kernel call,
    often on small arrays, so their Python cost shows)."""
    if type(x) is np.ndarray and x.dtype.kind in "biuf" and set(kwargs) <= {"ndim"}:
        ndim = kwargs.get("ndim")
        if ndim is None or x.ndim == ndim or (not isinstance(ndim, int) and x.ndim in ndim):
            return x

    return check_array(x, name, finite=False, **kwargs)


def as_kernel_array(a, dtype):
    """``a`` as a C-contiguous array of ``dtype`` on its own backend: ``a`` itself when it
    already is one (never copied), else one copy (strided or other-dtype input)."""
    if a.dtype == dtype and a.flags.c_contiguous:
        return a
    return xp_of(a).ascontiguousarray(a, dtype=dtype)


def same_memory(a, b) -> bool:
    """True when ``a`` and ``b`` are the same elements in the same order (exact alias)."""
    return (a.shape == b.shape and a.strides == b.strides
            and _data_ptr(a) == _data_ptr(b))


def _data_ptr(a):
    if isinstance(a, np.ndarray):
        return a.__array_interface__["data"][0]
    return a.data.ptr  # cupy


def may_overlap(a, b) -> bool:
    """Whether the memory of ``a`` and ``b`` may overlap (bounds only; O(1))."""
    if a.size == 0 or b.size == 0:
        return False
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return bool(np.may_share_memory(a, b))
    import cupy

    return bool(cupy.may_share_memory(a, b))


def unalias(out, *inputs):
    """The inputs, each copied if it partially overlaps ``out``.

    A kernel that writes ``out[i]`` after reading element ``i`` of its inputs is correct
    when an input *is* ``out`` (in place), but not when they overlap shifted: parallel
    chunks would read elements another chunk already overwrote. Such an input is copied
    first (only then); an exact alias is kept.
    """
    res = []
    for a in inputs:
        if a is not None and a is not out and may_overlap(a, out) and not same_memory(a, out):
            a = a.copy()
        res.append(a)
    return res
