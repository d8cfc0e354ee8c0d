"""Philox stream offsets at the top of the 64-bit counter range.

Offsets are unsigned 64-bit stream positions, ``offset + n_positions <= 2**64``. The
wrappers used to accept any offset, so a call whose positions ran past ``2**64 - 1``
silently wrapped or rounded the counter instead of failing; it is now a clear
``ValueError`` in every kernel with a stream. The Numba kernels now take the offset as
``np.uint64`` and add in unsigned arithmetic (before, an offset >= 2**63 reached them as
whatever type Numba inferred from the Python int); each is run with offsets above 2**63,
up to the last position ``2**64 - 1``, and compared with the NumPy reference.
"""

import numpy as np
import pytest

from minigen.backend import backend_info, use_backend
from minigen.kernels import (
    bm_gibbs_sweep,
    langevin_run_gmm,
    langevin_run_quadratic,
    langevin_step,
    mala_step,
    preconditioned_langevin_step,
    rbm_gibbs,
)

AVAILABLE = [r["name"] for r in backend_info() if r["available"]]
OTHERS = [b for b in ("numba",) if b in AVAILABLE]
TOP = 2**64


def _cases(dt):
    """``(name, n_positions, call(offset))`` for every kernel with a Philox stream."""
    rng = np.random.default_rng(0)
    N, D, T = 6, 3, 4
    x, g, y = (rng.normal(size=(N, D)).astype(dt) for _ in range(3))
    e_x, e_y = (x**2).sum(1) / 2, (y**2).sum(1) / 2
    m = (rng.random(D) + 0.5).astype(dt)
    w, mu, s = np.array([0.4, 0.6]), rng.normal(size=(2, D)), np.array([0.5, 1.0])
    A = np.eye(D) * 2.0
    B, V, H, k = 5, 7, 4, 2
    v = (rng.random((B, V)) < 0.5).astype(dt)
    W, b, c = rng.normal(size=(V, H)).astype(dt), np.zeros(V, dt), np.zeros(H, dt)
    chains, n, sweeps = 3, 5, 2
    J = rng.normal(size=(n, n)) * 0.3
    J = ((J + J.T) / 2).astype(dt)
    np.fill_diagonal(J, 0)
    state = (rng.random((chains, n)) < 0.5).astype(dt)
    return [
        ("langevin_step", x.size, lambda o: langevin_step(x, g, 0.1, seed=3, offset=o)),
        ("preconditioned", x.size, lambda o: preconditioned_langevin_step(
            x, g, 0.1, precond_diag=m, seed=3, offset=o)),
        ("mala", N, lambda o: mala_step(x, y, g, y, e_x, e_y, 0.1, seed=3, offset=o).x),
        ("gmm", T * x.size, lambda o: langevin_run_gmm(x, T, 0.05, w, mu, s, seed=3, offset=o)),
        ("quadratic", T * x.size, lambda o: langevin_run_quadratic(
            x, T, 0.05, A, np.zeros(D), seed=3, offset=o)),
        ("rbm_gibbs", k * B * (H + V), lambda o: rbm_gibbs(v, W, b, c, k, seed=3, offset=o).v),
        ("bm_gibbs_sweep", sweeps * state.size, lambda o: bm_gibbs_sweep(
            state, J, np.zeros(n, dt), n_sweeps=sweeps, seed=3, offset=o)),
    ]


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_offsets_up_to_the_last_position_match_the_reference(backend, dt):
    for name, size, call in _cases(dt):
        for offset in (2**63 + 11, TOP - size):
            with use_backend("numpy"):
                want = np.asarray(call(offset))
            with use_backend(backend):
                got = np.asarray(call(offset))
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("backend", ["numpy"] + OTHERS)
def test_offset_past_the_end_of_the_stream_is_a_clear_error(backend):
    with use_backend(backend):
        for _name, size, call in _cases(np.float64):
            for offset in (TOP - size + 1, TOP):
                with pytest.raises(ValueError, match="offset"):
                    call(offset)
            with pytest.raises(ValueError, match="offset"):
                call(-1)
