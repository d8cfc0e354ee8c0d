"""Autograd ops over the coupling kernels: float64 gradient checks, agreement with the
same computation composed of plain autograd ops, on the NumPy and Numba backends."""

from __future__ import annotations

import numpy as np
import pytest

import minigen
from minigen.autograd import F, Tensor, check_grads
from minigen.autograd import coupling_ops as C

BACKENDS = ["numpy", "numba"]


def _joined(y, logdet):
    n = y.shape[0]
    return F.concatenate([F.reshape(y, (n, -1)), F.reshape(logdet, (n, 1))], axis=1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("shape", [(4, 3), (2, 2, 3), (1, 1)])
def test_affine_coupling_op_grads(backend, inverse, shape):
    rng = np.random.default_rng(0)
    x2, s, t = (rng.standard_normal(shape) for _ in range(3))
    with minigen.use_backend(backend):
        check_grads(
            lambda a, b, c: _joined(*C.affine_coupling(a, b, c, inverse=inverse)),
            x2,
            s,
            t,
            rtol=1e-6,
            atol=1e-8,
        )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("inverse", [False, True])
def test_affine_coupling_op_equals_plain_autograd(backend, inverse):
    rng = np.random.default_rng(1)
    data = [rng.standard_normal((5, 4)) for _ in range(3)]
    gy, gl = rng.standard_normal((5, 4)), rng.standard_normal(5)

    def run(use_kernel):
        x2, s, t = (Tensor(a, requires_grad=True) for a in data)
        if use_kernel:
            y, ld = C.affine_coupling(x2, s, t, inverse=inverse)
        elif inverse:
            y, ld = (x2 - t) * F.exp(-s), -F.sum(s, axis=1)
        else:
            y, ld = x2 * F.exp(s) + t, F.sum(s, axis=1)
        loss = F.sum(y * Tensor(gy)) + F.sum(ld * Tensor(gl))
        loss.backward()
        return [y.data, ld.data] + [a.grad for a in (x2, s, t)]

    with minigen.use_backend(backend):
        for a, b in zip(run(True), run(False), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_params_get_float32_grads_and_float64_logdet(backend):
    rng = np.random.default_rng(2)
    x2, s, t = (
        Tensor(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True) for _ in range(3)
    )
    with minigen.use_backend(backend):
        y, ld = C.affine_coupling(x2, s, t)
        assert y.dtype == np.float32 and ld.dtype == np.float64
        (F.sum(y) + F.sum(ld)).backward()
    assert all(a.grad.dtype == np.float32 for a in (x2, s, t))
    np.testing.assert_allclose(s.grad, np.exp(s.data) * x2.data + 1.0, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("inverse", [False, True])
def test_additive_and_actnorm_op_grads(backend, inverse):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 2, 2, 2))
    loc, ls = rng.standard_normal(2), rng.standard_normal(2)
    with minigen.use_backend(backend):
        check_grads(
            lambda a, b: C.additive_coupling(a, b, inverse=inverse),
            x,
            rng.standard_normal(x.shape),
            rtol=1e-6,
            atol=1e-8,
        )
        check_grads(
            lambda a, b, c: _joined(*C.actnorm(a, b, c, inverse=inverse)),
            x,
            loc,
            ls,
            rtol=1e-6,
            atol=1e-8,
        )
        check_grads(
            lambda a, b, c: _joined(*C.actnorm(a, b, c, inverse=inverse)),
            x[:, :, 0, 0],
            loc,
            ls,
            rtol=1e-6,
            atol=1e-8,
        )


@pytest.mark.parametrize("inverse", [False, True])
def test_invconv1x1_op_grads(inverse):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 2, 2))
    W = np.linalg.qr(rng.standard_normal((3, 3)))[0] + 0.3 * rng.standard_normal((3, 3))
    check_grads(
        lambda a, b: _joined(*C.invconv1x1(a, b, inverse=inverse)), x, W, rtol=1e-6, atol=1e-8
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_actnorm_trains_to_the_closed_form_optimum(backend):
    # Maximum likelihood of a standard-normal base through ActNorm on data with per-channel
    # mean m and std sd has the unique optimum loc = -m, exp(log_scale) = 1 / sd (sample values).
    rng = np.random.default_rng(5)
    m, sd = np.array([2.0, -1.0]), np.array([0.5, 3.0])
    data = m + sd * rng.standard_normal((4000, 2))
    loc = Tensor(np.zeros(2), requires_grad=True)
    ls = Tensor(np.zeros(2), requires_grad=True)
    with minigen.use_backend(backend):
        for _ in range(400):
            z, ld = C.actnorm(data, loc, ls)
            nll = F.mean(0.5 * F.sum(z * z, axis=1) - ld)
            loc.grad = ls.grad = None
            nll.backward()
            for p in (loc, ls):
                p.data -= 0.5 * p.grad
    np.testing.assert_allclose(loc.data, -data.mean(0), atol=1e-3)
    np.testing.assert_allclose(np.exp(ls.data), 1 / data.std(0), rtol=1e-3)
