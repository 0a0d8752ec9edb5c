"""Control: how much Fig. 3's log p(x) depends on where the Appendix D chains start.

Appendix D runs HMC on p_θ(z|x) and does not say where the chains start. This project's Fig. 3
starts them from the grid-discretized posterior (``marginal.grid_posterior_start``), which
``benchmarks/fig3_estimators.py`` shows to be unbiased against the quadrature on a Nz = 3 model;
a chain started from a prior draw, or from the encoder's mean, can stay in a minor mode of a
multi-modal posterior. This script evaluates one trained run with the sweep's settings
(``train.MARGINAL_SETTINGS["appendix-d"]``: 50 + 50 HMC samples, 4 leapfrog steps, a Gaussian
fit) three ways — grid starts, encoder-mean starts (AEVB and wake-sleep runs), prior draws —
on the first ``--points`` training and test points, and the exact log p(x) by quadrature on
the first ``--quadrature-points`` of each (all of them by default), and writes the means to a new JSON file.

    python experiments/fig3_out/controls/chain_starts.py RUN_DIR --out RESULT.json

RUN_DIR is a finished Fig. 3 run (its ``params.npz``; checkpoints and parameters are not
committed, so rerun ``experiments/fig3.py`` first).  About three Appendix D evaluations of
1000 + 1000 points and two quadratures (113³ grid): 15 minutes on this project's machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from aevb_np import checkpoint, marginal
from aevb_np import data as data_mod
from aevb_np import model
from aevb_np.errors import AEVBError, ConfigError
from aevb_np.train import MARGINAL_SETTINGS


def chain_starts(params: dict, x: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Chain starts z0, shape (n, Nz), by name: ``grid``, ``encoder-mean`` (if the run has an encoder), ``prior``."""
    theta = params["theta"]
    n_latent = theta["W1"].shape[1]
    starts = {"grid": marginal.grid_posterior_start(theta, x, rng)}
    if "phi" in params:
        starts["encoder-mean"] = model.encode(params["phi"], x)[0]
    starts["prior"] = rng.standard_normal((x.shape[0], n_latent))
    return starts


def evaluate(run: Path, points: int, quadrature_points: int, seed: int) -> dict:
    """Mean log p(x) (nats per datapoint) per split and chain start, and the quadrature's on a prefix."""
    params = checkpoint.load_params(run / "params.npz")
    config = json.loads((run / "config.json").read_text())
    if config.get("n_latent") != 3 or config.get("dataset") != "mnist":
        raise ConfigError(f"{run} is not a Fig. 3 run (MNIST, Nz = 3)")
    x_train, _ = data_mod.load_dataset("mnist", "train")
    x_test, _ = data_mod.load_dataset("mnist", "test")
    result = {"run": run.name, "samples": _last_samples(run), "points": points,
              "quadrature_points": quadrature_points, "seed": seed,
              "settings": MARGINAL_SETTINGS["appendix-d"], "splits": {}}
    for k, (split, x_all) in enumerate((("train", x_train), ("test", x_test))):
        x = x_all[:points]
        rng = np.random.default_rng([seed, k])
        row = {}
        per_point = {}
        for name, z0 in chain_starts(params, x, rng).items():
            v = marginal.appendix_d_log_px({"theta": params["theta"]}, x, rng, z0=z0, **MARGINAL_SETTINGS["appendix-d"])
            per_point[name] = v
            row[f"appendix-d, {name} starts"] = float(np.mean(v))
        q = marginal.quadrature_log_px({"theta": params["theta"]}, x[:quadrature_points], **MARGINAL_SETTINGS["quadrature"])
        row[f"quadrature, first {quadrature_points}"] = float(np.mean(q))
        for name, v in per_point.items():
            row[f"appendix-d, {name} starts, first {quadrature_points}"] = float(np.mean(v[:quadrature_points]))
        for name, v in per_point.items():
            if name != "grid":  # chains that stayed in a minor mode
                row[f"points > 5 nats below their grid-start value, {name} starts"] = int(np.sum(v < per_point["grid"] - 5))
        result["splits"][split] = row
    return result


def _last_samples(run: Path) -> int:
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    return int(rows[-1]["samples"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python experiments/fig3_out/controls/chain_starts.py",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a finished Fig. 3 run folder (with params.npz)")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write (must not exist)")
    p.add_argument("--points", type=int, default=1000, help="first training and test points (default: 1000)")
    p.add_argument("--quadrature-points", type=int, default=1000,
                   help="of which also by quadrature (default: 1000; its cost is mostly fixed, one grid per split)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        if args.out.exists():
            raise ConfigError(f"{args.out} exists; choose another --out (nothing is written over)")
        if not (0 < args.quadrature_points <= args.points):
            raise ConfigError("--quadrature-points must be between 1 and --points")
        result = evaluate(args.run, args.points, args.quadrature_points, args.seed)
    except AEVBError as exc:
        print(f"chain_starts: error: {exc}", file=sys.stderr)
        return 2
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for split, row in result["splits"].items():
        for key, value in row.items():
            print(f"{split:5}  {key:62}  {value:9.2f}" if isinstance(value, float) else f"{split:5}  {key:62}  {value:9d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
