"""Shared fixtures: small float64 models with fixed seeds."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

# One BLAS thread for the whole suite: the test matrices are small, so threads only add
# contention on a busy 2-core machine; and subprocesses started by the tests get the same
# setting, so their floating-point results agree bit for bit with in-process runs.
_BLAS_LIMIT = threadpool_limits(1)

from aevb_np import model


@pytest.fixture
def rng():
    return np.random.default_rng(20140101)


def small_model(decoder: str, seed: int = 0, n_x: int = 12, n_hidden: int = 7, n_latent: int = 3, M: int = 5):
    """A 12-7-3 model with weights large enough that every nonlinearity is exercised."""
    r = np.random.default_rng(seed)
    params = model.init_params(n_x, n_hidden, n_latent, decoder, r, init_std=0.5)
    if decoder == "bernoulli":
        x = (r.uniform(size=(M, n_x)) < 0.4).astype(np.float64)
        # Grey levels as Bernoulli means too; and no all-zero column, whose exactly-zero
        # gradient column would compare 0 against finite-difference round-off.
        x[-1] = r.uniform(0.1, 0.9, size=n_x)
    else:
        x = r.uniform(0.05, 0.95, size=(M, n_x))
    return params, x, r


def plain_adagrad(p, g, G, lr, scale, wd):
    """The plain form of :class:`aevb_np.optim.Adagrad` the chunked in-place update replaces.

    ``G`` starts at eps (the optimizer's ``eps``), so no eps appears here.
    """
    d = scale * g - (p if wd else 0.0)
    G = G + d * d
    return p + lr * d / np.sqrt(G), G
