"""The one exception family of aevb_np.

Every error a *user* can cause (bad arrays, bad flags, missing or corrupt files, a
checkpoint that does not match) is an :class:`AEVBError`; the CLI turns these into one
line on stderr and exit status 2.  Anything else that escapes is a bug in aevb_np and
keeps its traceback.

Messages name the argument, what was expected and what came, for example
``x must have shape (M, 784), got (100, 28, 28)``.
"""


class AEVBError(ValueError):
    """Base class: a user's mistake or bad input, reported in one line."""


class ShapeError(AEVBError):
    """An array has the wrong shape, number of dimensions or dtype."""


class NonFiniteError(AEVBError):
    """An array holds NaN or inf where finite numbers are required."""


class SupportError(AEVBError):
    """A value lies outside the support of a likelihood (e.g. Bernoulli target > 1)."""


class DataError(AEVBError):
    """A data file is missing, truncated, corrupt or of the wrong format."""


class CheckpointError(AEVBError):
    """A checkpoint is missing, corrupt, or contradicts the requested configuration."""


class ConfigError(AEVBError):
    """An impossible flag or option value (non-positive learning rate, unknown dataset, ...)."""


class TrainingDivergedError(AEVBError):
    """The objective or the parameters became non-finite during training."""
