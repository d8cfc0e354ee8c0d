"""``custom_op``: kernel-backed ops (Numba, CUDA) joined to the autograd graph."""

from __future__ import annotations

import functools
from collections.abc import Callable

from ..backend import xp_of
from .tensor import Tensor, _MultiOutput, _shape_str, _Slot, make_tensor


def custom_op(fn: Callable) -> Callable:
    r"""Decorator: make an op on Tensors from a function on raw arrays and its backward.

    The decorated function receives the *raw* ``xp`` arrays of its positional
    arguments (Tensors are unwrapped; other arguments and all keyword arguments
    pass through untouched and are treated as constants) and returns
    ``(outputs, backward)``:

    * ``outputs`` is one array, or a tuple of arrays for a multi-output op;
    * ``backward(*output_grads)`` receives one gradient per output (an array of
      zeros for an output that did not take part in the loss) and returns one
      gradient per positional input (``None`` allowed, e.g. for constants or
      integer inputs); a single-input op may return a bare array.

    Example
    -------
    >>> @custom_op
    ... def affine_coupling_op(x2, s, t):           # raw xp arrays
    ...     y, logdet = kernel(x2, s, t)
    ...     def backward(gy, glogdet):               # zeros if an output is unused
    ...         return gx2, gs, gt                   # one per input (None allowed)
    ...     return (y, logdet), backward              # single output: return y, backward
    >>> y, logdet = affine_coupling_op(x2_tensor, s_tensor, t_tensor)

    Calling it with Tensors (or arrays) returns Tensor(s) joined to the graph when
    grad mode is on and some input requires grad; the backward is then called once
    per :meth:`Tensor.backward` with all output gradients. Gradients returned for
    inputs that need none are ignored; a wrong gradient shape raises ``ValueError``
    naming the op and the input.
    """
    name = getattr(fn, "__name__", "custom_op")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        raw = [a.data if isinstance(a, Tensor) else a for a in args]
        xp_of(*[r for r in raw if hasattr(r, "shape")])  # clear error on NumPy/CuPy mixing
        out, backward = fn(*raw, **kwargs)
        multi = isinstance(out, (tuple, list))
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        parents = tuple(args[i] for i in positions)
        n_args = len(args)

        def vjp(g):
            gs = backward(*g) if multi else backward(g)
            if not isinstance(gs, (tuple, list)):
                gs = (gs,)
            if len(gs) != n_args:
                raise ValueError(
                    f"backward of custom op {name!r} returned {len(gs)} gradient(s) for "
                    f"{n_args} input(s)"
                )
            return tuple(_input_grad(name, i, gs[i], args[i]) for i in positions)

        if not multi:
            return make_tensor(out, parents, vjp)
        out = tuple(out)
        joint = make_tensor(out, parents, vjp)
        if not joint.requires_grad:
            return tuple(Tensor(o) for o in out)
        joint.__class__ = _MultiOutput
        results = []
        for k, o in enumerate(out):
            results.append(make_tensor(o, (joint,), _slot_backward(k)))
        return tuple(results)

    wrapper.__wrapped_op__ = fn
    return wrapper


def _input_grad(name: str, i: int, g, arg):
    """Gradient ``g`` returned for input ``i`` (a Tensor), shaped like it (a gradient with
    the same number of elements is reshaped; any other shape is the op's bug)."""
    if g is None or not arg.requires_grad or g.shape == arg.shape:
        return g
    if getattr(g, "size", 0) == arg.size:
        return g.reshape(arg.shape)
    raise ValueError(f"backward of custom op {name!r} returned a gradient of shape "
                     f"{_shape_str(g.shape)} for input {i} of shape {_shape_str(arg.shape)}")


def _slot_backward(k: int) -> Callable:
    def backward(g):
        return (_Slot(k, g),)

    return backward
