"""Fanning work out to executors (minigen.parallel): a real Dask LocalCluster of 2 and of 1
worker processes gives the same bits as the serial run, for AIS, cross-validation, the
tour's table and a scikit-learn grid search; a worker killed mid-run changes nothing."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
from minigen.datasets import load_dataset  # noqa: E402
from minigen.models import MADE, BernoulliRBM  # noqa: E402
from minigen.models.ebm.ais import (  # noqa: E402
    ais_log_partition,
    raise_log_likelihood,
    reverse_ais_log_partition,
)
from minigen.parallel import chain_normals, chain_uniforms, local_cluster, map_ordered  # noqa
from minigen.training import cross_validate  # noqa: E402


@pytest.fixture(scope="module")
def clusters():
    """Executors of a 2-worker and a 1-worker LocalCluster (processes, 1 thread each)."""
    made = [local_cluster(2), local_cluster(1)]
    yield {2: made[0][1], 1: made[1][1], "clients": [c for c, _ in made]}
    for client, _ in made:
        client.close()


@pytest.fixture(scope="module")
def rbm():
    X = load_dataset("digits", "train").reshape(-1, 64)
    return BernoulliRBM(n_components=12, max_epochs=2, random_state=0, verbose=False).fit(X), X


def test_chain_streams_do_not_depend_on_the_split():
    full = chain_uniforms(7, 3, 0, 10, 5)
    parts = np.vstack([chain_uniforms(7, 3, a, b, 5) for a, b in ((0, 3), (3, 4), (4, 10))])
    np.testing.assert_array_equal(full, parts)
    assert not np.array_equal(full, chain_uniforms(7, 4, 0, 10, 5))  # another step
    assert not np.array_equal(full, chain_uniforms(8, 3, 0, 10, 5))  # another seed
    z = chain_normals(1, 0, 0, 4000, 50)
    assert abs(z.mean()) < 5 / np.sqrt(z.size) and abs(z.var() - 1) < 5 * np.sqrt(2 / z.size)


def test_ais_is_bit_identical_on_any_number_of_workers(clusters, rbm):
    model, X = rbm
    kw = dict(n_chains=60, n_betas=200, random_state=3, block_size=16)
    serial = ais_log_partition(model, **kw)
    rev = reverse_ais_log_partition(model, X[:40], n_betas=150, random_state=3, block_size=16)
    rkw = dict(n_chains_per_point=3, n_betas=150, random_state=4, block_size=16, verbose=False)
    low = raise_log_likelihood(model, X[:13], **rkw)  # 39 chains: blocks cut across points
    for n in (2, 1):
        par = ais_log_partition(model, executor=clusters[n], **kw)
        np.testing.assert_array_equal(par.log_weights, serial.log_weights)
        assert par.log_z == serial.log_z and par.stderr == serial.stderr
        rp = reverse_ais_log_partition(model, X[:40], n_betas=150, random_state=3,
                                       block_size=16, executor=clusters[n])
        assert rp.log_z == rev.log_z
        rl = raise_log_likelihood(model, X[:13], executor=clusters[n], **rkw)
        np.testing.assert_array_equal(rl.log_likelihoods, low.log_likelihoods)
    # and it estimates log Z: within 5 reported standard errors of the exact value
    assert abs(serial.log_z - model.log_partition("exact")) < 5 * max(serial.stderr, 1e-3)


def test_mcmc_chains_and_diagnostics_are_bit_identical(clusters):
    from minigen import mcmc

    prec = np.array([[2.0, 0.6], [0.6, 1.0]])

    def energy(x):  # local functions: Dask pickles them by value
        return 0.5 * np.einsum("ni,ij,nj->n", x, prec, x)

    def grad(x):
        return x @ prec

    x0 = np.random.default_rng(0).normal(size=(40, 2))
    runs = {
        "mala": lambda ex: mcmc.mala(energy, grad, x0, 30, burn_in=10, random_state=5,
                                     block_size=16, executor=ex),
        "hmc": lambda ex: mcmc.hmc(energy, grad, x0, 20, burn_in=5, random_state=5,
                                   block_size=16, executor=ex),
        "gibbs": lambda ex: mcmc.gibbs_boltzmann(np.array([[0, 1.0], [1.0, 0]]),
                                                 np.zeros(2), 30, n_chains=40, burn_in=5,
                                                 random_state=5, block_size=16, executor=ex),
    }
    for name, run in runs.items():
        serial = run(None)
        for n in (2, 1):
            par = run(clusters[n])
            np.testing.assert_array_equal(par.samples, serial.samples, err_msg=name)
            np.testing.assert_array_equal(par.acceptance_rate, serial.acceptance_rate)
            np.testing.assert_array_equal(par.split_rhat(), serial.split_rhat())
            np.testing.assert_array_equal(par.effective_sample_size(),
                                          serial.effective_sample_size())


def test_cross_validate_scores_are_bit_identical(clusters):
    X = load_dataset("digits", "train")[:300]
    model = MADE(hidden_sizes=(16,), max_epochs=2, verbose=False)
    serial = cross_validate(model, X, k=3, random_state=4)
    for n in (2, 1):
        assert cross_validate(model, X, k=3, random_state=4, executor=clusters[n]) == serial


def test_tour_table_is_bit_identical(clusters, tmp_path):
    from minigen.tour import run_tour

    keys = ["baseline", "made", "rbm", "realnvp-ring8"]
    serial = run_tour(tmp_path / "s", mode="smoke", seed=1, verbose=False, only=keys)
    par = run_tour(tmp_path / "p", mode="smoke", seed=1, verbose=False, only=keys,
                   executor=clusters[2])
    for a, b in zip(serial["results"], par["results"], strict=True):
        assert a["status"] == b["status"] == "ok", (a.get("error"), b.get("error"))
        assert (a["key"], a["nll_nats"], a["bits_per_dim"], a["kl"]) == \
               (b["key"], b["nll_nats"], b["bits_per_dim"], b["kl"])


def test_grid_search_on_the_dask_joblib_backend(clusters):
    joblib = pytest.importorskip("joblib")
    from sklearn.model_selection import GridSearchCV

    X = load_dataset("digits", "train")[:240]
    grid = {"learning_rate": [1e-4, 3e-3]}
    model = MADE(hidden_sizes=(16,), max_epochs=3, random_state=0, verbose=False)
    serial = GridSearchCV(model, grid, cv=3).fit(X)
    with joblib.parallel_backend("dask"):
        par = GridSearchCV(model, grid, cv=3, n_jobs=-1).fit(X)
    assert par.best_params_ == serial.best_params_
    np.testing.assert_array_equal(par.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])


class _DiesOnce:
    """A model factory whose first call kills the worker process it runs in (the marker
    file makes the retry survive): Dask must reschedule the fold elsewhere."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __call__(self):
        if not Path(self.marker).exists():
            Path(self.marker).write_text("died")
            os._exit(1)
        return MADE(hidden_sizes=(16,), max_epochs=2, verbose=False)


def test_a_killed_worker_is_retried_and_the_answer_is_the_same(clusters, tmp_path):
    X = load_dataset("digits", "train")[:300]
    serial = cross_validate(lambda: MADE(hidden_sizes=(16,), max_epochs=2, verbose=False), X,
                            k=3, random_state=4)
    marker = tmp_path / "died"
    par = cross_validate(_DiesOnce(marker), X, k=3, random_state=4, executor=clusters[2])
    assert marker.read_text() == "died" and par == serial


def test_errors_without_dask_and_with_a_bad_executor(monkeypatch):
    with pytest.raises(TypeError, match="concurrent.futures.Executor"):
        map_ordered(object(), print, [()])
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'minigen\[dask\]'"):
        local_cluster(1)


def test_tasks_get_aligned_arrays():
    """A worker may unpack an array at any byte offset (BLAS then runs ~3x slower):
    ``map_ordered`` hands every task aligned NumPy arrays, with the same values."""
    from concurrent.futures import ThreadPoolExecutor

    from minigen.parallel import map_ordered

    raw = np.arange(1, 65, dtype=np.float64).tobytes()
    buf = bytearray(len(raw) + 1)
    buf[1:] = raw
    misaligned = np.frombuffer(buf, dtype=np.float64, offset=1)
    assert not misaligned.flags.aligned

    def seen(a, k):
        return a.flags.aligned, float(a.sum()) + k

    with ThreadPoolExecutor(2) as ex:
        out = map_ordered(ex, seen, [(misaligned, 0), (misaligned, 1)])
    assert out == [(True, 2080.0), (True, 2081.0)]


def test_local_cluster_workers_keep_an_adaptive_allocator(clusters):
    """The nanny's MALLOC_TRIM_THRESHOLD_ (every large array mapped and faulted in afresh:
    ~45% more CPU per AIS block) is not set in the workers, even after another cluster
    leaked it into this process; BLAS runs one thread there; the caller's Dask config
    keeps distributed's defaults."""
    import dask
    from threadpoolctl import threadpool_info

    def blas_threads():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    os.environ["MALLOC_TRIM_THRESHOLD_"] = "65536"  # what an earlier plain nanny leaves
    try:
        client, _ = local_cluster(1)
    finally:
        del os.environ["MALLOC_TRIM_THRESHOLD_"]
    try:
        for c in [client, *clusters["clients"]]:
            env = c.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
            assert set(env.values()) == {None}, env
            assert all(t == {1} for t in c.run(blas_threads).values())
    finally:
        client.close()
    assert dask.config.get("distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_") \
        == 65536
