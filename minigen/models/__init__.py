"""Model families. Importing this package registers every model with the CLI.

Each family module registers its classes with :func:`minigen.base.register_model`;
add one import line here per family. The order is the registry's order (what
``minigen info`` and the tour list), so it is kept by hand, not sorted.
"""

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
#: them through :func:`minigen.base.get_model_class`
__all__ = [
    "FactorizedBernoulli", "FactorizedCategorical", "FVSBN", "MADE", "ContinuousMADE",
    "GaussianMADE", "PixelCNN", "GatedPixelCNN", "RowLSTM", "DiagonalBiLSTM",
    "PixelTransformer", "BernoulliRBM", "GaussianBernoulliRBM", "BoltzmannMachine",
    "NeuralEBM", "NICE", "RealNVP", "Glow", "MAF", "IAF", "NSF", "DiagonalGaussian",
]
