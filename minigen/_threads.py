"""One CPU threading policy for the whole library.

Two choices depend on whether the cores are free:

* **BLAS threads.** The products of a training step or a sampler's step are small
  ((32 x 256) @ (256 x 1024)); a second BLAS thread gains ~1.5x on an idle machine, but
  OpenBLAS's spinning workers make them several times *slower* once other processes
  compete for the cores (PixelCNN steps 5-10x, the neural EBM's Langevin loop 10-40x on the
  loaded 2-core box). Busy: one BLAS thread.
* **Copy threads.** NumPy releases the GIL while copying, so conv2d's large strided copies
  run on a small thread pool; on busy cores the helpers only wait for a core. Busy: none.

The machine is looked at **once**, when the training loop or a sampler enters
:func:`cpu_policy`; ops and models read :func:`current_policy` and never the load average.
A policy entered inside another is the outer one (one decision per call of the user's).
Threads change speed; BLAS may sum in another order, so scores can differ in the last
bits (tests/test_threads.py: same samples, scores within 1e-5, under both policies).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from dataclasses import dataclass

__all__ = ["ThreadPolicy", "cpu_policy", "current_policy", "usable_cpus"]


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under ``taskset``), else the count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _cpus_busy() -> bool:
    """1-minute load average above the usable CPUs: extra threads would wait for a core."""
    try:
        return os.getloadavg()[0] > usable_cpus()
    except (AttributeError, OSError):  # e.g. Windows: assume free cores
        return False


@dataclass(frozen=True)
class ThreadPolicy:
    """``serial_blas``: one BLAS thread (NumPy, with ``threadpoolctl`` installed);
    ``copy_threads``: threads for NumPy's large copies (1: none)."""

    serial_blas: bool = False
    copy_threads: int = 1

    @classmethod
    def for_this_machine(cls) -> ThreadPolicy:
        """The policy for the cores as they are now (free: threads; busy: serial)."""
        if _cpus_busy():
            return cls(serial_blas=True, copy_threads=1)
        return cls(serial_blas=False, copy_threads=max(1, min(4, usable_cpus())))


_DEFAULT = ThreadPolicy(serial_blas=False, copy_threads=max(1, min(4, usable_cpus())))
_current: contextvars.ContextVar[ThreadPolicy | None] = contextvars.ContextVar(
    "minigen_thread_policy", default=None)


def current_policy() -> ThreadPolicy:
    """The policy in force (outside :func:`cpu_policy`: threads on, BLAS as configured)."""
    return _current.get() or _DEFAULT


@functools.lru_cache(maxsize=1)
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: only a speed-up
        return None
    return ThreadpoolController().select(user_api="blas")


@contextlib.contextmanager
def cpu_policy(policy: ThreadPolicy | None = None):
    """Run the block under ``policy`` (default: :meth:`ThreadPolicy.for_this_machine`).

    Entered by :func:`minigen.training.train` and the samplers and scorers of the
    autoregressive models, the flows and the neural EBM; inside another ``cpu_policy``
    it keeps the outer policy."""
    if _current.get() is not None:
        yield _current.get()
        return
    policy = policy or ThreadPolicy.for_this_machine()
    token = _current.set(policy)
    try:
        ctl = _blas_controller() if policy.serial_blas else None
        with ctl.limit(limits=1) if ctl is not None else contextlib.nullcontext():
            yield policy
    finally:
        _current.reset(token)
