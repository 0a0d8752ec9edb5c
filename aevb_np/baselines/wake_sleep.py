"""The wake-sleep algorithm, the baseline of Kingma & Welling (2014), §5 and Fig. 2.

Wake-sleep (Hinton, Dayan, Frey & Neal 1995) fits the same two networks as the VAE: a
generative model p_θ(x|z) p(z) and a recognition model q_φ(z|x).  Kingma & Welling
compare against it "with the same encoder (also called recognition model)" as AEVB, so
here φ is the Gaussian MLP encoder and θ the Bernoulli or Gaussian MLP decoder of
Appendix C, exactly the arrays :func:`aevb_np.model.init_params` makes.

It alternates two phases, neither of which differentiates through a sample:

* **wake** — encode real data, draw ``z ~ q_φ(z|x)``, and move θ up the gradient of
  ``log p_θ(x, z) = log p_θ(x|z) + log p(z)`` at that fixed ``z``.  p(z) = N(0, I) has no
  parameters, so only the decoder learns; φ gets *no* gradient here (there is no
  reparameterization path, unlike Eq. (10) of AEVB).
* **sleep** — dream from the generative model: ``z ~ p(z)``, ``x̃ ~ p_θ(x|z)``, and move
  φ up the gradient of ``log q_φ(z|x̃)``: the recognition model learns to invert the
  decoder's own fantasies.  This minimizes KL(p_θ(z|x̃) ‖ q_φ(z|x̃)) averaged over the
  model's data distribution — the "wrong" direction of the KL, and on the wrong data,
  which is why wake-sleep optimizes no single bound.

:func:`wake_sleep_gradients` computes both phases at the *current* parameters and
returns one gradient dict (θ from the wake phase, φ from the sleep phase) for a single
optimizer step, so :class:`aevb_np.optim.Adagrad` with ``scale = N/M`` applies unchanged.
:func:`wake_objective` and :func:`sleep_objective` are the deterministic pieces with the
noise passed in, for gradient checks.

What is reported
----------------
Wake-sleep has no objective of its own to report.  As in Fig. 2 of the paper, training
progress is measured with the *same* estimator-B lower bound as AEVB,
:func:`aevb_np.bounds.lower_bound` (Eq. 10, nats per datapoint), evaluated at the
wake-sleep parameters, so the two curves are directly comparable.  The per-datapoint
wake and sleep objectives returned here are diagnostics, not bounds.

Dreams from the Bernoulli decoder are binary samples, as the algorithm prescribes, even
when the data are grey levels used as Bernoulli means (our MNIST default): the
recognition model is trained on binary fantasies and applied to grey-level images in
the wake phase.  Dreams from the Gaussian decoder are real-valued and are not clipped
to [0, 1].

References
----------
Hinton, Dayan, Frey & Neal (1995), "The wake-sleep algorithm for unsupervised neural
networks", Science 268: 1158-1161.  Kingma & Welling (2014), §5 and Fig. 2.
"""

from __future__ import annotations

import numpy as np

from aevb_np import distributions as dist
from aevb_np import model, reparam
from aevb_np.bounds import check_inputs
from aevb_np.checks import check_count, check_finite, check_float_array, check_rng
from aevb_np.errors import NonFiniteError
from aevb_np.layers import sigmoid
from aevb_np.params import Params, zeros_like


def _n_latent(theta: dict) -> int:
    """Nz read off the decoder's first weight matrix, ``(H, Nz)`` (Appendix C)."""
    return int((theta["W1"] if "W1" in theta else theta["W3"]).shape[1])


def _check_n_dream(n_dream) -> None:
    check_count(n_dream, "n_dream")


def _require_finite(what: str, value: np.ndarray) -> None:
    """Raise :class:`NonFiniteError` if a *computed* array overflowed (the model diverged)."""
    if not np.isfinite(value).all():
        bad = int(np.argmax(~np.isfinite(value.reshape(len(value), -1)).all(axis=1)))
        raise NonFiniteError(f"{what} is not finite (first at row {bad}): the model has diverged")


def _gaussian_draw(what: str, mu: np.ndarray, log_var: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw of N(mu, exp(log_var)) by Eq. (4)'s z = mu + σ ⊙ ε (:func:`aevb_np.reparam.gaussian_sample`),
    refusing (rather than overflowing) once the model has diverged."""
    _require_finite(what, log_var)
    limit = 2.0 * np.log(np.finfo(log_var.dtype).max)  # exp(½ limit) is the largest float
    if log_var.max() >= limit:
        raise NonFiniteError(
            f"{what} reaches {log_var.max():g}, past {limit:.0f} where σ = exp(½ log σ²) overflows: "
            "the model has diverged"
        )
    eps = rng.standard_normal(mu.shape, dtype=mu.dtype)
    return reparam.gaussian_sample(mu, log_var, eps[None])[0]


# --------------------------------------------------------------------------- wake phase


def wake_objective(theta: dict, x: np.ndarray, z: np.ndarray, need_grad: bool = True, *,
                   grads: dict | None = None, workspace: dict | None = None):
    """Wake-phase objective ``log p_θ(x_i, z_i)`` at fixed codes ``z_i``, and its θ-gradient.

    ``log p_θ(x, z) = log p_θ(x|z) + log N(z; 0, I)``; the prior term has no parameters,
    so the gradient is that of the decoder's log-likelihood alone.  ``z`` is treated as
    data: in wake-sleep it is a sample from q_φ(z|x) but no gradient flows back to φ.

    Parameters
    ----------
    theta : dict
        Decoder arrays (Bernoulli ``W1 b1 W2 b2`` or Gaussian ``W3 b3 W4 b4 W5 b5``).
    x : ndarray, shape (M, D)
        Real data; in [0, 1] for the Bernoulli decoder.
    z : ndarray, shape (M, Nz)
        One latent code per datapoint (in :func:`wake_sleep_gradients`, ``z ~ q_φ(z|x)``).
    need_grad : bool
        If False, return ``(value, None)``.
    grads : dict, optional
        Arrays shaped like ``theta`` that receive the gradient (overwritten); returned.
    workspace : dict, optional
        Scratch arrays kept by the caller across calls (see :mod:`aevb_np.bounds`).

    Returns
    -------
    value : ndarray, shape (M,)
        ``log p_θ(x_i, z_i)`` in nats per datapoint.
    grads_theta : dict
        Gradient of ``value.sum()`` with respect to every array of ``theta``.

    Raises
    ------
    ShapeError
        ``z`` does not have shape (M, Nz).
    NonFiniteError
        ``z`` holds NaN/inf, or the value overflowed.

    References
    ----------
    Hinton et al. (1995), wake phase; Kingma & Welling (2014), §5 and Eq. (11)-(12).
    """
    M = x.shape[0]
    check_float_array("z", z, shape=(M, _n_latent(theta)))
    check_finite("z", z)
    out = model.decode(theta, z, workspace)
    if not need_grad:
        value = model.log_likelihood(x, out)[0] + dist.log_standard_normal(z)
        _require_finite("the wake objective log p(x, z)", value)
        return value, None
    # The value and d/d(decoder outputs) of Σ_i log p_θ(x_i|z_i) from one sweep (every term
    # has weight 1), then back through the decoder; the dz it returns is unused because z
    # is a sample held fixed (no reparameterization path in wake-sleep).
    log_px_z, dout = model.log_likelihood_and_grad(x, out, workspace)
    value = log_px_z[0] + dist.log_standard_normal(z)  # (M,): one sample per datapoint
    _require_finite("the wake objective log p(x, z)", value)
    _, grads_theta = model.decode_backward(theta, z, out, dout, grads, workspace)
    return value, grads_theta


# --------------------------------------------------------------------------- sleep phase


def sample_decoder(theta: dict, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw ``x̃ ~ p_θ(x|z)``, one per row of ``z``.

    Bernoulli decoder: ``x̃_d = 1`` with probability ``sigmoid(logits_d)``, else 0.
    Gaussian decoder: ``x̃ = mu_x + exp(½ log_var_x) ⊙ e`` with ``e ~ N(0, I)``.

    Parameters
    ----------
    theta : dict
        Decoder arrays.
    z : ndarray, shape (K, Nz)
    rng : numpy.random.Generator
        Consumes ``K·D`` uniforms (Bernoulli) or standard normals (Gaussian).

    Returns
    -------
    ndarray, shape (K, D)
        Binary (0.0/1.0) or real-valued samples, in the dtype of ``z``.

    Raises
    ------
    NonFiniteError
        The decoder produced an infinite standard deviation (the model has diverged).

    References
    ----------
    Kingma & Welling (2014), Appendix C.1 (Eq. 11) and C.2 (Eq. 12).
    """
    out = model.decode(theta, z)
    if "logits" in out:
        probs = sigmoid(out["logits"])
        return (rng.random(probs.shape, dtype=z.dtype) < probs).astype(z.dtype)
    mu_x = out["mu"]
    return _gaussian_draw("the decoder log_var_x", mu_x, out["log_var"], rng)


def dream(theta: dict, n_dream: int, rng: np.random.Generator, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Fantasies of the generative model: ``z ~ N(0, I)``, then ``x̃ ~ p_θ(x|z)``.

    Parameters
    ----------
    theta : dict
        Decoder arrays.
    n_dream : int
        Number K of (z, x̃) pairs.
    rng : numpy.random.Generator
        Draws ``z`` first (K·Nz normals), then the noise of :func:`sample_decoder`.
    dtype : float64 or float32

    Returns
    -------
    z_dream : ndarray, shape (K, Nz)
    x_dream : ndarray, shape (K, D)

    Raises
    ------
    ConfigError
        ``n_dream`` is not a positive integer.

    References
    ----------
    Hinton et al. (1995), sleep phase; Kingma & Welling (2014), §3 (prior p(z) = N(0, I)).
    """
    _check_n_dream(n_dream)
    z_dream = rng.standard_normal((int(n_dream), _n_latent(theta)), dtype=dtype)
    return z_dream, sample_decoder(theta, z_dream, rng)


def sleep_objective(phi: dict, x_dream: np.ndarray, z_dream: np.ndarray, need_grad: bool = True, *,
                    grads: dict | None = None, workspace: dict | None = None):
    """Sleep-phase objective ``log q_φ(z_k | x̃_k)`` on dreamed pairs, and its φ-gradient.

    ``log q_φ(z|x̃) = log N(z; mu(x̃), diag(exp(log_var(x̃))))`` with ``mu, log_var`` from
    the encoder at input ``x̃``.  Backward: ``d/dmu = (z − mu)/σ²`` and
    ``d/dlog_var = ½((z − mu)²/σ² − 1)`` (:func:`aevb_np.distributions.log_normal_diag_grad`),
    then through the encoder (:func:`aevb_np.model.encode_backward`).

    Parameters
    ----------
    phi : dict
        Encoder arrays ``W3 b3 W4 b4 W5 b5``.
    x_dream : ndarray, shape (K, D)
        Dreamed inputs x̃ (the encoder's input).
    z_dream : ndarray, shape (K, Nz)
        The codes the dreams were generated from (the encoder's target).
    need_grad : bool
        If False, return ``(value, None)``.
    grads, workspace : dict, optional
        As in :func:`wake_objective`, for ``phi``.

    Returns
    -------
    value : ndarray, shape (K,)
        ``log q_φ(z_k | x̃_k)`` in nats per dream.
    grads_phi : dict
        Gradient of ``value.sum()`` with respect to every array of ``phi``.

    Raises
    ------
    ShapeError
        ``x_dream`` is not (K, D) or ``z_dream`` not (K, Nz).
    NonFiniteError
        NaN/inf inputs, or the value overflowed.

    References
    ----------
    Hinton et al. (1995), sleep phase; Kingma & Welling (2014), §5, Eq. (9) and App. C.2.
    """
    H, D = phi["W3"].shape
    check_float_array("x_dream", x_dream, shape=(None, D))
    check_float_array("z_dream", z_dream, shape=(x_dream.shape[0], phi["W4"].shape[0]))
    check_finite("x_dream", x_dream)
    check_finite("z_dream", z_dream)
    mu, log_var, h = model.encode(phi, x_dream, workspace)
    value = dist.log_normal_diag(z_dream, mu, log_var)
    _require_finite("the sleep objective log q(z|x)", value)
    if not need_grad:
        return value, None
    # The Gaussian log-density is symmetric in (z − mu), so the helper's "mu" gradient
    # is exactly d/dmu of log N(z; mu, σ²).
    dmu, dlog_var = dist.log_normal_diag_grad(z_dream, mu, log_var)
    return value, model.encode_backward(phi, x_dream, h, dmu, dlog_var, grads, workspace)


# --------------------------------------------------------------------------- one step


def wake_sleep_gradients(
    params: Params, x: np.ndarray, rng: np.random.Generator, n_dream: int | None = None, validate: bool = True,
    *, grads: Params | None = None, workspace: dict | None = None,
) -> tuple[dict, Params]:
    """Both phases of wake-sleep on one minibatch: θ-gradient (wake) and φ-gradient (sleep).

    Random numbers are drawn from ``rng`` in this order: ``M·Nz`` normals for the wake
    codes ``z = mu + σ ⊙ e`` (``σ = exp(½ log_var)``, Eq. 9, but *not* differentiated),
    then ``K·Nz`` normals for the dream codes, then the ``K·D`` decoder noises.  Both
    phases use the parameters as they are on entry.

    Parameters
    ----------
    params : dict
        ``{"phi": {...}, "theta": {...}}`` from :func:`aevb_np.model.init_params`.
    x : ndarray, shape (M, D)
        A minibatch of real data; in [0, 1] for the Bernoulli decoder.
    rng : numpy.random.Generator
        The only source of randomness.
    n_dream : int, optional
        Number K of dreams for the sleep phase; defaults to M.
    validate : bool
        Check ``params`` and ``x`` (the default); a training loop that checked its data
        once may pass False.
    grads : dict, optional
        Nested dict shaped like ``params`` (e.g. :func:`aevb_np.params.zeros_like`) that
        receives the gradients (overwritten) and is returned; a new one is made otherwise.
    workspace : dict, optional
        A dict the caller keeps across calls (start with ``{}``); each phase keeps its
        intermediate arrays in its own part of it, so no step allocates them again.

    Returns
    -------
    objectives : dict
        ``"wake"``: ndarray (M,), ``log p_θ(x_i, z_i)`` at the sampled codes;
        ``"sleep"``: ndarray (K,), ``log q_φ(z_k | x̃_k)`` on the dreams.  Nats; these
        are diagnostics, not lower bounds — report :func:`aevb_np.bounds.lower_bound`.
    grads : dict
        Same structure as ``params`` (one flat buffer, as the optimizer prefers).
        ``grads["theta"]`` is the gradient of ``objectives["wake"].sum()``;
        ``grads["phi"]`` is ``(M/K)`` times the gradient of ``objectives["sleep"].sum()``,
        so that both halves are sums over "M datapoints' worth" and the ascent step of
        :class:`aevb_np.optim.Adagrad` with ``scale = N/M`` weighs them alike; with the
        default ``K = M`` the factor is 1.

    Raises
    ------
    ShapeError, NonFiniteError, SupportError
        Bad ``params`` or ``x`` (see :func:`aevb_np.bounds.check_inputs`);
        NonFiniteError also if either phase overflows.
    ConfigError
        ``n_dream`` is not a positive integer, or ``rng`` is not a Generator.

    References
    ----------
    Hinton, Dayan, Frey & Neal (1995); Kingma & Welling (2014), §5 ("the wake-sleep
    algorithm ... with the same encoder (also called recognition model)").
    """
    check_rng(rng)
    if validate:
        check_inputs(params, x)
    M = x.shape[0]
    K = M if n_dream is None else n_dream
    _check_n_dream(K)  # before any draw, so a bad value leaves rng untouched
    phi, theta = params["phi"], params["theta"]

    grads = zeros_like(params) if grads is None else grads  # one flat buffer, as the optimizer prefers
    # Separate scratch per phase: the wake and sleep passes run the same layers on other inputs.
    ws_wake, ws_sleep = (None, None) if workspace is None else (workspace.setdefault("wake", {}),
                                                                workspace.setdefault("sleep", {}))

    # Wake: z ~ q_φ(z|x), a sample only; θ ascends log p_θ(x, z).
    mu, log_var, _ = model.encode(phi, x, ws_wake)
    z_wake = _gaussian_draw("the encoder log_var", mu, log_var, rng)
    wake, _ = wake_objective(theta, x, z_wake, grads=grads["theta"], workspace=ws_wake)

    # Sleep: (z, x̃) ~ p(z) p_θ(x|z); φ ascends log q_φ(z|x̃).
    z_dream, x_dream = dream(theta, K, rng, dtype=x.dtype)
    sleep, _ = sleep_objective(phi, x_dream, z_dream, grads=grads["phi"], workspace=ws_sleep)
    if K != M:
        for g in grads["phi"].values():
            g *= M / K
    return {"wake": wake, "sleep": sleep}, grads
