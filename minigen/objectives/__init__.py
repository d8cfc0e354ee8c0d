"""Objectives beyond maximum likelihood: reverse KL (fit a sampler to an unnormalized
density, estimate log Z) and REINFORCE (sequence-level rewards for autoregressive models)."""

from __future__ import annotations

from .forward_kl import fit_forward_kl
from .importance import LogZEstimate, effective_sample_size, estimate_log_z, importance_log_z
from .log_density import LogDensity, gaussian_mixture_log_density
from .reinforce import (
    ReinforceHistory,
    greedy_decode,
    reinforce_loss_and_grads,
    train_reinforce,
)
from .reverse_kl import ReverseKLResult, fit_reverse_kl, reverse_kl_loss_and_grads

__all__ = [
    "LogDensity", "gaussian_mixture_log_density",
    "LogZEstimate", "effective_sample_size", "importance_log_z", "estimate_log_z",
    "ReverseKLResult", "fit_reverse_kl", "reverse_kl_loss_and_grads", "fit_forward_kl",
    "ReinforceHistory", "reinforce_loss_and_grads", "train_reinforce", "greedy_decode",
]  # fmt: skip
