"""Sampling from distributions: why factorization matters, and Categorical vs peers.

* naive joint sampling over all ``2**D`` outcomes vs the chain rule (``D`` thresholdings),
  for a fully visible sigmoid belief net on ``D = 12, 16, 20`` binary variables, 1000 draws
  (numpy backend: the comparison is about the algorithm, not the kernel);
* ``Categorical(probs).sample`` on a (4096, 256) batch vs ``torch.multinomial``.

Run: ``python -m pytest bench/bench_distributions.py --benchmark-enable -q``
"""

from __future__ import annotations

import numpy as np
import pytest

from minigen import distributions as dist
from minigen import use_backend

N = 1000


def _fvsbn(D, seed=0):
    rng = np.random.default_rng(seed)
    W = np.tril(rng.standard_normal((D, D)) * 0.5, -1)
    b = rng.standard_normal(D) * 0.5
    return W, b


def _log_prob(X, W, b):
    logits = X @ W.T + b
    return (X * logits - np.logaddexp(0, logits)).sum(1)


@pytest.mark.benchmark(group="joint-sampling-n1000")
@pytest.mark.parametrize("D", [12, 16, 20])
def test_naive_joint(benchmark, D):
    W, b = _fvsbn(D)
    with use_backend("numpy"):
        benchmark.pedantic(dist.naive_joint_sample, (lambda X: _log_prob(X, W, b), D, 2, N, 0),
                           rounds=3 if D < 20 else 1)


@pytest.mark.benchmark(group="joint-sampling-n1000")
@pytest.mark.parametrize("D", [12, 16, 20])
def test_chain_rule(benchmark, D):
    W, b = _fvsbn(D)

    def conditional(prefix, d):
        p1 = 1 / (1 + np.exp(-(prefix @ W[d, :d] + b[d])))
        return np.stack([1 - p1, p1], 1)

    with use_backend("numpy"):
        benchmark(dist.chain_rule_sample, conditional, D, 2, N, 0)


@pytest.mark.benchmark(group="categorical-4096x256")
def test_categorical_minigen(benchmark):
    probs = np.random.default_rng(0).random((4096, 256))
    cat = dist.Categorical(probs=probs)
    cat.sample(1, 0)  # compile / warm up
    benchmark(cat.sample, 1, 1)


@pytest.mark.benchmark(group="categorical-4096x256")
def test_categorical_torch(benchmark):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    probs = torch.tensor(np.random.default_rng(0).random((4096, 256)))
    benchmark(torch.multinomial, probs, 1)
