"""The reparameterization trick: z = g_phi(eps, x) with eps drawn from fixed noise.

Kingma & Welling (2014), §2.3 Eq. (4)-(5): instead of sampling z ~ q_phi(z|x) directly,
draw parameter-free noise eps ~ p(eps) and push it through a deterministic,
differentiable map z = g_phi(eps, x).  Then

    E_q[f(z)] = E_p(eps)[f(g_phi(eps, x))] ~= (1/L) sum_l f(g_phi(eps_l, x)),

and the gradient of the estimate with respect to phi is
(1/L) sum_l f'(z_l) * dz_l/dphi, which needs only the elementwise derivative dz/dphi.

This module gives that map, and its derivative, for:

* the diagonal Gaussian of §3, Eq. (9)-(10): :func:`gaussian_sample` and
  :func:`gaussian_sample_backward` (the hot path of the VAE, shapes (L, M, Nz));
* the three kinds of family listed in §2.4, each a small object in :data:`FAMILIES`:

  ==================  =================  ==============================================
  kind                family             z = g(params, eps)
  ==================  =================  ==============================================
  inverse CDF         ``exponential``    -log(1 - u) / rate,           u ~ U(0, 1)
  inverse CDF         ``gumbel``         loc - scale * log(-log u),     u ~ U(0, 1)
  location-scale      ``gaussian``       mu + exp(log_var / 2) * eps,   eps ~ N(0, 1)
  location-scale      ``laplace``        loc + scale * eps,             eps ~ Laplace(0, 1)
  location-scale      ``logistic``       loc + scale * eps,             eps ~ Logistic(0, 1)
  composition         ``lognormal``      exp(mu + sigma * eps),         eps ~ N(0, 1)
  composition         ``erlang``         (eps_1 + ... + eps_k) / rate,  eps_i ~ Exp(1)
  ==================  =================  ==============================================

Parameterization: scale-type parameters (``rate``, ``scale``, ``sigma``) are passed
*directly* and must be positive; only the Gaussian uses the paper's log-variance
``log_var`` = log sigma^2, so that its standard deviation is exp(log_var / 2) — not
exp(log_var).  An optimizer working on an unconstrained log-scale multiplies the
gradients returned here by the scale itself (chain rule).

Every family offers the same five methods over a dict of named parameter arrays:
``draw_eps(rng, shape)``, ``sample(params, eps)``, ``sample_grad(params, eps)`` (a dict
of elementwise dz/dparam), ``log_density(params, z)`` (nats), and ``mean(params)`` /
``var(params)`` in closed form, so that tests and notebooks can check the Monte Carlo
estimates against exact answers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from aevb_np.checks import check_count, check_rng
from aevb_np.errors import ConfigError, NonFiniteError, ShapeError, SupportError

__all__ = [
    "FAMILIES",
    "Erlang",
    "Exponential",
    "Gaussian",
    "Gumbel",
    "Laplace",
    "LogNormal",
    "Logistic",
    "ReparamFamily",
    "gaussian_sample",
    "gaussian_sample_backward",
]

_LOG_2PI = math.log(2.0 * math.pi)
_EULER_GAMMA = 0.5772156649015329


# --------------------------------------------------------------------------------------
# The Gaussian of §3, Eq. (9)-(10): the VAE's hot path, with explicit (L, M, Nz) shapes.
# --------------------------------------------------------------------------------------


def _check_gaussian_shapes(mu_name, mu_shape, log_var, eps, eps_name="eps"):
    """Raise ShapeError unless log_var is (M, Nz) and eps is (L, M, Nz)."""
    if len(mu_shape) != 2:
        raise ShapeError(f"{mu_name} must have shape (M, Nz), got {mu_shape}")
    if log_var.shape != mu_shape:
        raise ShapeError(
            f"log_var must have shape (M, Nz) = {mu_shape} like {mu_name}, got {log_var.shape}"
        )
    if eps.ndim != 3 or eps.shape[1:] != mu_shape:
        raise ShapeError(
            f"{eps_name} must have shape (L, M, Nz) = (L, {mu_shape[0]}, {mu_shape[1]}), "
            f"got {eps.shape}"
        )


def gaussian_sample(mu, log_var, eps):
    """Draw z = mu + sigma * eps with sigma = exp(log_var / 2), for L samples per datapoint.

    Parameters
    ----------
    mu : ndarray, shape (M, Nz)
        Means of q_phi(z|x) for a minibatch of M datapoints.
    log_var : ndarray, shape (M, Nz)
        Log-variances log sigma^2 of q_phi(z|x); the standard deviation is
        exp(log_var / 2).
    eps : ndarray, shape (L, M, Nz)
        Standard normal noise, e.g. ``rng.standard_normal((L, M, Nz))``.

    Returns
    -------
    z : ndarray, shape (L, M, Nz)
        Samples from N(mu, diag(exp(log_var))), one per eps; mu and log_var broadcast
        over the leading L axis.

    Raises
    ------
    ShapeError
        If mu is not 2-D, log_var differs in shape from mu, or eps is not (L, M, Nz).

    References
    ----------
    Kingma & Welling (2014), Eq. (4) (z = g_φ(ε, x)), §2.4 (location-scale) and §3, Eq. (10).
    """
    mu, log_var, eps = np.asarray(mu), np.asarray(log_var), np.asarray(eps)
    _check_gaussian_shapes("mu", mu.shape, log_var, eps)
    # §3: sigma is the square root of the variance exp(log_var), hence the factor 1/2.
    return mu + np.exp(0.5 * log_var) * eps


def gaussian_sample_backward(dz, log_var, eps):
    """Backpropagate dJ/dz through z = mu + exp(log_var / 2) * eps to mu and log_var.

    Because mu and log_var are shared by the L samples of a datapoint, their gradients
    are the sums over the L axis (a fan-out, so contributions accumulate).

    Parameters
    ----------
    dz : ndarray, shape (L, M, Nz)
        Gradient of a scalar objective J with respect to z.
    log_var : ndarray, shape (M, Nz)
        The log-variances used in the forward pass.
    eps : ndarray, shape (L, M, Nz)
        The noise used in the forward pass.

    Returns
    -------
    dmu : ndarray, shape (M, Nz)
        dJ/dmu = sum_l dz_l.
    dlog_var : ndarray, shape (M, Nz)
        dJ/dlog_var = sum_l dz_l * eps_l * exp(log_var / 2) / 2.

    Raises
    ------
    ShapeError
        If log_var is not 2-D, or dz or eps is not (L, M, Nz) matching log_var.

    References
    ----------
    Kingma & Welling (2014), §2.3 Eq. (5) and §3, Eq. (10).
    """
    dz, log_var, eps = np.asarray(dz), np.asarray(log_var), np.asarray(eps)
    _check_gaussian_shapes("log_var", log_var.shape, log_var, eps)
    _check_gaussian_shapes("log_var", log_var.shape, log_var, dz, eps_name="dz")
    if dz.shape != eps.shape:
        raise ShapeError(f"dz must have the shape of eps {eps.shape}, got {dz.shape}")
    dmu = dz.sum(axis=0)  # dz/dmu = 1 for every sample l
    # d/dlog_var of exp(log_var / 2) * eps is exp(log_var / 2) * eps / 2.
    dlog_var = (dz * eps).sum(axis=0) * (0.5 * np.exp(0.5 * log_var))
    return dmu, dlog_var


# --------------------------------------------------------------------------------------
# The §2.4 families: one small object each, sharing validation and docstrings.
# --------------------------------------------------------------------------------------


class ReparamFamily:
    """A §2.4 family q(z; params) written as z = g(params, eps) with eps ~ p(eps).

    Subclasses set ``name``, ``kind``, ``param_names`` and ``positive`` (the parameters
    that must be > 0) and implement the private formulas ``_eps``, ``_g``, ``_dg``,
    ``_log_density``, ``_mean`` and ``_var``; this base class validates inputs and
    carries the public docstrings.

    References
    ----------
    Kingma & Welling (2014), §2.3 Eq. (4)-(5) and §2.4.
    """

    name: str = ""
    kind: str = ""  # "inverse-cdf", "location-scale" or "composition" (§2.4)
    param_names: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()

    def __repr__(self):
        return f"{type(self).__name__}()"

    # ---- public API ------------------------------------------------------------------

    def draw_eps(self, rng, shape):
        """Draw the family's parameter-free base noise eps ~ p(eps) for z of a given shape.

        Parameters
        ----------
        rng : numpy.random.Generator
            The only source of randomness.
        shape : tuple of int
            Shape of the z that the noise will produce.

        Returns
        -------
        eps : ndarray, float64, shape ``shape`` (``shape + (k,)`` for Erlang)
            Uniform(0, 1) for inverse-CDF families, the standard member of the family
            for location-scale ones, normals or exponentials for compositions.

        Raises
        ------
        ConfigError
            If rng is not a numpy.random.Generator.

        References
        ----------
        Kingma & Welling (2014), §2.4; ε ~ p(ε) of Eq. (4).
        """
        check_rng(rng)
        return self._eps(rng, tuple(shape))

    def sample(self, params, eps):
        """Map base noise to samples, z = g(params, eps).

        Parameters
        ----------
        params : dict of str -> array_like
            The family's parameters (see ``param_names``), each broadcastable to the
            shape of z.
        eps : ndarray
            Base noise from :meth:`draw_eps`; z has shape ``eps.shape`` (for Erlang,
            ``eps.shape[:-1]``).

        Returns
        -------
        z : ndarray
            Samples distributed as q(z; params).

        Raises
        ------
        ConfigError
            If params lacks a parameter or has an unknown one.
        ShapeError
            If a parameter does not broadcast to the shape of z, or eps has the wrong
            trailing axis (Erlang).
        NonFiniteError
            If a parameter holds NaN or inf.
        SupportError
            If a positive parameter is <= 0, or eps lies outside the support of p(eps).

        References
        ----------
        Kingma & Welling (2014), §2.3 Eq. (4).
        """
        p, eps = self._validate(params, eps)
        return self._g(p, eps)

    def sample_grad(self, params, eps):
        """Elementwise derivatives dz/dparam of z = g(params, eps) at fixed eps.

        Multiply by f'(z) and average over eps to get the reparameterized gradient
        estimate of d/dparam E[f(z)], §2.3 Eq. (5).  For a parameter that was broadcast
        over z, sum the product over the broadcast axes.

        Parameters
        ----------
        params : dict of str -> array_like
            As in :meth:`sample`.
        eps : ndarray
            As in :meth:`sample`.

        Returns
        -------
        grads : dict of str -> ndarray
            One entry per parameter name, each of the shape of z.

        Raises
        ------
        ConfigError, ShapeError, NonFiniteError, SupportError
            As in :meth:`sample`.

        References
        ----------
        Kingma & Welling (2014), §2.3 Eq. (5).
        """
        p, eps = self._validate(params, eps)
        z_shape = self._z_shape(eps)
        return {k: np.broadcast_to(v, z_shape).copy() for k, v in self._dg(p, eps).items()}

    def log_density(self, params, z):
        """Log-density log q(z; params) in nats, -inf outside the support.

        Parameters
        ----------
        params : dict of str -> array_like
            As in :meth:`sample`, broadcastable against z.
        z : array_like
            Points at which to evaluate the density.

        Returns
        -------
        logq : ndarray, shape of broadcast(z, params)
            Log-density in nats.

        Raises
        ------
        ConfigError, ShapeError, NonFiniteError, SupportError
            For bad params, as in :meth:`sample`.

        References
        ----------
        Kingma & Welling (2014), §2.4.
        """
        z = np.asarray(z)
        p = self._validate_params(params, z.shape, "z")
        return self._log_density(p, z)

    def mean(self, params):
        """Closed-form mean E[z] of q(z; params).

        Parameters
        ----------
        params : dict of str -> array_like
            As in :meth:`sample`.

        Returns
        -------
        mean : ndarray, shape of broadcast(params)

        Raises
        ------
        ConfigError, NonFiniteError, SupportError
            For bad params, as in :meth:`sample`.

        References
        ----------
        Kingma & Welling (2014), §2.4.
        """
        p = self._validate_params(params)
        return np.broadcast_to(self._mean(p), _param_shape(p)).copy()

    def var(self, params):
        """Closed-form variance Var[z] of q(z; params).

        Parameters
        ----------
        params : dict of str -> array_like
            As in :meth:`sample`.

        Returns
        -------
        var : ndarray, shape of broadcast(params)

        Raises
        ------
        ConfigError, NonFiniteError, SupportError
            For bad params, as in :meth:`sample`.

        References
        ----------
        Kingma & Welling (2014), §2.4.
        """
        p = self._validate_params(params)
        return np.broadcast_to(self._var(p), _param_shape(p)).copy()

    # ---- validation ------------------------------------------------------------------

    def _z_shape(self, eps):
        return eps.shape

    def _check_eps(self, eps):
        """Raise if eps lies outside the support of p(eps); overridden where needed."""

    def _validate(self, params, eps):
        eps = np.asarray(eps)
        self._check_eps(eps)
        return self._validate_params(params, self._z_shape(eps), "z"), eps

    def _validate_params(self, params, target_shape=None, target_name="z"):
        if not isinstance(params, Mapping):
            raise ConfigError(
                f"params must be a dict with keys {self.param_names}, "
                f"got {type(params).__name__}"
            )
        if set(params) != set(self.param_names):
            raise ConfigError(
                f"params for {self.name} must have keys {self.param_names}, "
                f"got {tuple(params)}"
            )
        p = {k: np.asarray(params[k]) for k in self.param_names}
        shape = () if target_shape is None else target_shape
        for k, v in p.items():
            try:
                shape = np.broadcast_shapes(v.shape, shape)
            except ValueError:
                against = target_name if target_shape is not None else "the other parameters"
                raise ShapeError(
                    f"{k} must broadcast against {against} (shape so far {shape}), "
                    f"got {v.shape}"
                ) from None
            if not np.all(np.isfinite(v)):
                raise NonFiniteError(f"{k} must be finite, got {np.sum(~np.isfinite(v))} NaN/inf")
            if k in self.positive and not np.all(v > 0):
                raise SupportError(f"{k} must be > 0 everywhere, got min {np.min(v)!r}")
        return p


def _param_shape(p):
    """The broadcast shape of all parameter arrays (already checked to be compatible)."""
    return np.broadcast_shapes(*(v.shape for v in p.values()))


def _check_open_unit(eps, low_closed=False):
    """Uniform base noise must lie in (0, 1) ([0, 1) when low_closed) to avoid log(0)."""
    lo_ok = eps >= 0 if low_closed else eps > 0
    if not np.all(lo_ok & (eps < 1)):
        interval = "[0, 1)" if low_closed else "(0, 1)"
        raise SupportError(
            f"eps must be uniform noise in {interval}, got values in "
            f"[{np.min(eps)!r}, {np.max(eps)!r}]"
        )


# ---- 1. tractable inverse CDF: z = F^{-1}(u), u ~ U(0, 1) ------------------------------


class Exponential(ReparamFamily):
    """Exponential(rate) by inverse CDF: z = -log(1 - u) / rate, u ~ U(0, 1).

    ``rate`` is positive and passed directly; dz/drate = -z / rate.
    ``log1p`` keeps z accurate for small u.  numpy's ``rng.random`` draws from [0, 1),
    which is exactly the range where -log(1 - u) is finite, so no clipping is needed.

    References
    ----------
    Kingma & Welling (2014), §2.4 (tractable inverse CDF).
    """

    name, kind = "exponential", "inverse-cdf"
    param_names = positive = ("rate",)

    def _eps(self, rng, shape):
        return rng.random(shape)

    def _check_eps(self, eps):
        _check_open_unit(eps, low_closed=True)

    def _g(self, p, u):
        return -np.log1p(-u) / p["rate"]

    def _dg(self, p, u):
        return {"rate": np.log1p(-u) / p["rate"] ** 2}  # = -z / rate

    def _log_density(self, p, z):
        rate = p["rate"]
        safe_z = np.where(z >= 0, z, 0.0)
        return np.where(z >= 0, np.log(rate) - rate * safe_z, -np.inf)

    def _mean(self, p):
        return 1.0 / p["rate"]

    def _var(self, p):
        return 1.0 / p["rate"] ** 2


class Gumbel(ReparamFamily):
    """Gumbel(loc, scale) by inverse CDF: z = loc - scale * log(-log u), u ~ U(0, 1).

    ``scale`` is positive and passed directly.  Both u = 0 and u = 1 make log(-log u)
    infinite, so :meth:`draw_eps` replaces an exact 0 from ``rng.random`` (probability
    2**-53 per draw) by 2**-53, the smallest value it can otherwise return; 1 never
    occurs.  This is the only clipping in the module.

    References
    ----------
    Kingma & Welling (2014), §2.4 (tractable inverse CDF).
    """

    name, kind = "gumbel", "inverse-cdf"
    param_names, positive = ("loc", "scale"), ("scale",)

    def _eps(self, rng, shape):
        return np.maximum(rng.random(shape), 2.0**-53)

    def _check_eps(self, eps):
        _check_open_unit(eps)

    def _g(self, p, u):
        return p["loc"] - p["scale"] * np.log(-np.log(u))

    def _dg(self, p, u):
        return {"loc": np.ones_like(u), "scale": -np.log(-np.log(u))}

    def _log_density(self, p, z):
        t = (z - p["loc"]) / p["scale"]
        # exp(-t) overflows to inf far in the left tail, where the density is exactly 0
        # in floating point; -inf is then the right log-density.
        with np.errstate(over="ignore"):
            return -np.log(p["scale"]) - t - np.exp(-t)

    def _mean(self, p):
        return p["loc"] + p["scale"] * _EULER_GAMMA

    def _var(self, p):
        return (math.pi**2 / 6.0) * p["scale"] ** 2


# ---- 2. location-scale: z = loc + scale * eps, eps from the standard member ------------


class Gaussian(ReparamFamily):
    """Gaussian N(mu, exp(log_var)) as location-scale: z = mu + exp(log_var / 2) * eps.

    The paper's parameterization (§3, Eq. (9)-(10)): ``log_var`` = log sigma^2 is
    unconstrained and sigma = exp(log_var / 2).  Unlike :func:`gaussian_sample` this
    version accepts any broadcastable shapes.

    References
    ----------
    Kingma & Welling (2014), §2.4 (location-scale) and §3, Eq. (10).
    """

    name, kind = "gaussian", "location-scale"
    param_names, positive = ("mu", "log_var"), ()

    def _eps(self, rng, shape):
        return rng.standard_normal(shape)

    def _g(self, p, eps):
        return p["mu"] + np.exp(0.5 * p["log_var"]) * eps

    def _dg(self, p, eps):
        return {"mu": np.ones_like(eps), "log_var": 0.5 * np.exp(0.5 * p["log_var"]) * eps}

    def _log_density(self, p, z):
        # Eq. (9): log N(z; mu, sigma^2) = -(log 2pi + log sigma^2 + (z - mu)^2 / sigma^2) / 2
        return -0.5 * (_LOG_2PI + p["log_var"] + (z - p["mu"]) ** 2 * np.exp(-p["log_var"]))

    def _mean(self, p):
        return p["mu"]

    def _var(self, p):
        return np.exp(p["log_var"])


class Laplace(ReparamFamily):
    """Laplace(loc, scale) as location-scale: z = loc + scale * eps, eps ~ Laplace(0, 1).

    ``scale`` is positive and passed directly; dz/dloc = 1, dz/dscale = eps.

    References
    ----------
    Kingma & Welling (2014), §2.4 (location-scale).
    """

    name, kind = "laplace", "location-scale"
    param_names, positive = ("loc", "scale"), ("scale",)

    def _eps(self, rng, shape):
        return rng.laplace(0.0, 1.0, shape)

    def _g(self, p, eps):
        return p["loc"] + p["scale"] * eps

    def _dg(self, p, eps):
        return {"loc": np.ones_like(eps), "scale": eps}

    def _log_density(self, p, z):
        return -np.log(2.0 * p["scale"]) - np.abs(z - p["loc"]) / p["scale"]

    def _mean(self, p):
        return p["loc"]

    def _var(self, p):
        return 2.0 * p["scale"] ** 2


class Logistic(ReparamFamily):
    """Logistic(loc, scale) as location-scale: z = loc + scale * eps, eps ~ Logistic(0, 1).

    ``scale`` is positive and passed directly; dz/dloc = 1, dz/dscale = eps.

    References
    ----------
    Kingma & Welling (2014), §2.4 (location-scale).
    """

    name, kind = "logistic", "location-scale"
    param_names, positive = ("loc", "scale"), ("scale",)

    def _eps(self, rng, shape):
        return rng.logistic(0.0, 1.0, shape)

    def _g(self, p, eps):
        return p["loc"] + p["scale"] * eps

    def _dg(self, p, eps):
        return {"loc": np.ones_like(eps), "scale": eps}

    def _log_density(self, p, z):
        t = (z - p["loc"]) / p["scale"]
        # density e^{-t} / (scale (1 + e^{-t})^2); logaddexp(0, -t) = log(1 + e^{-t}) stably.
        return -t - np.log(p["scale"]) - 2.0 * np.logaddexp(0.0, -t)

    def _mean(self, p):
        return p["loc"]

    def _var(self, p):
        return (math.pi**2 / 3.0) * p["scale"] ** 2


# ---- 3. composition: z is a function of several (or transformed) simple variables ------


class LogNormal(ReparamFamily):
    """Log-normal(mu, sigma) by composition: z = exp(mu + sigma * eps), eps ~ N(0, 1).

    ``mu`` and ``sigma`` are the mean and (positive, direct) standard deviation of
    log z; dz/dmu = z, dz/dsigma = z * eps.

    References
    ----------
    Kingma & Welling (2014), §2.4 (composition).
    """

    name, kind = "lognormal", "composition"
    param_names, positive = ("mu", "sigma"), ("sigma",)

    def _eps(self, rng, shape):
        return rng.standard_normal(shape)

    def _g(self, p, eps):
        return np.exp(p["mu"] + p["sigma"] * eps)

    def _dg(self, p, eps):
        z = self._g(p, eps)
        return {"mu": z, "sigma": z * eps}

    def _log_density(self, p, z):
        pos = z > 0
        log_z = np.log(np.where(pos, z, 1.0))
        sigma = p["sigma"]
        logq = -log_z - np.log(sigma) - 0.5 * _LOG_2PI - (log_z - p["mu"]) ** 2 / (2 * sigma**2)
        return np.where(pos, logq, -np.inf)

    def _mean(self, p):
        return np.exp(p["mu"] + 0.5 * p["sigma"] ** 2)

    def _var(self, p):
        s2 = p["sigma"] ** 2
        return np.expm1(s2) * np.exp(2.0 * p["mu"] + s2)


class Erlang(ReparamFamily):
    """Erlang(k, rate), a Gamma with integer shape k, as a sum of k exponentials.

    z = (eps_1 + ... + eps_k) / rate with eps_i ~ Exp(1), so eps carries a trailing axis
    of length k and z has shape ``eps.shape[:-1]``.  ``k`` is fixed when the family is
    built (it is not differentiable); ``rate`` is positive and passed directly;
    dz/drate = -z / rate.

    Parameters
    ----------
    k : int
        Number of exponentials summed, k >= 1.

    Raises
    ------
    ConfigError
        If k is not a positive integer.

    References
    ----------
    Kingma & Welling (2014), §2.4 (composition: Gamma as a sum of exponentials).
    """

    name, kind = "erlang", "composition"
    param_names = positive = ("rate",)

    def __init__(self, k=3):
        check_count(k, "k")
        self.k = int(k)

    def __repr__(self):
        return f"Erlang(k={self.k})"

    def _eps(self, rng, shape):
        return rng.standard_exponential(shape + (self.k,))

    def _z_shape(self, eps):
        return eps.shape[:-1]

    def _check_eps(self, eps):
        if eps.ndim == 0 or eps.shape[-1] != self.k:
            raise ShapeError(
                f"eps must have a trailing axis of length k = {self.k} "
                f"(shape z.shape + ({self.k},)), got {eps.shape}"
            )
        if not np.all(eps >= 0):
            raise SupportError(
                f"eps must be standard exponential noise >= 0, got min {np.min(eps)!r}"
            )

    def _g(self, p, eps):
        return eps.sum(axis=-1) / p["rate"]

    def _dg(self, p, eps):
        return {"rate": -eps.sum(axis=-1) / p["rate"] ** 2}  # = -z / rate

    def _log_density(self, p, z):
        rate, k = p["rate"], self.k
        # support is z > 0; for k = 1 (the exponential) the density at z = 0 is rate.
        inside = z >= 0 if k == 1 else z > 0
        safe_z = np.where(inside, z, 1.0)
        logq = k * np.log(rate) - rate * safe_z - math.lgamma(k)
        if k > 1:
            logq = logq + (k - 1) * np.log(safe_z)
        return np.where(inside, logq, -np.inf)

    def _mean(self, p):
        return self.k / p["rate"]

    def _var(self, p):
        return self.k / p["rate"] ** 2


#: Every family by name, for notebooks and tests to iterate over (Erlang with k = 3).
FAMILIES: dict[str, ReparamFamily] = {
    fam.name: fam
    for fam in (
        Exponential(),
        Gumbel(),
        Gaussian(),
        Laplace(),
        Logistic(),
        LogNormal(),
        Erlang(k=3),
    )
}
