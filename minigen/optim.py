r"""Optimizers over dicts of live arrays, updated in place.

An optimizer holds references to the model's parameter arrays (NumPy or CuPy)
and, on ``step(grads)``, updates them *in place*; so it serves autograd models
(whose ``Parameter.data`` arrays are passed) and closed-form-gradient models
such as RBMs alike. All updates use in-place ufuncs with ``out=`` and at most
one scratch buffer per parameter, so a float32 step allocates nothing.

Update rules (``g`` the gradient, ``t`` the step count starting at 1):

* SGD:  ``g <- g + wd * p``; ``b <- mu * b + g``; ``p <- p - lr * (g + mu * b)`` (Nesterov)
  or ``p <- p - lr * b`` (heavy ball; ``b = g`` when ``mu = 0``).
* Adam: ``g <- g + wd * p`` (L2 in the gradient);
  ``m <- b1 m + (1 - b1) g``; ``v <- b2 v + (1 - b2) g^2``;
  ``p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
* AdamW: as Adam without L2, but first ``p <- p (1 - lr wd)`` (decoupled decay).

These match ``torch.optim`` (SGD with ``dampening=0``, Adam, AdamW) to float rounding.
Adam/AdamW and momentum SGD have a fused one-pass Numba update
(:mod:`minigen._optim_numba`), used by default when the active backend is ``numba`` and
the parameters are C-contiguous NumPy arrays (``opt.fused = None``, "auto"; ``True``
insists and raises if it cannot, ``False`` keeps the NumPy ufuncs). Adam on 10.3 M
float32 parameters: 6.0 ms fused against 31.2 ms for the ufunc passes
(``python bench/adam_step.py``, bench/README.md).

References: Kingma & Ba, "Adam: A Method for Stochastic Optimization", 2015;
Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2019.
"""

from __future__ import annotations

import math

import numpy as np

from ._validation import check_positive_float, check_positive_int
from .backend import to_numpy, xp_of

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "clip_grad_norm",
    "ConstantLR",
    "StepLR",
    "CosineLR",
    "make_optimizer",
    "make_schedule",
    "OPTIMIZERS",
]


def _all_finite(grads: dict) -> bool:
    """Whether every gradient is free of NaN/inf; one host sync on GPU, not one per array."""
    ok = True
    for g in grads.values():
        if g.size:
            ok = ok & xp_of(g).isfinite(g).all()  # stays on the device until bool()
    return bool(ok)


def _check_params(params) -> dict:
    if not isinstance(params, dict) or not params:
        raise TypeError("params must be a non-empty dict mapping names to arrays")
    for k, p in params.items():
        if not hasattr(p, "dtype") or p.dtype.kind != "f":
            raise TypeError(
                f"params[{k!r}] must be a floating-point array (updated in place), "
                f"got {type(p).__name__} of dtype {getattr(p, 'dtype', None)}"
            )
    return dict(params)


class Optimizer:
    """Base class: parameter bookkeeping, ``state_dict`` / ``load_state_dict``.

    Subclasses keep named per-parameter buffers in ``self._buffers[kind][name]``
    and the step count in ``self.t``.
    """

    _buffer_kinds: tuple[str, ...] = ()
    #: ``step`` refuses non-finite gradients (one device sync per step). A loop that checks
    #: its gradients itself sets this to False (``train``, the RBM and NeuralEBM fits).
    check_finite = True

    def __init__(self, params: dict, lr: float):
        self.params = _check_params(params)
        self.lr = check_positive_float(lr, "lr", allow_zero=True)
        self.t = 0
        self._buffers = {
            kind: {k: xp_of(p).zeros_like(p) for k, p in self.params.items()}
            for kind in self._buffer_kinds
        }
        self._scratch = {k: xp_of(p).empty_like(p) for k, p in self.params.items()}
        #: ``None`` (auto): the fused one-pass Numba update on the ``numba`` backend when
        #: every parameter is a C-contiguous NumPy array, else the NumPy ufuncs;
        #: ``True``: the fused update or an error; ``False``: the NumPy ufuncs.
        self.fused = None
        self._kernels = None

    def _numba_kernels(self):
        """The fused-update module, or ``None`` for the NumPy path (see ``fused``)."""
        if self.fused is None:
            return self._auto_kernels()
        if not self.fused:
            return None
        if self._kernels is None:
            bad = [k for k, p in self.params.items()
                   if not (isinstance(p, np.ndarray) and p.flags.c_contiguous)]
            if bad:
                raise RuntimeError(
                    f"fused=True needs C-contiguous NumPy parameters; not so: {bad}"
                )
            try:
                from . import _optim_numba
            except ImportError as exc:
                raise ImportError(
                    f"fused=True needs numba ({exc}); pip install 'minigen[numba]'"
                ) from exc
            self._kernels = _optim_numba
        return self._kernels

    def _auto_kernels(self):
        from .backend import get_backend

        if get_backend().name != "numba":
            return None
        if self._kernels is None:
            ok = all(isinstance(p, np.ndarray) and p.flags.c_contiguous
                     for p in self.params.values())
            if not ok:
                return None
            from . import _optim_numba  # the numba backend is active: numba imports

            self._kernels = _optim_numba
        return self._kernels

    def _check_grads(self, grads: dict) -> None:
        if not isinstance(grads, dict):
            raise TypeError("grads must be a dict with the same keys as params")
        missing = set(self.params) - set(grads)
        extra = set(grads) - set(self.params)
        if missing or extra:
            raise KeyError(
                f"grads keys do not match params: missing {sorted(missing)}, "
                f"unexpected {sorted(extra)}"
            )
        for k, p in self.params.items():
            g = grads[k]
            if getattr(g, "dtype", None) is None or not hasattr(g, "shape"):
                raise TypeError(f"grads[{k!r}] must be an array, got {type(g).__name__}")
            if g.dtype.kind not in "biuf":
                raise TypeError(f"grads[{k!r}] must be a real array, got dtype {g.dtype}")
            if g.shape != p.shape:
                raise ValueError(
                    f"grads[{k!r}] has shape {g.shape}, params[{k!r}] has {p.shape}"
                )
        # before any update, so a bad gradient leaves every parameter as it was
        if self.check_finite and not _all_finite(grads):
            bad = next(k for k, g in grads.items() if not _all_finite({k: g}))
            raise FloatingPointError(
                f"grads[{bad!r}] contains NaN or infinite values; no parameter was updated"
            )

    def step(self, grads: dict) -> None:
        """Update every parameter in place from ``grads`` (same keys and shapes).

        Raises ``FloatingPointError`` (and changes nothing) if a gradient holds NaN or inf.
        """
        self._check_grads(grads)
        self.t += 1
        for k, p in self.params.items():
            self._update(k, p, grads[k])

    def _update(self, name, p, g):  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat host arrays: ``"<kind>/<param>"`` buffers, ``"t"`` and ``"lr"``."""
        out = {"t": np.asarray(self.t, dtype=np.int64), "lr": np.asarray(self.lr)}
        for kind, bufs in self._buffers.items():
            for k, b in bufs.items():
                out[f"{kind}/{k}"] = to_numpy(b).copy()
        return out

    def load_state_dict(self, state: dict) -> None:
        """Restore exactly (bitwise) what :meth:`state_dict` returned."""
        want = {"t", "lr"} | {f"{kind}/{k}" for kind in self._buffers for k in self.params}
        missing = want - set(state)
        if missing:
            raise KeyError(f"optimizer state lacks {sorted(missing)}")
        for kind, bufs in self._buffers.items():
            for k, b in bufs.items():
                src = state[f"{kind}/{k}"]
                if tuple(src.shape) != tuple(b.shape):
                    raise ValueError(
                        f"optimizer state {kind}/{k} has shape {tuple(src.shape)}, "
                        f"expected {tuple(b.shape)}"
                    )
                b[...] = xp_of(b).asarray(to_numpy(src), dtype=b.dtype)
        self.t = int(to_numpy(state["t"]))
        self.lr = float(to_numpy(state["lr"]))


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay.

    Parameters
    ----------
    params : dict of str -> array
        Live parameter arrays, updated in place.
    lr : float >= 0
        (0 leaves the parameters unchanged; schedules may decay to it.)
    momentum : float in [0, 1)
    nesterov : bool
    weight_decay : float
        L2 coefficient added to the gradient: ``g + wd * p``.
    """

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        self.momentum = check_positive_float(momentum, "momentum", allow_zero=True)
        if self.momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)
        self.weight_decay = check_positive_float(weight_decay, "weight_decay", allow_zero=True)
        self._buffer_kinds = ("momentum",) if self.momentum > 0 else ()
        super().__init__(params, lr)

    def _update(self, name, p, g):
        nb = self._numba_kernels()
        if nb is not None and self.momentum:
            f = p.dtype.type
            nb.sgd_momentum_update(
                p.reshape(-1), np.ascontiguousarray(g, dtype=p.dtype).reshape(-1),
                self._buffers["momentum"][name].reshape(-1), f(self.momentum), f(self.lr),
                f(self.weight_decay), self.t == 1, self.nesterov,
            )
            return
        s = self._scratch[name]
        if self.weight_decay:
            np_mul_add(s, p, self.weight_decay, g)  # s = g + wd p
            g = s
        if self.momentum:
            b = self._buffers["momentum"][name]
            if self.t == 1:
                b[...] = g
            else:
                b *= self.momentum
                b += g
            if self.nesterov:  # p -= lr * (g + mu * b), in two in-place passes
                xp_of(b).multiply(g, self.lr, out=s)
                p -= s
                xp_of(b).multiply(b, self.momentum * self.lr, out=s)
                p -= s
                return
            else:
                g = b
        xp_of(s).multiply(g, self.lr, out=s)
        p -= s


def np_mul_add(out, a, alpha, b):
    """``out = alpha * a + b`` in place (two passes, no temporaries)."""
    xp = xp_of(out)
    xp.multiply(a, alpha, out=out)
    out += b
    return out


class Adam(Optimizer):
    r"""Adam with bias correction; ``weight_decay`` is L2 added to the gradient.

    Parameters
    ----------
    params : dict of str -> array
    lr : float >= 0
    betas : (float, float), each in [0, 1)
    eps : float > 0
    weight_decay : float >= 0
    """

    _buffer_kinds = ("m", "v")
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        want = "betas must be a pair (beta1, beta2) of floats in [0, 1)"
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__"):
            raise TypeError(f"{want}, got {type(betas).__name__} {betas!r}")
        if len(betas) != 2:
            raise ValueError(f"{want}, got {len(betas)} values {tuple(betas)!r}")
        b1, b2 = betas
        for name, b in (("betas[0]", b1), ("betas[1]", b2)):
            check_positive_float(b, name, allow_zero=True)
            if b >= 1:
                raise ValueError(f"{name} must be in [0, 1), got {b}")
        self.betas = (float(b1), float(b2))
        # eps = 0 would make a zero gradient's first step 0 / 0 = NaN
        self.eps = check_positive_float(eps, "eps")
        self.weight_decay = check_positive_float(weight_decay, "weight_decay", allow_zero=True)
        super().__init__(params, lr)

    def _update(self, name, p, g):
        xp = xp_of(p)
        b1, b2 = self.betas
        m, v, s = self._buffers["m"][name], self._buffers["v"][name], self._scratch[name]
        wd = self.weight_decay
        nb = self._numba_kernels()
        if nb is not None and self.lr > 0:
            f = p.dtype.type
            nb.adam_update(
                p.reshape(-1), np.ascontiguousarray(g, dtype=p.dtype).reshape(-1),
                m.reshape(-1), v.reshape(-1), f(b1), f(1.0 - b1), f(b2), f(1.0 - b2),
                f(1.0 / math.sqrt(1.0 - b2**self.t)), f(self.eps),
                f((1.0 - b1**self.t) / self.lr),
                f(0.0 if self._decoupled else wd),
                f(1.0 - self.lr * wd if self._decoupled else 1.0),
            )
            return
        if wd and self._decoupled:
            p *= 1.0 - self.lr * wd
        l2 = wd and not self._decoupled
        # v <- b2 v + (1 - b2) g^2
        if l2:
            np_mul_add(s, p, wd, g)
            xp.multiply(s, s, out=s)
        else:
            xp.multiply(g, g, out=s)
        s *= 1.0 - b2
        v *= b2
        v += s
        # m <- b1 m + (1 - b1) g
        if l2:
            np_mul_add(s, p, wd, g)
            s *= 1.0 - b1
        else:
            xp.multiply(g, 1.0 - b1, out=s)
        m *= b1
        m += s
        # p <- p - lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
        #    = p - m / ((sqrt(v) + eps*c) * bc1 / (lr*c)),  c = sqrt(bc2)
        if self.lr == 0:
            return
        c = math.sqrt(1.0 - b2**self.t)
        bc1 = 1.0 - b1**self.t
        k = bc1 / self.lr
        xp.sqrt(v, out=s)
        s *= k / c  # (sqrt(v)/c + eps) * k in two passes
        s += self.eps * k
        xp.divide(m, s, out=s)
        p -= s


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p <- p (1 - lr wd)`` before the Adam step."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def make_optimizer(name: str, params: dict, lr: float, **kwargs) -> Optimizer:
    """Build an optimizer by name (``"sgd"``, ``"adam"``, ``"adamw"``)."""
    key = name.lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {name!r}; choose one of {', '.join(map(repr, OPTIMIZERS))}"
        )
    return OPTIMIZERS[key](params, lr=lr, **kwargs)


def clip_grad_norm(grads: dict, max_norm: float) -> float:
    """Scale all gradients in place so their joint L2 norm is at most ``max_norm``.

    Returns the total norm *before* clipping (as ``torch.nn.utils.clip_grad_norm_``;
    the scale is ``max_norm / (norm + 1e-6)`` when that is below 1). A non-finite
    norm is returned unchanged and nothing is scaled, so the caller can detect it.
    """
    max_norm = check_positive_float(max_norm, "max_norm")
    if not isinstance(grads, dict):
        raise TypeError("grads must be a dict of arrays")
    total = 0.0
    for g in grads.values():
        xp = xp_of(g)
        total += float(xp.vdot(g.ravel(), g.ravel()).real) if g.size else 0.0
    total = math.sqrt(total) if total >= 0 else float("nan")
    if math.isfinite(total):
        coef = max_norm / (total + 1e-6)
        if coef < 1.0:
            for g in grads.values():
                g *= coef
    return total


# ------------------------------------------------------------------ schedules
class ConstantLR:
    """``lr(step) = base_lr``."""

    def __call__(self, step: int, base_lr: float) -> float:
        return float(base_lr)

    def __repr__(self):
        return "ConstantLR()"


class StepLR:
    """``lr(step) = base_lr * gamma ** (step // step_size)``."""

    def __init__(self, step_size: int, gamma: float = 0.1):
        self.step_size = check_positive_int(step_size, "step_size")
        self.gamma = check_positive_float(gamma, "gamma")

    def __call__(self, step: int, base_lr: float) -> float:
        return float(base_lr) * self.gamma ** (int(step) // self.step_size)

    def __repr__(self):
        return f"StepLR(step_size={self.step_size}, gamma={self.gamma})"


class CosineLR:
    r"""Cosine decay: ``min_lr + (base_lr - min_lr) (1 + cos(pi min(step, T)/T)) / 2``."""

    def __init__(self, total_steps: int, min_lr: float = 0.0):
        self.total_steps = check_positive_int(total_steps, "total_steps")
        self.min_lr = check_positive_float(min_lr, "min_lr", allow_zero=True)

    def __call__(self, step: int, base_lr: float) -> float:
        frac = min(int(step), self.total_steps) / self.total_steps
        return self.min_lr + (float(base_lr) - self.min_lr) * 0.5 * (1 + math.cos(math.pi * frac))

    def __repr__(self):
        return f"CosineLR(total_steps={self.total_steps}, min_lr={self.min_lr})"


SCHEDULES = {"constant": ConstantLR, "step": StepLR, "cosine": CosineLR}


def make_schedule(spec, total_steps: int | None = None):
    """``None`` / a name / a schedule object / a callable ``(step, base_lr) -> lr``.

    Names: ``"constant"``; ``"cosine"``, :class:`CosineLR` from the base rate to 0 over
    ``total_steps`` (:func:`minigen.training.train` passes the run's step count);
    ``"step"`` has no sensible default step size, so it asks for ``StepLR(step_size, gamma)``.
    """
    if spec is None:
        return ConstantLR()
    if isinstance(spec, str):
        if spec not in SCHEDULES:
            raise ValueError(
                f"unknown lr schedule {spec!r}; choose one of {', '.join(map(repr, SCHEDULES))}"
                " or pass a schedule object"
            )
        if spec == "cosine":
            if total_steps is None:
                raise ValueError("lr schedule 'cosine' by name needs total_steps; or pass "
                                 "CosineLR(total_steps, min_lr)")
            return CosineLR(total_steps)
        if spec == "step":
            raise ValueError("lr schedule 'step' needs its step size: pass "
                             "StepLR(step_size, gamma)")
        return SCHEDULES[spec]()
    if callable(spec):
        return spec
    raise TypeError(f"lr_schedule must be a name or a callable, got {type(spec).__name__}")
