"""``minigen.kernels.warm_up`` (``minigen info --warm``) compiles every Numba kernel the
hot paths use: afterwards the public calls on the ``numba`` backend compile nothing new.

Cheap after the first run: every kernel is ``cache=True``, and the other kernel tests
compile the same signatures anyway.
"""

import importlib

import numpy as np
import pytest

import minigen

pytest.importorskip("numba")

#: the jitted functions each family calls from Python (what it calls from inside them is
#: compiled with, or loaded from the cache as part of, these)
ENTRY_POINTS = {
    "minigen.kernels.cpu.philox": ["_raw", "_fill_u32", "_fill_u64", "_fill_n32", "_fill_n64"],
    "minigen.kernels.cpu.multinomial": ["_threshold", "_threshold_serial", "_logits",
                                        "_logits_serial"],
    "minigen.kernels.cpu.gibbs": ["_sigmoid_bernoulli", "_sigmoid", "bm_gibbs_sweep_kernel",
                                  "_sigmoid_bernoulli_packed", "_bm_sweep_philox_kernel",
                                  "rbm_sgd_epoch"],
    "minigen.kernels.cpu.langevin": ["_ula_flat", "_ula_diag_flat", "_mala",
                                     "_run_gmm_blocked", "_run_quadratic", "_ula_flat_philox",
                                     "_ula_diag_flat_philox", "_run_quadratic_philox",
                                     "_ula_flat_serial", "_ula_diag_flat_serial", "_mala_serial",
                                     "_ula_flat_philox_serial", "_ula_diag_flat_philox_serial",
                                     "_add_flat"],
    "minigen.kernels.cpu.coupling": ["_affine_rows", "_affine_bwd_rows", "_affine_par",
                                     "_affine_bwd_par", "_actnorm_rows", "_actnorm_par",
                                     "_actnorm_bwd_rows", "_actnorm_bwd_par", "_additive_rows",
                                     "_additive_par", "_copy2_rows", "_copy2_par"],
    "minigen.kernels.cpu.spline": ["_forward_rows", "_backward_rows", "_forward_par",
                                   "_backward_par"],
    "minigen.autograd._lstm_numba": ["lstm_step_backward"],
    "minigen._optim_numba": ["adam_update", "sgd_momentum_update"],
}
#: the float dtypes of each entry point's array arguments (default: float32 and float64)
DTYPES = {"rbm_sgd_epoch": ("float64",),  # BernoulliRBM's fused epoch
          **{n: () for n in ENTRY_POINTS["minigen.kernels.cpu.philox"]}}  # one per dtype


def _dispatchers(module_names):
    from numba.core.registry import CPUDispatcher

    out = {}
    for name in module_names:
        mod = importlib.import_module(name)
        for attr, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher) and obj.__module__ == name:
                out[f"{name}.{attr}"] = obj
    return out


def _all_dispatchers():
    helpers = ["minigen.kernels.cpu._vexp", "minigen.kernels.cpu._vnormal"]
    return _dispatchers(list(ENTRY_POINTS) + helpers)


def test_warm_up_compiles_every_family():
    from minigen.kernels import warm_up

    spent = warm_up()
    assert set(spent) == {"philox", "multinomial", "gibbs", "langevin", "coupling", "spline",
                          "lstm", "optim"}
    for module, names in ENTRY_POINTS.items():
        mod = importlib.import_module(module)
        for name in names:
            sigs = " ".join(map(str, getattr(mod, name).signatures))
            assert sigs, f"{module}.{name}: not compiled"
            for dt in DTYPES.get(name, ("float32", "float64")):
                assert f"Array({dt}, " in sigs, f"{module}.{name}: no {dt} signature ({sigs})"


def _hot_paths():
    """The library's Numba entry points, through their public callers, on tiny inputs."""
    from minigen import kernels as K
    from minigen.autograd import recurrent
    from minigen.models.ebm import BernoulliRBM
    from minigen.optim import SGD, Adam

    rng = np.random.default_rng(0)
    for dt in (np.float32, np.float64):
        V, H = 5, 3
        W, b, c = (rng.normal(size=s).astype(dt) for s in ((V, H), (V,), (H,)))
        for B in (1, 4):
            v = (rng.random((B, V)) < 0.5).astype(dt)
            K.rbm_gibbs(v, W, b, c, 2, uniforms=rng.random((2, B, H + V)).astype(dt))
            K.rbm_gibbs(v, W, b, c, 2, seed=1, offset=3)
            K.rbm_gibbs(v, W, b, c, 1, seed=1, compute_ph=False)
        J = rng.normal(size=(V, V)).astype(dt)
        J = (J + J.T) / 2
        np.fill_diagonal(J, 0)
        s = (rng.random((3, V)) < 0.5).astype(dt)
        K.bm_gibbs_sweep(s, J, b, n_sweeps=2, uniforms=rng.random((2, 3, V)).astype(dt))
        K.bm_gibbs_sweep(s, J, b, n_sweeps=2, seed=2, order=rng.permutation(V))

        x = rng.normal(size=(6, 2)).astype(dt)
        g, z = np.ones_like(x), rng.normal(size=x.shape).astype(dt)
        K.langevin_step(x, g, 0.1, noise=z)
        K.langevin_step(x.copy(), g, 0.1, seed=1, offset=2, out=None)
        xi = x.copy()
        K.langevin_step(xi, g, 0.1, seed=1, out=xi)
        m = np.ones(2, dt)
        K.preconditioned_langevin_step(x, g, 0.1, precond_diag=m, noise=z)
        K.preconditioned_langevin_step(x, g, 0.1, precond_diag=m, seed=1)
        K.preconditioned_langevin_step(x, g, 0.1, precond_chol=np.eye(2, dtype=dt), seed=1)
        e = np.zeros(6, dt)
        K.mala_step(x, x + 0.1, g, g, e, e + 0.1, 0.1, uniforms=rng.random(6))
        K.mala_step(x, x + 0.1, g, g, e, e + 0.1, 0.1, seed=4)
        w, mu, sc = np.ones(2), rng.normal(size=(2, 2)), np.ones(2)
        K.langevin_run_gmm(x, 2, 0.1, w, mu, sc, noise=rng.normal(size=(2, 6, 2)))
        K.langevin_run_gmm(x, 2, 0.1, w, mu, sc, seed=5)
        A = np.eye(2)
        K.langevin_run_quadratic(x, 2, 0.1, A, np.zeros(2), noise=rng.normal(size=(2, 6, 2)))
        K.langevin_run_quadratic(x, 2, 0.1, A, np.zeros(2), seed=5)

        for n, d in ((4, 3), (300, 256)):  # serial rows; prange chunks (>= 2**16 elements)
            x2, sv, tv = (rng.normal(size=(n, d)).astype(dt) for _ in range(3))
            for inverse in (False, True):
                K.affine_coupling(x2, sv, tv, inverse=inverse)
                K.affine_coupling_backward(x2, sv, tv, x2, np.ones(n), inverse=inverse)
        for n, d in ((4, 3), (300, 256)):
            x2, tv = (rng.normal(size=(n, d)).astype(dt) for _ in range(2))
            for inverse in (False, True):
                K.additive_coupling(x2, tv, inverse=inverse)
                K.additive_coupling_backward(x2, inverse=inverse)
        for shape in ((2, 3, 4), (64, 4, 16, 16)):
            xa = rng.normal(size=shape).astype(dt)
            K.actnorm(xa, np.zeros(shape[1], dt), np.zeros(shape[1], dt))
            K.actnorm_backward(xa, np.zeros(shape[1], dt), np.zeros(shape[1], dt), xa,
                               np.ones(shape[0]))

        for n, d in ((4, 3), (64, 300)):  # serial rows; prange chunks (>= 2**14 elements)
            xs = rng.uniform(-4, 4, (n, d)).astype(dt)
            ws, hs = (rng.normal(size=(n, d, 5)).astype(dt) for _ in range(2))
            ds = rng.normal(size=(n, d, 4)).astype(dt)
            for inverse in (False, True):
                K.spline_coupling(xs, ws, hs, ds, inverse=inverse)
                K.spline_coupling_backward(xs, ws, hs, ds, xs, np.ones(n), inverse=inverse)

        for T in (1, 3):  # g_out[:, t] is contiguous for T = 1, strided for T > 1
            xs = rng.normal(size=(2, T, 3)).astype(dt)
            w_ih, w_hh = (rng.normal(size=s).astype(dt) for s in ((8, 3), (8, 2)))
            (hs, hT, cT), cache = recurrent.lstm_forward(xs, None, None, w_ih, w_hh,
                                                         np.zeros(8, dt))
            recurrent.lstm_backward(np.ones_like(hs), np.ones_like(hT), np.ones_like(cT),
                                    w_ih, w_hh, cache)

        for opt in (Adam({"p": np.zeros(4, dt)}), SGD({"p": np.zeros(4, dt)}, 0.1,
                                                      momentum=0.9)):
            opt.fused = True
            opt.step({"p": np.ones(4, dt)})
            opt.step({"p": np.ones(4, dt)})

    X = (rng.random((10, 6)) < 0.5).astype(float)
    for method in ("cd", "pcd"):  # the fused one-call-per-epoch path
        BernoulliRBM(n_components=3, max_epochs=2, batch_size=4, method=method,
                     random_state=0).fit(X)


def test_hot_paths_compile_nothing_after_warm_up():
    from minigen.kernels import warm_up

    warm_up()
    before = {name: len(d.signatures) for name, d in _all_dispatchers().items()}
    with minigen.use_backend("numba"):
        _hot_paths()
    after = {name: len(d.signatures) for name, d in _all_dispatchers().items()}
    new = {name: after[name] - before[name] for name in after if after[name] != before[name]}
    assert not new, f"compiled after warm_up() (missing from warm-up): {new}"
