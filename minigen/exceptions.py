"""The errors minigen raises on purpose (importable without the models)."""

from __future__ import annotations

from ._validation import NonFiniteError
from .io import CheckpointError

__all__ = ["NotFittedError", "TrainingDiverged", "CheckpointError", "NonInvertibleError",
           "NonFiniteError", "MinigenWarning", "EstimateWarning"]


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``.

    Subclasses ``ValueError`` and ``AttributeError`` as scikit-learn's
    ``NotFittedError`` does, so code written for scikit-learn catches it.
    """


class TrainingDiverged(RuntimeError):
    """Training stopped because it diverged (see :func:`minigen.training.train`).

    Attributes: ``epoch`` and ``step`` (0-based, where it was detected) and
    ``checkpoint`` (path of the last good checkpoint, or ``None``). The model holds the
    parameters of the last epoch that passed the divergence guard (the initial ones if
    the first epoch diverged), the same as that checkpoint.
    """

    def __init__(self, message, epoch, step, checkpoint=None):
        super().__init__(message)
        self.epoch, self.step, self.checkpoint = epoch, step, checkpoint


class NonInvertibleError(ValueError):
    """A transform's parameters do not define an invertible map (singular 1x1 weight,
    zero or non-finite ActNorm scale, ...). During training this is divergence:
    :func:`minigen.training.train` turns it into :class:`TrainingDiverged`."""


class MinigenWarning(UserWarning):
    """Base of minigen's warnings: a recoverable condition the user should know about."""


class EstimateWarning(MinigenWarning):
    """A number the user may take as exact is an estimate (e.g. an RBM's log-likelihood
    through an AIS estimate of log Z). Filter it with ``warnings.simplefilter("ignore",
    minigen.exceptions.EstimateWarning)``."""
