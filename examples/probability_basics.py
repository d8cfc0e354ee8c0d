"""Probability basics: thresholding, the cost of joint sampling, MLE, KL and entropy.

    python examples/probability_basics.py          # < 1 minute
    python examples/probability_basics.py --smoke  # tiny sizes (tests)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from minigen.datasets import load_dataset
from minigen.distributions import chain_rule_sample, naive_joint_sample
from minigen.divergences import cross_entropy, entropy, kl_divergence
from minigen.kernels import multinomial_threshold
from minigen.models.baseline import FactorizedBernoulli


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    n = 10_000 if args.smoke else 1_000_000

    # 1. one categorical draw = one uniform + a threshold on the cumulative sums
    w = np.array([1.0, 2.0, 7.0])
    k = multinomial_threshold(np.tile(w, (n, 1)), rng.random(n))
    print("frequencies", np.round(np.bincount(k, minlength=3) / n, 3), "target", w / w.sum())

    # 2. joint sampling over C^D outcomes vs the chain rule (D draws of size C)
    C = 2
    for D in ((4, 8) if args.smoke else (4, 8, 12, 16)):
        def log_prob(X, D=D):
            return X.sum(axis=1) * np.log(0.3) + (D - X.sum(axis=1)) * np.log(0.7)

        t0 = time.perf_counter()
        naive_joint_sample(log_prob, D, C, 1000, random_state=0)
        t_naive = time.perf_counter() - t0

        def conditional(prefix, i):
            return np.tile([0.7, 0.3], (len(prefix), 1))

        t0 = time.perf_counter()
        chain_rule_sample(conditional, D, C, 1000, random_state=0)
        t_chain = time.perf_counter() - t0
        print(f"D={D:2d}: naive over {C**D:6d} outcomes {t_naive * 1e3:7.2f} ms, "
              f"chain rule {t_chain * 1e3:6.2f} ms")

    # 3. maximum likelihood = minimum KL(p || q): H(p, q) = H(p) + KL(p || q)
    p, q = np.array([0.5, 0.25, 0.25]), np.array([0.4, 0.4, 0.2])
    print(f"H(p)={entropy(p):.4f} H(p,q)={cross_entropy(p, q):.4f} "
          f"KL(p||q)={kl_divergence(p, q):.4f}")

    # 4. the factorized baseline on binarized digits
    X = load_dataset("digits", "train").reshape(-1, 64)
    Xte = load_dataset("digits", "test").reshape(-1, 64)
    model = FactorizedBernoulli(alpha=1.0).fit(X)
    print(f"baseline digits test NLL {model.nll(Xte):.3f} nats "
          f"({model.nll(Xte, unit='bits/dim'):.4f} bits/dim)")


if __name__ == "__main__":
    main()
