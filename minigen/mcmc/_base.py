"""Shared plumbing of the samplers: the result container and the checks of the user's
callables at the initial states."""

from __future__ import annotations

from dataclasses import dataclass, field

from .._validation import _shape_str, check_array, check_positive_int
from ..backend import get_backend
from .diagnostics import effective_sample_size, split_rhat


@dataclass
class MCMCResult:
    """Output of a sampler.

    Attributes
    ----------
    samples : array, shape (n_chains, n_draws, D)
        Kept draws after burn-in and thinning.
    acceptance_rate : array, shape (n_chains,)
        Fraction of accepted proposals per chain during the kept phase
        (1.0 for samplers without an accept step).
    final_state : array, shape (n_chains, D)
        Last state of every chain (to continue sampling).
    info : dict
        Sampler-specific extras (step size, number of leapfrog steps, ...).
    """

    samples: object
    acceptance_rate: object
    final_state: object
    info: dict = field(default_factory=dict)

    def flat(self):
        """All draws of all chains as one ``(n_chains * n_draws, D)`` array."""
        s = self.samples
        return s.reshape(-1, s.shape[-1])

    def effective_sample_size(self):
        """Per-dimension ESS over all chains (:func:`minigen.mcmc.effective_sample_size`)."""

        return effective_sample_size(self.samples)

    def split_rhat(self):
        """Per-dimension split R-hat (:func:`minigen.mcmc.split_rhat`)."""

        return split_rhat(self.samples)


def check_x0(x0, name: str = "x0"):
    """Initial states ``(n_chains, D)`` as float64 on the active backend."""
    x0 = check_array(x0, name, ndim=(1, 2))
    xp = get_backend().xp
    x0 = xp.asarray(x0, dtype=xp.float64)
    return x0[None, :] if x0.ndim == 1 else x0.copy()


def check_schedule(n_samples, burn_in, thin):
    n_samples = check_positive_int(n_samples, "n_samples")
    burn_in = check_positive_int(burn_in, "burn_in", allow_zero=True)
    thin = check_positive_int(thin, "thin")
    return n_samples, burn_in, thin


def check_finite(values, what: str, step=None):
    """Raise a clear error instead of producing NaN samples (the runner adds the step)."""
    xp = get_backend().xp
    if not bool(xp.isfinite(values).all()):
        where = "" if step is None else f" at iteration {step}"
        raise FloatingPointError(
            f"non-finite {what}{where}; reduce the step size or check the energy function "
            "(no NaN samples are returned)"
        )


def check_output(value, name: str, shape: tuple, x):
    """Validate what a user callable ``name`` returned for the states ``x``, at its first call.

    A wrongly shaped result (e.g. a scalar energy instead of one value per chain) would
    otherwise broadcast silently and give wrong samples. Values are not checked here:
    callers decide what non-finite values mean.
    """
    value = check_array(value, f"{name}(x)", finite=False)
    if value.shape != tuple(shape):
        raise ValueError(
            f"{name}(x) must return an array of shape {_shape_str(tuple(shape))} for x of "
            f"shape {_shape_str(x.shape)} (n_chains, D), got shape {_shape_str(value.shape)}"
        )
    return value


def initial_energy(energy, x):
    """``energy(x)`` at the initial states ``x`` (n_chains, D), checked: shape (n_chains,)
    and finite. Later states may have energy +inf (zero density: the proposal is rejected;
    NaN is treated the same), but a chain must start where the density is positive: with
    a NaN start every proposal is rejected (the chain freezes silently), and with a +inf
    start the chain jumps to its first finite proposal whatever it is, and stays at a
    zero-density point until then."""
    xp = get_backend().xp
    e = check_output(energy(x), "energy", (x.shape[0],), x)
    bad = ~xp.isfinite(e)
    if bool(bad.any()):
        k = int(xp.argmax(bad))
        raise ValueError(
            f"energy(x0) must be finite for every chain (start the chains where the density "
            f"is positive), got {float(e[k])} for chain {k} ({int(bad.sum())} chain(s) in all)"
        )
    return xp.asarray(e, dtype=xp.float64)


def initial_grad(grad, x):
    """``grad(x)`` at the initial states, checked: same shape as ``x`` and finite."""
    g = check_output(grad(x), "grad", x.shape, x)
    check_finite(g, "energy gradient", 0)
    return get_backend().xp.asarray(g, dtype=x.dtype)
