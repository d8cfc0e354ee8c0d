"""Randomness conventions.

One ``random_state`` argument (``None``, an ``int`` seed, or a
:class:`numpy.random.Generator`) is turned into a Generator *once*, at a public
boundary, by :func:`check_random_state`, and that Generator is passed down
(scikit-learn's convention, with the modern Generator API).

Kernels take their randomness explicitly, as arrays of uniforms in ``[0, 1)``
or standard normals, so that every backend can be checked against the NumPy
reference on exactly the same draws. :func:`uniforms` and :func:`normals` draw
those arrays on the host and move them to the active backend.
"""

from __future__ import annotations

import numbers

import numpy as np

from .backend import get_backend

RandomState = "None | int | Generator | RandomState | SeedSequence | BitGenerator"


def check_random_state(random_state=None) -> np.random.Generator:
    """Turn ``random_state`` into a :class:`numpy.random.Generator`.

    Parameters
    ----------
    random_state : None, int, Generator, RandomState, SeedSequence or BitGenerator
        ``None`` gives fresh OS entropy; an ``int`` (>= 0) or a ``SeedSequence`` seeds a
        new PCG64 Generator; a ``Generator`` is returned as is and a ``BitGenerator``
        wrapped (both shared, not copied: drawing advances the caller's stream); a legacy
        ``RandomState`` seeds a new Generator from four 32-bit words it draws (so it
        advances, as scikit-learn's use of a shared ``RandomState`` does).
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.BitGenerator):
        return np.random.Generator(random_state)
    if isinstance(random_state, np.random.SeedSequence):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**32, size=4, dtype=np.uint64))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int, got {random_state}")
        return np.random.default_rng(int(random_state))
    raise TypeError(
        "random_state must be None, a non-negative int, or a numpy Generator, RandomState, "
        f"SeedSequence or BitGenerator; got {type(random_state).__name__}"
    )


def uniforms(rng: np.random.Generator, shape, dtype=np.float32, backend=None):
    """Uniform draws in ``[0, 1)`` of ``shape`` and ``dtype``, on the active backend.

    Drawn on the host from ``rng`` (so every backend sees the same numbers),
    then moved with ``backend.asarray``.
    """
    backend = backend or get_backend()
    u = rng.random(shape, dtype=np.dtype(dtype).type)
    return backend.asarray(u)


def normals(rng: np.random.Generator, shape, dtype=np.float32, backend=None):
    """Standard-normal draws of ``shape`` and ``dtype``, on the active backend."""
    backend = backend or get_backend()
    z = rng.standard_normal(shape, dtype=np.dtype(dtype).type)
    return backend.asarray(z)


def generator_state(rng: np.random.Generator) -> dict:
    """JSON-serializable state of a Generator's bit generator (for checkpoints)."""
    return rng.bit_generator.state


def generator_from_state(state: dict) -> np.random.Generator:
    """Rebuild a Generator from :func:`generator_state` output, bit for bit."""
    if not isinstance(state, dict):
        raise ValueError(f"saved random state must be a dict, got {type(state).__name__}")
    name = state.get("bit_generator")
    bitgen_cls = getattr(np.random, str(name), None)
    # only numpy's bit generators: "RandomState" or "SeedSequence" name other things
    if not (isinstance(bitgen_cls, type) and issubclass(bitgen_cls, np.random.BitGenerator)
            and bitgen_cls is not np.random.BitGenerator):
        raise ValueError(f"unknown bit generator {name!r} in saved random state (expected "
                         "one of numpy's: PCG64, PCG64DXSM, MT19937, Philox, SFC64)")
    bitgen = bitgen_cls()
    try:
        bitgen.state = state
    except (TypeError, ValueError, KeyError, OverflowError, AttributeError) as exc:
        raise ValueError(f"saved random state of {name} is invalid ({type(exc).__name__}: "
                         f"{exc})") from None
    return np.random.Generator(bitgen)
