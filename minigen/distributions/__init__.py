"""Probability distributions: ``sample``, ``log_prob``, ``entropy`` (xp-generic).

* :class:`Categorical`, :class:`Bernoulli` (exact entropies),
* :class:`Normal` (diagonal; exact entropy), :class:`GaussianMixture` (Monte Carlo entropy),
* :class:`DiscretizedLogisticMixture` (PixelCNN++ pixels; exact entropy by enumeration),
* :func:`naive_joint_sample` (enumerate all C**D outcomes) beside :func:`chain_rule_sample`.
"""

from ._sampling import MAX_JOINT_OUTCOMES, chain_rule_sample, naive_joint_sample, threshold
from .continuous import GaussianMixture, Normal
from .discrete import Bernoulli, Categorical
from .logistic import DiscretizedLogisticMixture

__all__ = [
    "MAX_JOINT_OUTCOMES",
    "Bernoulli",
    "Categorical",
    "DiscretizedLogisticMixture",
    "GaussianMixture",
    "Normal",
    "chain_rule_sample",
    "naive_joint_sample",
    "threshold",
]
