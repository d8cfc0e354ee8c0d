"""Shared argument handling for kernels that take explicit randomness *or* a Philox stream.

A stochastic kernel takes either an explicit array (``uniforms=`` / ``noise=``) or a
Philox stream ``(seed, offset)``: element ``i`` (C order) of the explicit array it
replaces is stream position ``offset + i`` (see ``kernels/README.md``). With neither,
a fresh 63-bit seed is drawn from OS entropy.
"""

from __future__ import annotations

import numbers

import numpy as np

from .philox import check_offset


def resolve_stream(explicit, explicit_name: str, seed, offset,
                   n_positions: int = 0) -> tuple[int | None, int]:
    """Validate ``seed``/``offset``; return ``(seed, offset)`` (``seed`` None if explicit).

    ``n_positions`` is how many stream positions the call consumes: the stream is 2**64
    positions long, so ``offset + n_positions <= 2**64`` (a larger offset would wrap the
    counter silently in one backend and overflow a signed integer in another).
    """
    offset = check_offset(offset, 0 if explicit is not None else int(n_positions))
    if explicit is not None:
        if seed is not None:
            raise ValueError(f"pass either {explicit_name} or seed, not both")
        return None, offset
    if seed is None:
        seed = int(np.random.default_rng().integers(0, 2**63))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an int in [0, 2**64), got {seed!r}")
    return int(seed), offset


def float_dtype(*arrays):
    """float32 if the first floating array is float32, else float64."""
    for a in arrays:
        dt = getattr(a, "dtype", None)
        if dt is not None and dt.kind == "f":
            return np.float32 if dt == np.float32 else np.float64
    return np.float64


def check_unit_interval(u, name: str):
    """Raise unless every entry of ``u`` lies in [0, 1)."""
    if u.size and not bool(((u >= 0) & (u < 1)).all()):
        raise ValueError(f"{name} must lie in [0, 1)")
    return u
