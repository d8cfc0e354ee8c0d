"""Model families. Importing this package registers every model with the CLI.

Each family module registers its classes with :func:`minigen.registry.register_model`;
add one import line here per family. The order is the registry's order (what
``minigen info`` and the tour list), so it is kept by hand, not sorted.
"""

from ..base import GenerativeModel
from ..registry import lookup

# isort: off
from . import baseline  # noqa: E402,F401
from . import ebm  # noqa: E402,F401
from . import autoregressive  # noqa: E402,F401
from . import flows  # noqa: E402,F401
# isort: on
from .autoregressive import (  # noqa: E402
    FVSBN,
    MADE,
    ContinuousMADE,
    DiagonalBiLSTM,
    GatedPixelCNN,
    GaussianMADE,
    PixelCNN,
    PixelTransformer,
    RowLSTM,
)
from .baseline import FactorizedBernoulli, FactorizedCategorical  # noqa: E402
from .ebm import BernoulliRBM, BoltzmannMachine, GaussianBernoulliRBM, NeuralEBM  # noqa: E402
from .flows import IAF, MAF, NICE, NSF, DiagonalGaussian, Glow, RealNVP  # noqa: E402

#: the public model classes (``from minigen.models import MADE``); registry names map to
#: them through :func:`get_model_class`
__all__ = [
    "get_model_class", "load",
    "FactorizedBernoulli", "FactorizedCategorical", "FVSBN", "MADE", "ContinuousMADE",
    "GaussianMADE", "PixelCNN", "GatedPixelCNN", "RowLSTM", "DiagonalBiLSTM",
    "PixelTransformer", "BernoulliRBM", "GaussianBernoulliRBM", "BoltzmannMachine",
    "NeuralEBM", "NICE", "RealNVP", "Glow", "MAF", "IAF", "NSF", "DiagonalGaussian",
]


def get_model_class(name: str) -> type:
    """The model class registered as ``name`` (``"made"`` -> :class:`MADE`); the error
    lists the known names. Every family is imported with this package, so all are known."""
    return lookup(name)


def load(path):
    """Rebuild any model saved with ``model.save(path)``, whatever its class.

    Same as :meth:`minigen.base.GenerativeModel.load` called on the base class, with every
    family imported (so registered) first. Raises :class:`minigen.io.CheckpointError`
    naming the file for a corrupt, truncated or crafted file.
    """
    return GenerativeModel.load(path)
