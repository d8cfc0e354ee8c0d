"""Energy-based models: Boltzmann machines, RBMs (with AIS), a neural EBM.

The exact enumeration they are checked against is :mod:`minigen.distributions.boltzmann`.
"""

from .bm import BoltzmannMachine
from .neural import NeuralEBM
from .rbm import BernoulliRBM, GaussianBernoulliRBM

__all__ = ["NeuralEBM", "BernoulliRBM", "GaussianBernoulliRBM", "BoltzmannMachine"]
