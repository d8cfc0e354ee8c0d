"""RBM training on binarized 8x8 digits: minigen (numba backend) vs scikit-learn.

Same hidden units (20), epochs, batch size and learning rate; both CD/PCD-1.
Reports seconds per epoch and the *exact* test log-likelihood (min(V, H) = 20,
so log Z is summed over 2^20 hidden configurations). On the numba backend a whole
epoch runs in one kernel call (``rbm_sgd_epoch``); ``test_minigen_numba_per_batch``
times the per-batch path (one Python round trip per 20-row batch) for comparison.

    python -m pytest bench/bench_rbm.py --benchmark-enable -q
    python bench/bench_rbm.py            # prints the comparison and the CD/PCD table
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from minigen.backend import use_backend
from minigen.models.ebm import BernoulliRBM

H, EPOCHS, BS, LR = 20, 5, 20, 0.05


def _data():
    from minigen.datasets import load_digits

    X = np.asarray(load_digits(kind="binary", split="train"), float).reshape(-1, 64)
    Xt = np.asarray(load_digits(kind="binary", split="test"), float).reshape(-1, 64)
    return X, Xt


def fit_minigen(X, backend="numba", method="pcd", k=1, epochs=EPOCHS, seed=0, fused=True):
    with use_backend(backend):
        m = BernoulliRBM(n_components=H, max_epochs=epochs, batch_size=BS, learning_rate=LR,
                         momentum=0.0, method=method, k=k, random_state=seed)
        if not fused:
            m._fused_epoch_kernel = lambda: None  # force the per-batch path
        return m.fit(X)


def fit_sklearn(X, epochs=EPOCHS, seed=0):
    from sklearn.neural_network import BernoulliRBM as SkRBM

    return SkRBM(n_components=H, n_iter=epochs, batch_size=BS, learning_rate=LR,
                 random_state=seed).fit(X)


def exact_test_ll(model, Xt) -> float:
    """Exact mean test log-likelihood (nats) of a minigen or scikit-learn RBM."""
    if not isinstance(model, BernoulliRBM):
        r = BernoulliRBM(n_components=H)
        r.build_parameters(Xt.shape[1])
        r.W_[...] = model.components_.T
        r.b_[...] = model.intercept_visible_
        r.c_[...] = model.intercept_hidden_
        r.fitted_ = True
        model = r
    with use_backend("numpy"):
        return float(model.score_samples(Xt).mean())


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.mark.benchmark(group="rbm-digits-fit")
def test_minigen_numba(benchmark, data):
    fit_minigen(data[0][:100], epochs=1)  # compile
    benchmark.pedantic(fit_minigen, args=(data[0],), rounds=5)


@pytest.mark.benchmark(group="rbm-digits-fit")
def test_minigen_numba_per_batch(benchmark, data):
    fit_minigen(data[0][:100], epochs=1, fused=False)  # compile
    benchmark.pedantic(fit_minigen, args=(data[0],), kwargs={"fused": False}, rounds=5)


@pytest.mark.benchmark(group="rbm-digits-fit")
def test_minigen_numpy(benchmark, data):
    benchmark.pedantic(fit_minigen, args=(data[0], "numpy"), rounds=5)


@pytest.mark.benchmark(group="rbm-digits-fit")
def test_sklearn(benchmark, data):
    pytest.importorskip("sklearn")
    benchmark.pedantic(fit_sklearn, args=(data[0],), rounds=5)


def _timed(fn, *a, **kw):
    times = []
    for _ in range(5):
        t = time.perf_counter()
        out = fn(*a, **kw)
        times.append(time.perf_counter() - t)
    return out, float(np.median(times))


def main():
    X, Xt = _data()
    fit_minigen(X[:100], epochs=1)  # numba compile
    print(f"digits: train {X.shape}, test {Xt.shape}; H={H}, epochs={EPOCHS}, batch={BS}")
    rows = []
    fit_minigen(X[:100], epochs=1, fused=False)
    for name, fn, kw in [("minigen numba PCD-1", fit_minigen, {}),
                         ("scikit-learn PCD-1", fit_sklearn, {}),
                         ("minigen numba per-batch", fit_minigen, {"fused": False}),
                         ("minigen numpy PCD-1", fit_minigen, {"backend": "numpy"})]:
        m, t = _timed(fn, X, **kw)
        rows.append((name, t / EPOCHS, exact_test_ll(m, Xt)))
    for name, spe, ll in rows:
        print(f"{name:24s} {spe * 1e3:8.1f} ms/epoch  exact test LL {ll:8.3f} nats")
    print(f"speed-up numba vs sklearn: {rows[1][1] / rows[0][1]:.2f}x")
    from minigen.models.ebm.ais import ais_log_likelihood_bounds

    print("\nCD-1 vs PCD-1 vs CD-10 (H=20, 20 epochs), test LL in nats:")
    print("| method | exact | AIS forward (upper) | RAISE (lower) | forward s.e. | RAISE s.e. | "
          "paired gap (s.e.) |")
    for method, k in [("cd", 1), ("pcd", 1), ("cd", 10)]:
        m = fit_minigen(X, method=method, k=k, epochs=20)
        with use_backend("numpy"):
            b = ais_log_likelihood_bounds(m, Xt, n_chains=200, n_betas=2000, data=X,
                                          n_points=len(Xt))
        print(f"| {method.upper()}-{k} | {exact_test_ll(m, Xt):.3f} | {b['upper']:.3f} | "
              f"{b['lower']:.3f} | {b['stderr_forward']:.3f} | {b['lower_stderr']:.3f} | "
              f"{b['gap']:+.3f} ({b['gap_stderr']:.3f}) |")


if __name__ == "__main__":
    main()
