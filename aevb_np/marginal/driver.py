"""The per-batch driver the three log p(x) estimators over a model's ``params`` share: the
argument checks, the float64 cast, the chains' start points and the progress bar.

References
----------
Kingma & Welling (2014), Appendix D.
"""

from __future__ import annotations

import numpy as np

from aevb_np import model
from aevb_np.checks import check_count, check_finite, check_float_array, check_rng, check_unit_interval
from aevb_np.errors import ShapeError
from aevb_np.params import Params, check_params
from aevb_np.posterior import decoder_architecture


def _check_model_and_x(params, x, need_encoder: bool) -> tuple[int, int, str]:
    """Validate ``params`` (``theta``, and ``phi`` when needed) and ``x``; return (D, Nz, decoder)."""
    if not isinstance(params, dict) or "theta" not in params:
        raise ShapeError(
            "params must be a dict with a 'theta' group (and 'phi' for encoder-based estimates), "
            f"got {type(params).__name__} with keys {sorted(params) if isinstance(params, dict) else '-'}"
        )
    D, H, Nz, decoder = decoder_architecture(params["theta"])
    if need_encoder or "phi" in params:
        if "phi" not in params:
            raise ShapeError("params must hold the encoder 'phi' for importance sampling with q_φ(z|x)")
        D_enc, H_enc, Nz_enc, _ = model.architecture(params)
        check_params({"phi": params["phi"]}, {"phi": model.param_shapes(D_enc, H_enc, Nz_enc)["phi"]})
        if (D_enc, Nz_enc) != (D, Nz):
            raise ShapeError(
                f"encoder and decoder disagree: encoder maps D={D_enc} to Nz={Nz_enc}, decoder Nz={Nz} to D={D}"
            )
    check_float_array("x", x, shape=(None, D))
    if x.shape[0] < 1:
        raise ShapeError(f"x must hold at least one datapoint, got shape {x.shape}")
    check_finite("x", x)
    if decoder == "bernoulli":
        check_unit_interval("x", x)
    return D, Nz, decoder


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


def _progress_bar(progress: bool, total: int, desc: str, unit: str):
    """A tqdm bar (tqdm.auto) or a do-nothing stand-in; tqdm is imported only when needed."""
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, dynamic_ncols=True, leave=False)


class _NoBar:
    def update(self, n=1):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _start_points(params, x, rng) -> np.ndarray:
    """Chain starts: the encoder mean when there is an encoder, else a draw from the prior."""
    if "phi" in params:
        return model.encode(params["phi"], x)[0]
    Nz = decoder_architecture(params["theta"])[2]
    return rng.standard_normal((x.shape[0], Nz))


def _as_float64(params: Params, x: np.ndarray):
    """Estimates are computed in float64 whatever the training dtype (float32 sums of 5000 terms drift)."""
    p64 = {g: {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()} for g, arrays in params.items()}
    return p64, np.asarray(x, dtype=np.float64)


def per_batch(params: Params, x: np.ndarray, rng: np.random.Generator, estimate, *, batch_size: int,
              need_encoder: bool = False, z0: np.ndarray | None = None, chain_starts: bool = False,
              progress: bool = False, desc: str = "", unit: str = "datapoint", bar_per_row: int | None = None) -> tuple:
    """Run ``estimate`` on ``batch_size`` rows of ``x`` at a time, after the checks every estimator shares.

    The one driver of :func:`~aevb_np.marginal.importance_sampled_log_px`,
    :func:`~aevb_np.marginal.appendix_d_log_px` and
    :func:`~aevb_np.marginal.hmc_importance_sampled_log_px`: it checks ``rng``,
    ``batch_size``, ``params`` and ``x`` (and ``z0``), computes in float64 whatever the
    training dtype, gives each batch its chains' start points, and keeps the progress bar.

    Parameters
    ----------
    params : dict
        ``{"theta": ...}`` and, when ``need_encoder``, ``"phi"`` (Appendix C).
    x : ndarray, shape (N, D)
    rng : numpy.random.Generator
        Passed through to ``estimate``; the start points are drawn from it (before the
        batch's estimate) when there is neither an encoder nor ``z0``.
    estimate : callable
        ``estimate(params, xb, start, bar) -> tuple of ndarray, each shape (M,)`` for a batch
        ``xb`` of M rows (``params`` cast to float64; ``start`` is None unless
        ``chain_starts``).  It may move ``bar`` itself (then pass ``bar_per_row``).
    batch_size : int
        Rows per batch.
    need_encoder : bool
        ``params`` must hold ``"phi"``.
    z0 : ndarray, shape (N, Nz), optional
        Chain starts, checked here.
    chain_starts : bool
        Give ``estimate`` start points: ``z0``'s rows, else the encoder mean, else a prior draw.
    progress : bool
        Show a tqdm bar with ``desc`` and ``unit``.
    bar_per_row : int, optional
        The bar counts N·``bar_per_row`` units (e.g. samples) and ``estimate`` moves it;
        default: it counts datapoints and moves by M after each batch.

    Returns
    -------
    tuple of ndarray, each shape (N,)
        ``estimate``'s outputs over the batches, in row order.

    Raises
    ------
    ShapeError, NonFiniteError, SupportError, ConfigError
        Bad ``params``, ``x``, ``z0``, ``batch_size`` or ``rng``.
    """
    check_rng(rng)
    batch_size = check_count(batch_size, "batch_size", 1)
    _, Nz, _ = _check_model_and_x(params, x, need_encoder)
    params, x = _as_float64(params, x)
    if z0 is not None:
        check_float_array("z0", z0, shape=(x.shape[0], Nz))
        check_finite("z0", z0)
    N, outputs = x.shape[0], []
    with _progress_bar(progress, N * (bar_per_row or 1), desc, unit) as bar:
        for sl in _batches(N, batch_size):
            xb, start = x[sl], None
            if chain_starts:
                start = _start_points(params, xb, rng) if z0 is None else np.asarray(z0[sl], dtype=np.float64)
            outputs.append(estimate(params, xb, start, bar))
            if bar_per_row is None:
                bar.update(xb.shape[0])
    return tuple(np.concatenate(column) for column in zip(*outputs))
