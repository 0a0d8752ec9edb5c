"""Fig. 2 of Kingma & Welling (2014): lower bound vs. training samples evaluated, AEVB vs wake-sleep.

Each panel is one (dataset, Nz): MNIST with Nz ∈ {3, 5, 10, 20, 200} (500 hidden units) and
Frey Face with Nz ∈ {2, 5, 10, 20} (200 hidden units), trained with the §5 settings
(M = 100, L = 1, Adagrad, weight decay) by AEVB and by wake-sleep with the same encoder and
decoder.  Both are scored with the same estimator-B lower bound on the training set (a fixed
subset) and the test set, at log-spaced sample counts.

Every run is an ordinary resumable run folder (``python -m aevb_np.train`` layout) under
``OUT/runs/``; running the script again with a larger ``--budget`` continues each run where
it stopped.  Runs execute as separate processes through joblib (``--jobs``, the machine's
cores by default); with ``--dask-scheduler ADDRESS`` the same sweep runs on a Dask cluster
through joblib's Dask backend.  ``--plot-only`` redraws the panels and the table from
whatever logs exist.

    python experiments/fig2.py --budget 10000000 --panels mnist:20 frey-face:10
    python experiments/fig2.py --plot-only
    python experiments/fig2.py --quick          # seconds; what CI runs
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from aevb_np import plots
from aevb_np.errors import AEVBError, ConfigError
from aevb_np.train import TrainConfig, train

PAPER_PANELS = {"mnist": (3, 5, 10, 20, 200), "frey-face": (2, 5, 10, 20)}
ALGORITHMS = ("aevb", "wake-sleep")


def parse_panel(text: str) -> tuple[str, int]:
    """``"mnist:20"`` → ("mnist", 20)."""
    try:
        dataset, nz = text.split(":")
        return dataset, int(nz)
    except ValueError:
        raise ConfigError(f"a panel looks like mnist:20 or frey-face:10, got {text!r}") from None


def run_config(dataset: str, n_latent: int, algorithm: str, budget: int, quick: bool) -> TrainConfig:
    """The §5 configuration of one run (smaller networks and evaluations with ``quick``).

    The step size follows §5's protocol (``lr="auto"``: the best of {0.01, 0.02, 0.1} on
    the training set after the first 10⁵ samples); Frey Face uses the random split; the
    sweep runs in float32 (``benchmarks/dtype_agreement.py``: it reaches float64's bound).
    """
    return TrainConfig(
        dataset=dataset, n_latent=n_latent, algorithm=algorithm, lr="auto", frey_split="random",
        dtype="float32", hidden=20 if quick else None, max_samples=budget, eval_every=10**12,
        eval_per_decade=8, eval_train_size=500 if quick else 10_000, checkpoint_every=1000, seed=0,
        lr_trial_samples=1000 if quick else 100_000,
    )


def run_one(config: TrainConfig, folder: Path) -> dict:
    """Start or continue one run (a separate process under joblib); returns its last log row."""
    resume = (folder / "config.json").exists()
    result = train(config, folder, resume=resume, progress=False)
    return result["log"][-1]


def read_log(folder: Path) -> list[dict]:
    path = folder / "log.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def draw(out: Path, panels: list[tuple[str, int]]) -> list[Path]:
    """One PNG per panel from the logs that exist; returns the files written."""
    written = []
    for dataset, nz in panels:
        logs = {a: read_log(out / "runs" / f"{dataset}-nz{nz}-{a}") for a in ALGORITHMS}
        if not any(logs.values()):
            continue
        unit = "nats/datapoint (density)" if dataset == "frey-face" else "nats/datapoint"
        name = "MNIST" if dataset == "mnist" else "Frey Face"
        path = out / f"fig2_{dataset}_nz{nz}.png"
        plots.save_bound_curves(path, {"AEVB": logs["aevb"], "Wake-Sleep": logs["wake-sleep"]},
                                title=f"{name}, $N_z$ = {nz}", unit=unit)
        written.append(path)
    return written


def table(out: Path, panels: list[tuple[str, int]]) -> str:
    """Markdown table: samples evaluated, final train/test bound of each algorithm, wall time."""
    lines = ["| panel | algorithm | samples evaluated | train bound | test bound | train time (s) |",
             "|---|---|---:|---:|---:|---:|"]
    for dataset, nz in panels:
        for algorithm in ALGORITHMS:
            rows = read_log(out / "runs" / f"{dataset}-nz{nz}-{algorithm}")
            if rows:
                r = rows[-1]
                lines.append(f"| {dataset} Nz={nz} | {algorithm} | {r['samples']:.3g} | {r['train_lower_bound']:.1f} | "
                             f"{r['test_lower_bound']:.1f} | {r['train_seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--panels", nargs="+", default=None, help="e.g. mnist:20 frey-face:10 (default: all of Fig. 2)")
    p.add_argument("--budget", type=int, default=1_000_000, help="training samples per run")
    p.add_argument("--out", default="experiments/fig2_out", help="folder for the runs, PNGs and table")
    p.add_argument("--jobs", type=int, default=-1, help="parallel processes (joblib; -1 = all cores)")
    p.add_argument("--dask-scheduler", default=None, help="address of a Dask scheduler to run the sweep on")
    p.add_argument("--plot-only", action="store_true", help="only redraw from existing logs")
    p.add_argument("--quick", action="store_true", help="tiny networks and budgets (CI)")
    args = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    try:
        if args.quick:
            panels = [("frey-face", 2)]
            budget = min(args.budget, 3000)
        else:
            panels = ([parse_panel(t) for t in args.panels] if args.panels
                      else [(d, nz) for d, nzs in PAPER_PANELS.items() for nz in nzs])
            budget = args.budget
        out = Path(args.out)
        (out / "runs").mkdir(parents=True, exist_ok=True)
        if not args.plot_only:
            from joblib import Parallel, delayed, parallel_backend

            jobs = [(run_config(d, nz, a, budget, args.quick), out / "runs" / f"{d}-nz{nz}-{a}")
                    for d, nz in panels for a in ALGORITHMS]
            backend = "loky"
            if args.dask_scheduler:
                from dask.distributed import Client  # optional: only for cluster runs

                Client(args.dask_scheduler)
                backend = "dask"
            with parallel_backend(backend, n_jobs=args.jobs):
                Parallel()(delayed(run_one)(c, f) for c, f in jobs)
        written = draw(out, panels)
        text = table(out, panels)
        (out / "fig2_table.md").write_text(text)
    except AEVBError as exc:
        print(f"fig2: error: {exc}", file=sys.stderr)
        return 2
    print(text, end="")
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
