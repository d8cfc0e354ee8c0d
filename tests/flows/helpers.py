"""Shared checks for flow tests: round trip, log-det vs slogdet of the numerical Jacobian."""

from __future__ import annotations

import numpy as np

from minigen.autograd import F, Tensor, no_grad


def randomize(module, rng, scale=0.3):
    """Give every parameter a random value (zero-initialised layers would hide bugs)."""
    for p in module.parameters():
        p.data[...] = rng.standard_normal(p.shape).astype(p.dtype) * scale
    return module


def roundtrip_error(t, x):
    with no_grad():
        z, ld = t.forward(Tensor(x))
        xr, ld_inv = t.inverse(z)
    return (float(np.abs(xr.data - x).max()), float(np.abs(ld.data + ld_inv.data).max()))


def jacobian_logdet(fn, x, eps=1e-6):
    """``log|det J|`` of ``fn`` (one example ``x`` -> flat output) by central differences."""
    d = x.size
    E = np.eye(d).reshape(d, *x.shape)
    X = np.concatenate([x[None] + eps * E, x[None] - eps * E])
    Y = fn(X).reshape(2 * d, -1)
    J = ((Y[:d] - Y[d:]) / (2 * eps)).T
    sign, logabs = np.linalg.slogdet(J)
    assert sign != 0
    return logabs


def check_logdet(t, x, atol=1e-6):
    """Forward and inverse log-dets of ``t`` equal slogdet of their numerical Jacobians."""
    with no_grad():
        def fwd(X):
            return t.forward(Tensor(X))[0].data

        def inv(Z):
            return t.inverse(Tensor(Z))[0].data

        z, ld = t.forward(Tensor(x))
        for i in range(min(2, len(x))):
            ref = jacobian_logdet(fwd, x[i])
            np.testing.assert_allclose(ld.data[i], ref, atol=atol, rtol=1e-6)
            zi = z.data[i]
            ref_inv = jacobian_logdet(inv, zi)
            ld_inv = t.inverse(Tensor(zi[None]))[1].data[0]
            np.testing.assert_allclose(ld_inv, ref_inv, atol=atol, rtol=1e-6)


def param_fn(t, x):
    """``fn(*param_tensors)`` giving ``[flat z, logdet]`` with the module's parameters swapped."""
    named = list(t.named_parameters())
    owners = []
    for name, _ in named:
        mod = t
        *path, leaf = name.split(".")
        for p in path:
            mod = mod._modules[p]
        owners.append((mod, leaf))

    def fn(*ts):
        old = [getattr(m, leaf) for m, leaf in owners]
        try:
            for (m, leaf), tt in zip(owners, ts, strict=True):
                object.__setattr__(m, leaf, tt)
            z, ld = t.forward(Tensor(x))
        finally:
            for (m, leaf), o in zip(owners, old, strict=True):
                object.__setattr__(m, leaf, o)
        n = z.shape[0]
        return F.concatenate([F.reshape(F.astype(z, np.float64), (n, -1)),
                              F.reshape(ld, (n, 1))], axis=1)

    return fn, [p.data.copy() for _, p in named]
