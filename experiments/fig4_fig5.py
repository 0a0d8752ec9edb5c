"""Fig. 4 and Fig. 5 of Kingma & Welling (2014, Appendix A), plus a latent scatter.

* Fig. 4: the learned data manifold of a model with Nz = 2 — decoder means over a grid of
  z whose coordinates are Φ⁻¹ of evenly spaced points in (0, 1) — for Frey Face and MNIST.
* Fig. 5: random samples (decoder means at z ~ N(0, I)) from MNIST models with
  Nz ∈ {2, 5, 10, 20}.
* The means of q_φ(z|x) for the MNIST test set, coloured by digit (Nz = 2).

Each model is an ordinary resumable run folder under ``OUT/runs/`` trained with the §5
settings; running again with a larger ``--budget`` continues the runs.

    python experiments/fig4_fig5.py --budget 1000000
    python experiments/fig4_fig5.py --quick          # seconds; what CI runs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from aevb_np import data, plots
from aevb_np.errors import AEVBError
from aevb_np.train import TrainConfig, train

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run_folders.py beside this script
from run_folders import check_out_folder  # noqa: E402

MODELS = [("frey-face", 2), ("mnist", 2), ("mnist", 5), ("mnist", 10), ("mnist", 20)]


def trained(out: Path, dataset: str, nz: int, budget: int, quick: bool):
    """Train (or continue) one model and return its parameters."""
    folder = out / "runs" / f"{dataset}-nz{nz}"
    # The committed figures were made on Frey Face's tail split (the default before the random one).
    config = TrainConfig(dataset=dataset, n_latent=nz, lr=0.01 if dataset == "frey-face" else 0.02, frey_split="tail",
                         hidden=20 if quick else None, max_samples=budget, eval_every=max(budget // 4, 1),
                         eval_train_size=500 if quick else 10_000, seed=0)
    return train(config, folder, resume=(folder / "config.json").exists(), progress=False)["params"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", type=int, default=1_000_000, help="training samples per model")
    p.add_argument("--out", default=None, help="output folder (default: experiments/fig45_out; --quick needs its own)")
    p.add_argument("--quick", action="store_true", help="tiny networks and budgets (CI); needs --out")
    args = p.parse_args(argv)
    default_out = Path(__file__).resolve().parent / "fig45_out"
    if args.quick and (args.out is None or Path(args.out).resolve() == default_out):
        print("fig4_fig5: error: --quick needs an --out of its own: it never writes over experiments/fig45_out",
              file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    out = Path(args.out) if args.out is not None else default_out
    budget = min(args.budget, 2000) if args.quick else args.budget
    models = MODELS[:3] if args.quick else MODELS
    try:
        if args.out is not None:  # the default folder is the repository's own
            check_out_folder(out)
        (out / "runs").mkdir(parents=True, exist_ok=True)
        params = {(d, nz): trained(out, d, nz, budget, args.quick) for d, nz in models}
        written = []
        for dataset in ("frey-face", "mnist"):
            path = out / f"fig4_manifold_{dataset}.png"
            plots.save_manifold(path, params[(dataset, 2)], data.DATASET_SHAPES[dataset][1],
                                n=12 if dataset == "frey-face" else 20,
                                title=f"Learned {dataset} manifold, Nz=2 ({budget:.2g} samples)")
            written.append(path)
        for (dataset, nz), p_ in params.items():
            if dataset != "mnist":
                continue
            path = out / f"fig5_samples_mnist_nz{nz}.png"
            samples = plots.sample_images(p_, np.random.default_rng(nz), 100)
            plots.save_image_grid(path, samples, (28, 28), n_cols=10, title=f"MNIST samples, Nz={nz}")
            written.append(path)
        x_test, y_test = data.load_mnist("test")
        path = out / "latent_scatter_mnist_nz2.png"
        plots.save_latent_scatter(path, params[("mnist", 2)], x_test, y_test,
                                  title="MNIST test set: means of q(z|x), Nz=2")
        written.append(path)
    except AEVBError as exc:
        print(f"fig4_fig5: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
