"""Autograd op over the spline kernel: float64 gradient checks with respect to x and all
three parameter sets, agreement with the kernel, and a 1-D density fit that trains through
it, on the NumPy and Numba backends."""

from __future__ import annotations

import numpy as np
import pytest

import minigen
from minigen.autograd import F, Tensor, check_grads
from minigen.autograd import spline_ops as S
from minigen.kernels import spline as K
from minigen.optim import Adam

BACKENDS = ["numpy", "numba"]


def _joined(y, logdet):
    n = y.shape[0]
    return F.concatenate([F.reshape(y, (n, -1)), F.reshape(logdet, (n, 1))], axis=1)


def _params(rng, shape, n_bins, scale=1.0):
    w, h = (scale * rng.standard_normal(shape + (n_bins,)) for _ in range(2))
    return w, h, scale * rng.standard_normal(shape + (n_bins - 1,))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("shape,n_bins", [((4, 3), 5), ((2, 2, 3), 4), ((3, 2), 1), ((5, 1), 2)])
def test_spline_op_grads(backend, inverse, shape, n_bins):
    rng = np.random.default_rng(sum(shape) + n_bins + 7 * inverse)
    x = rng.uniform(-3.6, 3.6, shape)  # some elements in the identity tails (B = 3)
    w, h, d = _params(rng, shape, n_bins)
    with minigen.use_backend(backend):
        check_grads(lambda *a: _joined(*S.spline_coupling(*a, inverse=inverse)), x, w, h, d,
                    rtol=1e-6, atol=1e-8, n_directions=4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_spline_op_grads_options(backend):
    # another tail bound and minimum sizes reach the kernel's backward too
    rng = np.random.default_rng(3)
    x = rng.uniform(-1.2, 1.2, (3, 4))
    w, h, d = _params(rng, (3, 4), 6, scale=2.0)
    opts = dict(tail_bound=1.0, min_bin_width=0.05, min_bin_height=0.02, min_derivative=0.1)
    with minigen.use_backend(backend):
        check_grads(lambda *a: _joined(*S.spline_coupling(*a, **opts)), x, w, h, d,
                    rtol=1e-6, atol=1e-8, n_directions=4)
        y, ld = S.spline_coupling(x, w, h, d, **opts)
        y2, ld2 = K.spline_coupling(x, w, h, d, **opts)
    np.testing.assert_array_equal(y.data, y2)
    np.testing.assert_array_equal(ld.data, ld2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_spline_op_float32_grads_keep_dtype(backend):
    rng = np.random.default_rng(4)
    x = rng.uniform(-3, 3, (5, 3)).astype(np.float32)
    w, h, d = (a.astype(np.float32) for a in _params(rng, (5, 3), 4))
    ts = [Tensor(a, requires_grad=True) for a in (x, w, h, d)]
    with minigen.use_backend(backend):
        y, ld = S.spline_coupling(*ts)
        assert y.data.dtype == np.float32 and ld.data.dtype == np.float64
        (F.sum(y) + F.sum(ld)).backward()
    assert all(t.grad.dtype == np.float32 and t.grad.shape == t.shape for t in ts)


def _mixture_entropy():
    """Differential entropy of 0.5 N(-1.5, 0.4^2) + 0.5 N(1.5, 0.4^2), by quadrature."""
    g = np.linspace(-6, 6, 200001)
    p = 0.5 * sum(np.exp(-0.5 * ((g - m) / 0.4) ** 2) / (0.4 * np.sqrt(2 * np.pi))
                  for m in (-1.5, 1.5))
    return float(-np.sum(p * np.log(p)) * (g[1] - g[0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_spline_flow_trains_through_the_op(backend):
    """Maximum likelihood of a bimodal 1-D density with one 16-bin spline to N(0, 1):
    the test NLL ends within 0.02 nats + 4 standard errors of the true entropy (the best
    affine map is 0.66 nats away), and sampling by the inverse reproduces the two modes."""
    rng = np.random.default_rng(0)
    n, n_bins = 2000, 16

    def draw(m):
        return (rng.choice([-1.5, 1.5], m) + 0.4 * rng.standard_normal(m))[:, None]

    x_train, x_test = draw(n), draw(n)
    raw = {k: np.zeros((1, 1, n_bins - (k == "d"))) for k in ("w", "h", "d")}
    opt = Adam(raw, lr=0.05)

    def nll(x, params):  # per sample: -log N(z; 0, 1) - log|dz/dx|
        w, h, d = (F.broadcast_to(params[k], (x.shape[0], 1, params[k].shape[-1]))
                   for k in ("w", "h", "d"))
        z, ld = S.spline_coupling(x, w, h, d, tail_bound=4.0)
        return 0.5 * F.sum(z * z, axis=1) + 0.5 * np.log(2 * np.pi) - ld

    with minigen.use_backend(backend):
        for _ in range(150):
            params = {k: Tensor(v, requires_grad=True) for k, v in raw.items()}
            F.mean(nll(x_train, params)).backward()
            opt.step({k: params[k].grad for k in raw})
        test_nll = nll(x_test, {k: Tensor(v) for k, v in raw.items()}).data
        z = rng.standard_normal((n, 1))
        samples, _ = K.spline_coupling(z, *(np.broadcast_to(raw[k], (n, 1, raw[k].shape[-1]))
                                           for k in ("w", "h", "d")),
                                       inverse=True, tail_bound=4.0)
    gap = test_nll.mean() - _mixture_entropy()
    bound = 0.02 + 4 * test_nll.std() / np.sqrt(n)
    assert abs(gap) < bound, (gap, bound)
    # the samples are bimodal: few between the modes, each mode holding about half
    assert np.mean(np.abs(samples) < 0.5) < 0.05
    assert abs(np.mean(samples > 0) - 0.5) < 4 * 0.5 / np.sqrt(n)
