r"""Reverse-mode automatic differentiation on a dynamic tape.

A :class:`Tensor` wraps an ``xp`` array (NumPy or CuPy). Every differentiable
operation computes its forward value and, right next to it, a *backward
closure* ``g -> (grad_input_0, grad_input_1, ...)``: the vector-Jacobian
product :math:`g^\top \partial f / \partial x_i` for each input (``None`` for
inputs that need no gradient, so no work is wasted on them). This is the
micrograd / HIPS-autograd design, vectorized.

:meth:`Tensor.backward` sorts the graph topologically once (iteratively, so
graphs with 10^4+ nodes do not hit the recursion limit), walks it in reverse
once, and *accumulates* gradients into ``.grad`` of the leaves that have
``requires_grad=True``. Intermediate gradients, the parents, the closures and
whatever they saved are released as the walk proceeds, so a training loop does
not grow in memory.

:func:`no_grad` turns recording off (held in a :class:`contextvars.ContextVar`,
so it nests and is thread-safe). :func:`custom_op` turns a function on raw
arrays with a hand-written backward (e.g. a Numba or CUDA kernel) into an op on
Tensors.

References: Johnson, Maclaurin, Duvenaud, "HIPS/autograd"; Karpathy, "micrograd".
"""

from __future__ import annotations

import contextlib
import contextvars
import numbers
from collections.abc import Callable, Iterator

import numpy as np

from ..backend import _is_cupy_array, xp_of

_grad_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "minigen_grad_enabled", default=True
)


def is_grad_enabled() -> bool:
    """Whether operations are currently recorded for :meth:`Tensor.backward`."""
    return _grad_enabled.get()


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager: operations inside record no graph (outputs need no grad)."""
    token = _grad_enabled.set(False)
    try:
        yield
    finally:
        _grad_enabled.reset(token)


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Context manager: re-enable recording inside a :func:`no_grad` block."""
    token = _grad_enabled.set(True)
    try:
        yield
    finally:
        _grad_enabled.reset(token)


def _shape_str(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def unbroadcast(grad, shape: tuple):
    """Sum ``grad`` over the axes that broadcasting added or stretched, down to ``shape``.

    If ``x`` of ``shape`` was broadcast to ``grad.shape`` in the forward pass, the
    gradient w.r.t. ``x`` is the sum of ``grad`` over the leading axes broadcasting
    prepended and over the axes where ``x`` had size 1.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:  # e.g. shape () from a size-1 array
        grad = grad.reshape(shape)
    return grad


def _as_array(data):
    """Keep NumPy/CuPy arrays as they are (no copy); anything else through np.asarray."""
    if isinstance(data, np.ndarray) or _is_cupy_array(data):
        return data
    return np.asarray(data)


class Tensor:
    """An array with an optional gradient, recorded on the autograd tape.

    Parameters
    ----------
    data : array-like
        A NumPy or CuPy array is kept as is (no copy, dtype unchanged); lists and
        Python scalars go through ``np.asarray`` (so floats become float64).
    requires_grad : bool
        Whether :meth:`backward` should accumulate a gradient into ``.grad``.
        Only floating dtypes can require a gradient.

    Attributes
    ----------
    data : xp array
        The value.
    grad : xp array or None
        Accumulated gradient (same shape and dtype as ``data``) after ``backward``.
    requires_grad : bool
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_leaf", "__weakref__")
    # Make ``ndarray (op) Tensor`` defer to Tensor's reflected operators.
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data, requires_grad: bool = False):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _as_array(data)
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError(
                f"only floating-point Tensors can require gradients, got dtype {self.data.dtype}"
            )
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._parents: tuple = ()
        self._backward: Callable | None = None
        self._leaf = True

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self._leaf

    @property
    def xp(self):
        """The array module (numpy or cupy) holding ``data``."""
        return xp_of(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        rg = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{rg})"

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ conversions
    def detach(self) -> Tensor:
        """A new leaf Tensor sharing ``data`` (no copy), cut from the graph."""
        return Tensor(self.data)

    def numpy(self) -> np.ndarray:
        """The value as a host NumPy array (a copy only for CuPy data)."""
        return self.data.get() if _is_cupy_array(self.data) else np.asarray(self.data)

    def item(self):
        """The value of a one-element Tensor as a Python scalar."""
        if self.data.size != 1:
            raise ValueError(
                f"item() needs a one-element Tensor, got shape {_shape_str(self.shape)}"
            )
        return self.data.item()

    def zero_grad(self) -> None:
        self.grad = None

    # ------------------------------------------------------------------ backward
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf), contracted with ``grad``, into every leaf's ``.grad``.

        Parameters
        ----------
        grad : array-like, optional
            Gradient of some scalar w.r.t. this Tensor, of the same shape. May be
            omitted only when this Tensor holds one element (it is then 1).
        retain_graph : bool
            Keep the graph so ``backward`` can be called again; by default the
            parents, closures and saved buffers are released as the walk goes.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() called on a Tensor that does not require grad "
                "(no input had requires_grad=True, or it was computed under no_grad())"
            )
        xp = xp_of(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    "backward() without a grad argument needs a one-element output, "
                    f"got shape {_shape_str(self.shape)}; pass grad= of that shape"
                )
            grad = xp.ones_like(self.data)
        else:
            grad = grad.data if isinstance(grad, Tensor) else grad
            if xp_of(grad, self.data) is not xp:  # pragma: no cover - xp_of raises first
                raise TypeError("grad lives on another backend than the Tensor")
            grad = xp.asarray(grad, dtype=self.data.dtype)
            if grad.shape != self.shape:
                raise ValueError(
                    f"grad has shape {_shape_str(grad.shape)}, expected {_shape_str(self.shape)}"
                )
            grad = grad.copy()  # never alias the caller's array into a leaf's .grad

        topo = _topological_order(self)
        grads: dict[int, object] = {id(self): grad}
        stored: set[int] = set()  # memory already handed to a leaf's .grad in this pass
        for node in reversed(topo):
            g = grads.pop(id(node), None)
            backward = node._backward
            if backward is None:
                if node._leaf and g is not None:
                    _accumulate_leaf(node, g, stored)
                continue
            if g is not None:
                if type(node) is _MultiOutput:
                    g = [
                        gi if gi is not None else xp.zeros_like(o)
                        for gi, o in zip(g, node.data, strict=False)
                    ]
                in_grads = backward(g)
                for parent, pg in zip(node._parents, in_grads, strict=False):
                    if pg is None or not parent.requires_grad:
                        continue
                    key = id(parent)
                    if type(pg) is _Slot:
                        slots = grads.get(key)
                        if slots is None:
                            slots = grads[key] = [None] * len(parent.data)
                        old = slots[pg.index]
                        slots[pg.index] = pg.grad if old is None else old + pg.grad
                    else:
                        old = grads.get(key)
                        grads[key] = pg if old is None else old + pg
            if not retain_graph:
                node._parents = ()
                node._backward = None

    # operators and methods are attached in functional.py


def _topological_order(root: Tensor) -> list:
    """Nodes reachable from ``root`` via requires_grad parents, parents first (iterative DFS)."""
    topo: list = []
    visited: set = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            topo.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for p in node._parents:
            if p.requires_grad and id(p) not in visited:
                stack.append((p, False))
    return topo


def _root_id(a) -> int:
    while getattr(a, "base", None) is not None:
        a = a.base
    return id(a)


def _accumulate_leaf(node: Tensor, g, stored: set) -> None:
    """Add ``g`` into ``node.grad``; never let two leaves' ``.grad`` share memory."""
    if g.dtype != node.data.dtype:
        g = g.astype(node.data.dtype)
    if g.shape != node.data.shape:  # pragma: no cover - an op returned a wrong shape
        raise RuntimeError(
            f"internal error: gradient of shape {_shape_str(g.shape)} for a leaf of shape "
            f"{_shape_str(node.data.shape)}"
        )
    if node.grad is not None:
        node.grad = node.grad + g
    elif (isinstance(g, np.ndarray) and not g.flags.writeable) or _root_id(g) in stored:
        node.grad = g.copy()  # a broadcast view (sum's VJP), or memory another leaf holds
    else:
        node.grad = g
    stored.add(_root_id(node.grad))


def make_tensor(data, parents: tuple, backward: Callable) -> Tensor:
    """Create the output of an op (used by every op; a fast path around ``__init__``).

    Parameters
    ----------
    data : xp array
        Forward value.
    parents : tuple of Tensor
        The op's Tensor inputs, in the order ``backward`` returns their grads.
    backward : callable
        ``g -> tuple`` of one gradient (or ``None``) per parent.

    The graph is recorded only when grad mode is on and some parent requires grad.
    """
    out = Tensor.__new__(Tensor)
    if isinstance(data, np.generic):  # NumPy reductions return scalars, keep 0-d arrays
        data = np.asarray(data)
    out.data = data
    out.grad = None
    out._leaf = False
    if _grad_enabled.get() and any(p.requires_grad for p in parents):
        out.requires_grad = True
        out._parents = parents
        out._backward = backward
    else:
        out.requires_grad = False
        out._parents = ()
        out._backward = None
    return out


def as_tensor(x) -> Tensor:
    """``x`` if it is a Tensor, else a constant Tensor wrapping it (no copy for arrays)."""
    return x if isinstance(x, Tensor) else Tensor(x)


# ---------------------------------------------------------------------- custom ops


class _MultiOutput(Tensor):
    """Hidden node joining the outputs of a multi-output custom op; ``data`` is the tuple."""

    __slots__ = ()


class _Slot:
    """Gradient of output ``index`` of a multi-output op, on its way to the joint node."""

    __slots__ = ("index", "grad")

    def __init__(self, index: int, grad):
        self.index = index
        self.grad = grad


def _is_number(x) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, bool)
