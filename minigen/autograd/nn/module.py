"""``Parameter``, ``Module``, containers and activation modules.

A :class:`Module` registers the :class:`Parameter` s, sub-modules and buffers
assigned to its attributes, in assignment order, so ``named_parameters()``
yields dotted names (``"net.0.weight"``) in a stable order. Parameters hold the
live arrays: :meth:`Module.param_arrays` returns them (not copies), which is
what :mod:`minigen.optim` updates in place and what a model's
``trainable_arrays()`` should return.
"""

from __future__ import annotations

from collections.abc import Iterator

from ...backend import get_backend, xp_of
from ...random import check_random_state
from .. import functional as F
from ..tensor import Tensor, _shape_str


class Parameter(Tensor):
    """A leaf Tensor that requires grad and is registered by the Module holding it."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class of layers and networks: override :meth:`forward`, call the module.

    Attributes
    ----------
    training : bool
        Training mode (affects dropout and similar layers); see :meth:`train`/:meth:`eval`.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "training", True)

    # --------------------------------------------------------------- registration
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before "
                f"assigning attribute {name!r}"
            )
        for d in (self._parameters, self._modules, self._buffers):
            d.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for d in (self._parameters, self._modules, self._buffers):
            d.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, array) -> None:
        """Keep a non-trainable array (e.g. a mask) as attribute ``name`` and in ``state_dict``."""
        object.__setattr__(self, name, array)
        self._buffers[name] = True

    # --------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # --------------------------------------------------------------- traversal
    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(dotted_name, Parameter)`` pairs, each Parameter once, in registration order."""
        seen = set()
        for mname, m in self.named_modules(prefix):
            for pname, p in m._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> Iterator[tuple[str, object]]:
        for mname, m in self.named_modules():
            for bname in m._buffers:
                yield (f"{mname}.{bname}" if mname else bname), getattr(m, bname)

    # --------------------------------------------------------------- modes, grads
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def param_arrays(self) -> dict:
        """``{dotted_name: live array}`` (the Parameters' ``.data``, not copies)."""
        return {name: p.data for name, p in self.named_parameters()}

    def grad_arrays(self) -> dict:
        """``{dotted_name: gradient}``, zeros where ``.grad`` is None."""
        return {
            name: (p.grad if p.grad is not None else xp_of(p.data).zeros_like(p.data))
            for name, p in self.named_parameters()
        }

    def num_parameters(self) -> int:
        return int(sum(p.size for p in self.parameters()))

    # --------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """``{name: array}`` for parameters and buffers (live arrays, not copies)."""
        out = self.param_arrays()
        out.update(dict(self.named_buffers()))
        return out

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy ``state``'s arrays into the live parameters/buffers, in place.

        Raises ``KeyError`` for missing/unexpected names (when ``strict``) and
        ``ValueError`` naming the entry for a shape mismatch.
        """
        own = self.state_dict()
        if strict:
            missing = sorted(set(own) - set(state))
            unexpected = sorted(set(state) - set(own))
            if missing or unexpected:
                raise KeyError(
                    f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
                )
        backend = get_backend()
        for name, dst in own.items():
            if name not in state:
                continue
            src = state[name]
            src = src.data if isinstance(src, Tensor) else src
            if tuple(src.shape) != tuple(dst.shape):
                raise ValueError(
                    f"load_state_dict: {name!r} has shape {_shape_str(src.shape)} in the "
                    f"state dict, the module expects {_shape_str(dst.shape)}"
                )
            src = src if xp_of(dst) is xp_of(src) else backend.asarray(src)
            dst[...] = src

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        return ""


class ModuleList(Module):
    """A list of modules, registered as ``"0"``, ``"1"``, ... (no forward of its own)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, m: Module) -> ModuleList:
        i = len(self._modules)
        if not isinstance(m, Module):
            raise TypeError(f"{type(self).__name__} item {i} is a {type(m).__name__}, "
                            "not a Module")
        setattr(self, str(i), m)
        return self

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class Sequential(ModuleList):
    """Chain of modules applied in order; children are named ``"0"``, ``"1"``, ..."""

    def __init__(self, *modules: Module):
        super().__init__(modules)

    def forward(self, x):
        for m in self:
            x = m(x)
        return x


# ------------------------------------------------------------------- activations


class _Activation(Module):
    """``forward(x) = fn(x, *settings)``: an elementwise function of ``functional`` (``F``) with
    the settings named in ``settings`` (constructor arguments, shown in the repr)."""

    settings: tuple[str, ...] = ()

    def __init__(self, *values):
        super().__init__()
        for name, value in zip(self.settings, values, strict=True):
            setattr(self, name, value)

    @staticmethod
    def fn(x, *settings):
        raise NotImplementedError  # pragma: no cover - abstract

    def forward(self, x):
        return self.fn(x, *(getattr(self, name) for name in self.settings))

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={getattr(self, name)}" for name in self.settings)


class Identity(_Activation):
    fn = staticmethod(lambda x: x)


class ReLU(_Activation):
    fn = staticmethod(F.relu)


class Tanh(_Activation):
    fn = staticmethod(F.tanh)


class Sigmoid(_Activation):
    fn = staticmethod(F.sigmoid)


class Softplus(_Activation):
    fn = staticmethod(F.softplus)


class GELU(_Activation):
    """GELU, tanh approximation (see :func:`minigen.autograd.functional.gelu`)."""

    fn = staticmethod(F.gelu)


class LeakyReLU(_Activation):
    settings = ("negative_slope",)
    fn = staticmethod(F.leaky_relu)

    def __init__(self, negative_slope: float = 0.01):
        super().__init__(negative_slope)


class ELU(_Activation):
    settings = ("alpha",)
    fn = staticmethod(F.elu)

    def __init__(self, alpha: float = 1.0):
        super().__init__(alpha)


class Dropout(Module):
    """Inverted dropout with probability ``p``, active only in training mode.

    The mask generator comes from ``random_state`` once (None, int seed or Generator).
    """

    def __init__(self, p: float = 0.5, random_state=None):
        super().__init__()

        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability p must be in [0, 1), got {p}")
        self.p = p
        self.rng = check_random_state(random_state)

    def forward(self, x):
        return F.dropout(x, self.p, training=self.training, random_state=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"
