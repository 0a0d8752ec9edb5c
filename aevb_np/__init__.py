"""aevb_np: Auto-Encoding Variational Bayes (Kingma & Welling, 2014) in plain NumPy.

Every gradient is derived and written by hand; see ``docs/equations.md`` for the map
from the paper's equations to the functions that implement them and the tests that
check them.  ``python -m aevb_np`` lists the command-line tools; data files are looked
for and downloaded as :mod:`aevb_np.data` describes.
"""

from aevb_np.errors import (
    AEVBError,
    CheckpointError,
    ConfigError,
    DataError,
    NonFiniteError,
    ShapeError,
    SupportError,
    TrainingDivergedError,
)

__version__ = "0.1.0"

__all__ = [
    "AEVBError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "NonFiniteError",
    "ShapeError",
    "SupportError",
    "TrainingDivergedError",
    "__version__",
]
