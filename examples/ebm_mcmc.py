"""Energy-based models need MCMC: Gibbs on an exact Boltzmann machine, an RBM, Langevin.

    python examples/ebm_mcmc.py           # < 1 minute
    python examples/ebm_mcmc.py --smoke   # tiny sizes (tests)
"""

from __future__ import annotations

import argparse

import numpy as np

from minigen.datasets import load_dataset
from minigen.distributions.boltzmann import empirical_distribution, exact_probabilities, tv_distance
from minigen.mcmc import gibbs_boltzmann, ula
from minigen.models.ebm import BernoulliRBM


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    # 1. a 8-unit Boltzmann machine: exact p by enumeration, Gibbs converges to it
    n = 8
    J = np.triu(rng.normal(0, 0.5, (n, n)), 1)
    J, h = J + J.T, rng.normal(0, 0.3, n)
    p = exact_probabilities(J, h)
    chains = 2000 if args.smoke else 20000
    for sweeps in (1, 3, 10, 30):  # every chain starts at all zeros
        res = gibbs_boltzmann(J, h, 1, n_chains=chains, burn_in=sweeps - 1,
                              x0=np.zeros((chains, n)), random_state=args.seed)
        q = empirical_distribution(res.samples.reshape(-1, n), n)
        print(f"Gibbs, {sweeps:2d} sweeps from all-zeros: TV to exact p = {tv_distance(q, p):.3f}")

    # 2. an RBM on digits: exact log-likelihood (2^H hidden states), samples by Gibbs
    X = load_dataset("digits", "train").reshape(-1, 64)
    Xte = load_dataset("digits", "test").reshape(-1, 64)
    rbm = BernoulliRBM(n_components=16, max_epochs=2 if args.smoke else 20,
                       random_state=args.seed).fit(X)
    print(f"RBM test log-likelihood {rbm.score(Xte):.2f} nats (exact log Z)")
    for k in (1, 100):
        S = rbm.sample(32, random_state=args.seed, n_steps=k)
        print(f"  samples after {k:3d} Gibbs steps: mean log q = {rbm.score(S):.2f}")

    # 3. Langevin (ULA) on a 2-D Gaussian: E(x) = |x - mu|^2 / 2
    mu = np.array([1.0, -2.0])
    res = ula(lambda x: x - mu, np.zeros((100, 2)), 200 if args.smoke else 2000,
              step_size=0.1, burn_in=100, random_state=args.seed)
    print("ULA mean", np.round(res.samples.reshape(-1, 2).mean(axis=0), 2), "target", mu)


if __name__ == "__main__":
    main()
