"""The pictures of a finished run: samples, curves, reconstructions, full VB's σ_θ.

:mod:`aevb_np.plots` (and matplotlib) is imported only here, after the run has dropped
its data, so the two never sit in memory together (issue 6).

References
----------
Kingma & Welling (2014), Fig. 2, Fig. 4, Fig. 5, Appendix F.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aevb_np import data as data_mod
from aevb_np import model
from aevb_np.run.config import TrainConfig


def save_pictures(out: Path, config: TrainConfig, part, params, log_rows, x_shown) -> None:
    """The pictures of a finished run: ``samples.png``, ``curves.png`` (the bound against the
    samples, for runs evaluated by their bound), ``reconstructions.png`` (models with an
    encoder) and full VB's ``posterior_std.png``."""
    from aevb_np import full_vb, plots  # matplotlib only now (see the module's note)

    shape = data_mod.DATASET_SHAPES[config.dataset][1]
    rng, nz = np.random.default_rng([config.seed, 5]), config.n_latent
    unit = "nats/datapoint (density)" if config.dataset == "frey-face" else "nats/datapoint"
    name = f"{config.dataset}, {config.algorithm}, Nz={nz}"
    if config.metric() == "lower_bound":
        plots.save_training_curves(out / "curves.png", log_rows, title=name, unit=unit)
    if config.algorithm != "mcem":
        phi = params["phi"]
        plots.save_reconstructions(out / "reconstructions.png", {"phi": phi, **part.decoder_params(params)}, x_shown,
                                   shape)
    if config.algorithm == "full-vb":
        # Samples draw θ ~ q(θ) (rows) as well as z ~ p(z) (columns); and σ_θ of the output layer.
        full_vb.save_samples(out / "samples.png", params, rng, shape,
                             title=f"{config.dataset}, full VB, Nz={nz}: decoder means, rows θ ~ q(θ), columns z ~ p(z)")
        out_layer = "W2" if config.decoder() == "bernoulli" else "W4"
        full_vb.save_posterior_std(out / "posterior_std.png", params, shape, array=out_layer,
                                   title=f"posterior std of {out_layer}, one image per hidden unit")
        return
    theta = part.decoder_params(params)["theta"]
    z = rng.standard_normal((100, nz)).astype(next(iter(theta.values())).dtype)  # Fig. 5: z ~ p(z)
    plots.save_image_grid(out / "samples.png", model.decoder_mean(theta, z), shape, n_cols=10,
                          title=f"{config.dataset}, {config.algorithm}, Nz={nz}: decoder means E[x|z], z ~ p(z)")
