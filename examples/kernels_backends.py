"""The backend switch: the same kernels on NumPy (reference), Numba and CuPy, same samples.

    python examples/kernels_backends.py           # < 1 minute
    python examples/kernels_backends.py --smoke   # tiny sizes (tests)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import minigen
from minigen.autograd import Tensor
from minigen.kernels import langevin_step, multinomial_threshold, rbm_gibbs


def _time(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes")
    args = ap.parse_args(argv)
    rows = [r for r in minigen.backend_info()]
    for r in rows:
        print(f"{r['name']:6s} {'available' if r['available'] else 'unavailable: ' + r['reason']}")
    names = [r["name"] for r in rows if r["available"]]

    n, c = (2000, 64) if args.smoke else (100_000, 256)
    rng = np.random.default_rng(0)
    w = rng.random((n, c)).astype(np.float32)
    u = rng.random(n).astype(np.float32)
    v = (rng.random((256, 64)) < 0.5).astype(np.float32)
    W = rng.normal(0, 0.1, (64, 32)).astype(np.float32)
    b, cc = np.zeros(64, np.float32), np.zeros(32, np.float32)
    x = rng.normal(size=(n, 8))
    g, noise = x.copy(), rng.normal(size=(n, 8))
    ref = {}
    for name in names:
        with minigen.use_backend(name) as be:
            arr = be.asarray
            k, t = _time(lambda: multinomial_threshold(arr(w), arr(u)))  # noqa: B023
            gib = rbm_gibbs(arr(v), arr(W), arr(b), arr(cc), 1, seed=7)
            lx = langevin_step(arr(x), arr(g), 0.1, noise=arr(noise))
            res = [minigen.backend.to_numpy(a) for a in (k, gib.v, lx)]
        if not ref:
            ref = dict(zip(("multinomial", "gibbs", "langevin"), res, strict=True))
        same = [np.array_equal(res[0], ref["multinomial"]), np.array_equal(res[1], ref["gibbs"]),
                np.allclose(res[2], ref["langevin"])]
        print(f"{name:6s} multinomial {n}x{c}: {t * 1e3:7.2f} ms; same samples as "
              f"{names[0]}: multinomial {same[0]}, Gibbs {same[1]}, Langevin {same[2]}")

    # autograd: reverse mode on a tape, d/dx sum(x^2) = 2x
    t = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    (t * t).sum().backward()
    print("autograd grad of sum(x^2) at [1, 2, 3]:", t.grad)


if __name__ == "__main__":
    main()
