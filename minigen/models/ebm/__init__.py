"""Energy-based models: exact Boltzmann utilities, Boltzmann machines, RBMs, AIS."""

from . import boltzmann
from .bm import BoltzmannMachine
from .boltzmann import (
    empirical_distribution,
    entropy,
    exact_log_likelihood,
    exact_moments,
    exact_probabilities,
    log_partition,
    tv_distance,
)
from .neural import NeuralEBM
from .rbm import BernoulliRBM, GaussianBernoulliRBM

__all__ = [
    "NeuralEBM",
    "BernoulliRBM",
    "GaussianBernoulliRBM",
    "BoltzmannMachine",
    "boltzmann",
    "empirical_distribution",
    "entropy",
    "exact_log_likelihood",
    "exact_moments",
    "exact_probabilities",
    "log_partition",
    "tv_distance",
]
