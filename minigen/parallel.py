r"""Fanning independent work out to an executor, with answers that do not depend on it.

minigen parallelizes only what is embarrassingly parallel: cross-validation folds, AIS
chains, MCMC chains, the tour's families (one model's training stays in one process; the
GPU backend is the scale-up path). Every function that takes ``executor=`` accepts any
:class:`concurrent.futures.Executor` (``None`` runs the tasks in this process, one after
the other): a ``ProcessPoolExecutor``, or a Dask cluster's
``distributed.Client(...).get_executor()``.

**Why the answers are identical whatever the workers.** Each task is a pure function of
its arguments: its randomness is addressed by position, not drawn from a stream shared
with other tasks. A chain's uniforms come from a counter-based Philox stream at the
position of (its seed, its step, its chain index) (:func:`chain_uniforms`), a fold trains
with its own child of a :class:`numpy.random.SeedSequence`; results are gathered in task
order. So splitting 200 AIS chains into 1, 2 or 7 blocks, on 1 or 2 workers, gives the
same bits.

A process-based executor pickles the task's arguments: a model or a model class pickles,
a lambda or a local function does not with ``ProcessPoolExecutor`` (Dask pickles them
with cloudpickle).
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from .random import check_random_state

__all__ = ["map_ordered", "fixed_blocks", "chain_uniforms", "chain_normals", "local_cluster",
           "connect", "seed_from", "THREAD_ENV", "WORKER_CONFIG"]

#: a worker process runs single-threaded kernels and BLAS (workers are the parallelism)
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1"}


def map_ordered(executor, fn, tasks) -> list:
    """``[fn(*args) for args in tasks]``, through ``executor`` when one is given; results
    in task order (never completion order)."""
    tasks = list(tasks)
    if executor is None:
        return [fn(*args) for args in tasks]
    if not hasattr(executor, "submit"):
        raise TypeError(f"executor must be a concurrent.futures.Executor (with submit), got "
                        f"{type(executor).__name__}")
    futures = [executor.submit(_on_aligned_arrays, fn, *args) for args in tasks]
    return [f.result() for f in futures]


def _on_aligned_arrays(fn, *args):
    """``fn(*args)`` with NumPy arguments made aligned first: an array a Dask worker
    unpacks from a network frame can start at any byte, and BLAS runs ~3x slower on it
    (an AIS block of 25 chains on a 784x500 RBM: 3.1 s misaligned, 0.86 s aligned).
    ``np.require`` copies only an array that needs it."""
    return fn(*(np.require(a, requirements="A") if isinstance(a, np.ndarray) else a
                for a in args))


def fixed_blocks(n: int, size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive blocks of ``size`` items (the last may be shorter).

    Blocks of a fixed size, not a fixed count: a block's shape then does not depend on the
    number of workers, so neither do the float results of its matrix products (BLAS may
    sum a product of another shape in another order)."""
    return [(a, min(a + int(size), n)) for a in range(0, n, int(size))]


def _stream(seed: int, stream: int, first_draw: int):
    """A Generator on Philox key ``seed``, counter word 2 = ``stream``, advanced to the
    64-bit draw ``first_draw`` (a multiple of 4: Philox yields 4 draws per counter)."""
    bg = np.random.Philox(key=int(seed), counter=[0, 0, int(stream), 0])
    bg.advance(first_draw // 4)
    return np.random.Generator(bg)


def chain_uniforms(seed: int, stream: int, c0: int, c1: int, width: int) -> np.ndarray:
    """Uniforms ``(c1 - c0, width)`` in [0, 1) for chains ``c0..c1-1`` at ``stream`` (a step
    of the run): a function of (seed, stream, chain) alone, so any split of the chains into
    blocks draws the same numbers for each chain."""
    r = -(-int(width) // 4) * 4  # each chain's row padded to whole Philox counters
    u = _stream(seed, stream, c0 * r).random((c1 - c0) * r)
    return u.reshape(c1 - c0, r)[:, :width]


def chain_normals(seed: int, stream: int, c0: int, c1: int, width: int) -> np.ndarray:
    """Standard normals ``(c1 - c0, width)`` addressed like :func:`chain_uniforms` (Box-Muller
    on a pair of uniforms per normal: the draw count per chain is fixed)."""
    u = chain_uniforms(seed, stream, c0, c1, 2 * width)
    u1, u2 = 1.0 - u[:, :width], u[:, width:]  # u1 in (0, 1]
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


#: Dask settings of :func:`local_cluster`'s workers. The nanny's default
#: ``MALLOC_TRIM_THRESHOLD_=65536`` turns off glibc's adaptive mmap threshold, so every
#: array above 64-128 KiB is mapped and faulted in afresh: an AIS block of 25 chains on a
#: 784x500 RBM took 117,000 page faults and 1.45-1.56 CPU s in a worker against 0.98-1.10 s
#: in-process; unset, 1.04-1.16 s. (Read when a nanny starts, kept for its restarts.)
WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def local_cluster(n_workers: int = 2):
    """``(client, executor)`` of a new Dask ``LocalCluster``: ``n_workers`` processes, one
    thread each, kernels and BLAS single-threaded in them, glibc's allocator left adaptive
    (:data:`WORKER_CONFIG`). Close with ``client.close()`` (the cluster goes with it)."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError("a Dask cluster needs dask.distributed: pip install "
                          "'minigen[dask]'") from exc
    os.environ.update({k: os.environ.get(k, v) for k, v in THREAD_ENV.items()})
    # a nanny started earlier in this process left its value in os.environ (Dask's
    # documented leak), which new workers would inherit
    trim = os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    try:
        with dask.config.set(WORKER_CONFIG):  # after importing distributed (its defaults)
            cluster = LocalCluster(n_workers=int(n_workers), processes=True,
                                   threads_per_worker=1, dashboard_address=None,
                                   env=dict(THREAD_ENV))
    finally:
        if trim is not None:
            os.environ["MALLOC_TRIM_THRESHOLD_"] = trim
    client = Client(cluster)
    return client, client.get_executor()


def connect(workers=None, scheduler=None):
    """``(client, executor)``: a new :func:`local_cluster` of ``workers`` processes, or a
    client of the running scheduler at ``scheduler`` (``"tcp://host:8786"``)."""
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError as exc:
            raise ImportError("a Dask scheduler needs dask.distributed: pip install "
                              "'minigen[dask]'") from exc
        client = Client(scheduler)
        return client, client.get_executor()
    return local_cluster(workers or 2)


def seed_from(random_state) -> int:
    """An integer seed for positional streams: ``random_state`` itself when it is a
    non-negative int, else drawn once from it (a Generator, RandomState, None...)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool) \
            and random_state >= 0:
        return int(random_state)
    return int(check_random_state(random_state).integers(2**63))
