"""Exact log p(x) by quadrature over a grid of z (Nz <= 3), and chain starts drawn from the
grid-discretized posterior.

References
----------
Kingma & Welling (2014), §5 (Fig. 3: Nz = 3), Appendix D.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy.special import logsumexp

from aevb_np import distributions as dist
from aevb_np import model
from aevb_np.checks import check_count, check_positive, check_rng
from aevb_np.errors import ConfigError, NonFiniteError, ShapeError
from aevb_np.layers import softplus
from aevb_np.marginal.driver import _as_float64, _check_model_and_x
from aevb_np.posterior import decoder_architecture

#: Largest latent dimension :func:`quadrature_log_px` accepts: a grid of n points per axis
#: costs n^Nz decoder evaluations (n = 121: 1.8·10^6 at Nz = 3, 2·10^8 at Nz = 4).
QUADRATURE_MAX_NZ = 3


#: Nats below a datapoint's best grid point beyond which :func:`grid_posterior_start` draws no
#: Gumbel noise (a point that far below cannot win the Gumbel-max draw, to ~10⁻¹³).
GUMBEL_CUTOFF = 50.0


def _decoder_features(theta: dict, decoder: str, z: np.ndarray):
    """The x-independent part of log p(x|z) = X(x) · F(z) + c(z), at grid points z (G, Nz).

    Bernoulli (Eq. 11): log p(x|z) = x · a − Σ_d softplus(a_d) with a = W2 h + b2, so
    x · a = (x W2) · h + x · b2: F = [h, 1], X = [x W2, x · b2], c = −Σ softplus(a).
    Gaussian (Eq. 12): −½ Σ_d [log 2π + λ_d + (x_d − μ_d)² e^{−λ_d}] =
    x · (μ e^{−λ}) + x² · (−½ e^{−λ}) + c with c = −½ Σ_d [log 2π + λ_d + μ_d² e^{−λ_d}].
    The decoder runs once per grid point and is shared by every datapoint; each
    datapoint then costs one dot product of length H + 1 (Bernoulli) or 2 D (Gaussian).
    """
    out = model.decode(theta, z)
    if decoder == "bernoulli":
        c = -np.sum(softplus(out["logits"]), axis=1)
        return np.concatenate([out["h"], np.ones((z.shape[0], 1), dtype=out["h"].dtype)], axis=1), c
    prec = np.exp(-out["log_var"])
    mu = out["mu"]
    c = -0.5 * np.sum(dist.LOG_2PI + out["log_var"] + mu * mu * prec, axis=1)
    return np.concatenate([mu * prec, -0.5 * prec], axis=1), c


def _data_features(theta: dict, decoder: str, x: np.ndarray) -> np.ndarray:
    """X(x) of :func:`_decoder_features`, shape (N, H + 1) or (N, 2 D)."""
    if decoder == "bernoulli":
        return np.concatenate([x @ theta["W2"], (x @ theta["b2"])[:, None]], axis=1)
    return np.concatenate([x, x * x], axis=1)


def quadrature_log_px(params_or_theta, x: np.ndarray, *, grid: int = 161, limit: float = 5.0,
                      chunk_size: int = 4096, return_info: bool = False):
    """Exact (to grid error) log p_θ(x) = log ∫ p_θ(x|z) N(z; 0, I) dz for Nz <= 3, by quadrature.

    The integral is approximated by the trapezoidal rule on the regular grid of ``grid``
    points per axis over the box [−limit, limit]^Nz (step h = 2·limit/(grid − 1)),
    evaluated as one log-sum-exp per datapoint: log p̂(x) = log Σ_g p(x, z_g) + Nz log h.
    No sampling is involved, so the only errors are the grid's: the discretization error
    and the mass of p(z|x) outside the box.

    Why a regular grid and not Gauss–Hermite: (1) the integrand p(x|z) N(z; 0, I) is
    smooth and decays like a Gaussian or faster, for which the trapezoidal rule converges
    geometrically, like exp(−2π² σ² / h²) for a posterior of width σ (Trefethen &
    Weideman 2014, §5: on R it is as efficient as Gauss–Hermite, which has no
    polynomial accuracy to exploit when the integrand is far from polynomial × Gaussian).
    (2) Gauss–Hermite on the prior's weight places n nodes over ±√(2n) with spacing about
    π/√(2n) at the centre, so resolving a posterior of width 0.05 needs n ≈ 2000 nodes
    per axis where the grid needs ~160; a Gauss–Hermite rule adapted to each datapoint's
    posterior would need that posterior to be unimodal and located beforehand.  (3) One
    grid serves every datapoint: the decoder runs once per grid point and each datapoint
    costs a dot product (see ``_decoder_features``), 784 times cheaper than a decoder
    pass at D = 784, H = 100.  (4) The grid gives its own error estimate for free: the
    2^Nz sub-grids of step 2h (every other point along each axis, 2^Nz offsets) are
    2^Nz independent, coarser trapezoidal rules whose mean is the fine one; their
    spread bounds the error of the step-2h rule, and with geometric convergence the
    step-h answer is far more accurate still.

    Parameters
    ----------
    params_or_theta : dict
        ``{"theta": ...}`` (``"phi"`` is ignored) or the decoder dict itself (Appendix C.1
        Bernoulli or C.2 Gaussian).
    x : ndarray, shape (N, D)
        Datapoints.
    grid : int
        Points per axis, >= 3 (odd puts z = 0 on the grid).  Cost: grid^Nz decoder
        evaluations plus N · grid^Nz dot products.
    limit : float
        Half-width of the box, in prior standard deviations; > 0.
    chunk_size : int
        Grid points per decoder pass; memory is about chunk_size · (D + N) · 8 bytes
        (4096 · (784 + 1000) · 8 ≈ 60 MB) whatever the grid.
    return_info : bool
        Also return the diagnostics below.

    Returns
    -------
    log_px : ndarray, shape (N,)
        log p_θ(x_i) in nats.
    info : dict, only if ``return_info``
        ``error_estimate`` (N,): max over the 2^Nz step-2h sub-grids of
        ``|log p̂_2h − log p̂_h|``, nats, a conservative bound on the discretization error of
        ``log_px``; ``boundary_fraction`` (N,): the share of the grid's mass on the
        faces of the box (should be ≪ 1e-6; if not, widen ``limit``); ``step`` h;
        ``n_points`` grid^Nz.

    Raises
    ------
    ConfigError
        Nz > 3 (:data:`QUADRATURE_MAX_NZ`: the grid's cost grows as grid^Nz), or a bad
        ``grid``, ``limit`` or ``chunk_size``.
    ShapeError, NonFiniteError, SupportError
        Bad decoder arrays or ``x``.

    References
    ----------
    Kingma & Welling (2014), §2.1 (p_θ(x) = ∫ p_θ(z) p_θ(x|z) dz) and Appendix C;
    Trefethen & Weideman (2014), "The exponentially convergent trapezoidal rule",
    SIAM Review 56(3), §5.
    """
    theta = params_or_theta.get("theta", params_or_theta) if isinstance(params_or_theta, dict) else params_or_theta
    D, H, Nz, decoder = decoder_architecture(theta)
    if Nz > QUADRATURE_MAX_NZ:
        raise ConfigError(f"quadrature_log_px integrates over a grid of z and refuses Nz > {QUADRATURE_MAX_NZ} "
                          f"(got Nz={Nz}: grid^Nz points); use importance sampling or Appendix D instead")
    _check_model_and_x({"theta": theta}, x, need_encoder=False)
    p64, x = _as_float64({"theta": theta}, x)
    theta = p64["theta"]
    X = _data_features(theta, decoder, x)  # (N, K)

    def log_joint_grid(z):
        F, cz = _decoder_features(theta, decoder, z)
        return X @ F.T + (cz + dist.log_standard_normal(z))[None, :]

    return quadrature_log_px_from_log_joint(log_joint_grid, Nz, x.shape[0], grid=grid, limit=limit,
                                            chunk_size=chunk_size, return_info=return_info)


def quadrature_log_px_from_log_joint(log_joint_grid: Callable[[np.ndarray], np.ndarray], n_latent: int, n_data: int,
                                     *, grid: int = 161, limit: float = 5.0, chunk_size: int = 4096,
                                     return_info: bool = False):
    """The grid quadrature of :func:`quadrature_log_px` for any model: log Σ_g p(x_i, z_g) + Nz log h.

    Parameters
    ----------
    log_joint_grid : callable
        ``z (G, Nz) -> (N, G)``: the normalized log p(x_i, z_g) of every datapoint at
        every grid point, nats.
    n_latent : int
        Nz, 1 to :data:`QUADRATURE_MAX_NZ`.
    n_data : int
        N, the rows ``log_joint_grid`` returns.
    grid, limit, chunk_size, return_info
        As in :func:`quadrature_log_px`.

    Returns
    -------
    log_px : ndarray, shape (N,)
    info : dict, only if ``return_info`` (see :func:`quadrature_log_px`)

    Raises
    ------
    ConfigError
        Nz outside 1..3, or bad ``grid``, ``limit`` or ``chunk_size``.
    ShapeError
        ``log_joint_grid`` returns the wrong shape.
    NonFiniteError
        A log-joint value is NaN or infinite.
    """
    Nz = check_count(n_latent, "n_latent", 1)
    if Nz > QUADRATURE_MAX_NZ:
        raise ConfigError(f"quadrature refuses Nz > {QUADRATURE_MAX_NZ} (got Nz={Nz}: grid^Nz points)")
    N = check_count(n_data, "n_data", 1)
    grid = check_count(grid, "grid", 3)
    limit = check_positive(limit, "limit")
    chunk_size = check_count(chunk_size, "chunk_size", 1)
    axis = np.linspace(-limit, limit, grid)
    h = axis[1] - axis[0]
    n_cosets = 2**Nz
    coset_lse = np.full((n_cosets, N), -np.inf)  # log Σ over each step-2h sub-grid
    face_lse = np.full(N, -np.inf)
    for c in range(n_cosets):
        sub = [np.arange((c >> j) & 1, grid, 2) for j in range(Nz)]  # this sub-grid's indices per axis
        shape = tuple(len(s) for s in sub)
        total = int(np.prod(shape))
        for start in range(0, total, chunk_size):
            flat = np.arange(start, min(total, start + chunk_size))
            idx = np.stack([sub[j][i] for j, i in enumerate(np.unravel_index(flat, shape))], axis=1)  # (G, Nz)
            vals = np.asarray(log_joint_grid(axis[idx]), dtype=np.float64)  # (N, G): log p(x_i, z_g)
            if vals.shape != (N, idx.shape[0]):
                raise ShapeError(f"log_joint_grid must return shape (N={N}, G={idx.shape[0]}), got {vals.shape}")
            if not np.isfinite(vals).all():
                raise NonFiniteError("log p(x, z) is not finite at some grid point (a decoder overflow?)")
            coset_lse[c] = np.logaddexp(coset_lse[c], logsumexp(vals, axis=1))
            on_face = np.any((idx == 0) | (idx == grid - 1), axis=1)
            if on_face.any():
                face_lse = np.logaddexp(face_lse, logsumexp(vals[:, on_face], axis=1))
    all_lse = logsumexp(coset_lse, axis=0)
    log_px = all_lse + Nz * math.log(h)
    if not return_info:
        return log_px
    coarse = coset_lse + Nz * math.log(2 * h)  # each sub-grid's own trapezoidal estimate
    info = {"error_estimate": np.max(np.abs(coarse - log_px), axis=0),
            "boundary_fraction": np.exp(face_lse - all_lse), "step": float(h), "n_points": grid**Nz}
    return log_px, info


def grid_posterior_start(params_or_theta, x: np.ndarray, rng: np.random.Generator, *, grid: int = 57,
                         limit: float = 7.0, chunk_size: int = 4096, dtype="float64") -> np.ndarray:
    """Chain starts drawn from the grid-discretized posterior p_θ(z|x), for Nz <= 3.

    One z per datapoint drawn with probability ∝ p_θ(x, z_g) among the points z_g of the
    regular grid of :func:`quadrature_log_px` (Gumbel-max trick, streamed over chunks, so
    memory stays bounded).  Posteriors of a Nz = 3 MNIST decoder can have modes tens of
    nats apart; an HMC chain started from the prior or the encoder mean may never leave
    a minor one, and then Appendix D and HMC-fitted importance sampling miss the major
    mode's mass (benchmarks/fig3_estimators.py).  Starting the chains here puts them in
    each mode with about its posterior probability.  Pass the result as ``z0`` to
    :func:`appendix_d_log_px` or :func:`hmc_importance_sampled_log_px`.

    Parameters
    ----------
    params_or_theta : dict
        ``{"theta": ...}`` or the decoder dict.
    x : ndarray, shape (N, D)
    rng : numpy.random.Generator
    grid, limit, chunk_size
        As in :func:`quadrature_log_px` (a coarse grid suffices: 57 points over ±7 is a
        step of 0.25 prior standard deviations).
    dtype : {"float64", "float32"}
        Precision of the decoder over the grid and of the log-joint values the draw is
        made from; float32's error (~10⁻⁴ nats) is far below what moves a start point.

    Returns
    -------
    ndarray, shape (N, Nz)

    Raises
    ------
    ConfigError
        Nz > 3, or bad ``grid``, ``limit``, ``chunk_size`` or ``rng``.
    """
    check_rng(rng)
    theta = params_or_theta.get("theta", params_or_theta) if isinstance(params_or_theta, dict) else params_or_theta
    D, H, Nz, decoder = decoder_architecture(theta)
    if Nz > QUADRATURE_MAX_NZ:
        raise ConfigError(f"grid_posterior_start refuses Nz > {QUADRATURE_MAX_NZ} (got Nz={Nz})")
    grid = check_count(grid, "grid", 3)
    limit = check_positive(limit, "limit")
    chunk_size = check_count(chunk_size, "chunk_size", 1)
    _check_model_and_x({"theta": theta}, x, need_encoder=False)
    if dtype not in ("float64", "float32"):
        raise ConfigError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    theta = {k: np.asarray(v, dtype=dtype) for k, v in theta.items()}
    x = np.asarray(x, dtype=dtype)
    X = _data_features(theta, decoder, x)
    axis = np.linspace(-limit, limit, grid).astype(dtype)
    N = x.shape[0]
    best = np.full(N, -np.inf)
    z0 = np.zeros((N, Nz))
    total = grid**Nz
    row_max = np.full(N, -np.inf)  # max over the grid points seen so far of log p(x, z_g)
    for start in range(0, total, chunk_size):
        flat = np.arange(start, min(total, start + chunk_size))
        z = axis[np.stack(np.unravel_index(flat, (grid,) * Nz), axis=1)]
        F, cz = _decoder_features(theta, decoder, z)
        vals = X @ F.T + (cz + dist.log_standard_normal(z))[None, :]  # (N, chunk), in ``dtype``
        np.maximum(row_max, vals.max(axis=1), out=row_max)
        # Gumbel-max: argmax_g (log p(x, z_g) + Gumbel_g) is a draw from p(z_g|x).  A point
        # GUMBEL_CUTOFF nats below the row's maximum wins only if its Gumbel exceeds the
        # maximum's by that much, probability < grid^Nz · e^−(GUMBEL_CUTOFF − 5) ≈ 10⁻¹³
        # per datapoint: such points get no Gumbel drawn (the draws, not the GEMM, were the
        # cost), which leaves the distribution of the draw unchanged to that precision.
        live = vals >= (row_max - GUMBEL_CUTOFF).astype(vals.dtype)[:, None]
        np.copyto(vals, -np.inf, where=~live)
        vals[live] += rng.gumbel(size=int(np.count_nonzero(live))).astype(vals.dtype)
        j = np.argmax(vals, axis=1)
        top = vals[np.arange(N), j]
        better = top > best
        best[better] = top[better]
        z0[better] = z[j[better]]
    return z0
