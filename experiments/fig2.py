"""Fig. 2 of Kingma & Welling (2014): lower bound vs. training samples evaluated, AEVB vs wake-sleep.

Each panel is one (dataset, Nz): MNIST with Nz ∈ {3, 5, 10, 20, 200} (500 hidden units) and
Frey Face with Nz ∈ {2, 5, 10, 20} (200 hidden units), trained with the §5 settings
(M = 100, L = 1, Adagrad with the step size chosen by §5's protocol, ``--lr auto``, weight
decay) by AEVB and by wake-sleep with the same encoder and decoder.  Both are scored with
the same estimator-B lower bound on the training set (its first 10,000 points) and the
test set, at 8 log-spaced sample counts per decade; Frey Face uses the random split.

Every run is an ordinary resumable run folder (``python -m aevb_np.train`` layout) under
``OUT/runs/``; its ``config.json`` and ``log.jsonl`` are committed under
``experiments/fig2_out/runs/`` (checkpoints are not), so ``--plot-only`` regenerates every
panel, the combined figure and the table in a fresh clone.  Running again with a larger
``--budget`` continues each run where it stopped.  Runs execute as separate processes
through joblib (``--jobs``); with ``--dask-scheduler ADDRESS`` the sweep runs on a Dask
cluster through joblib's Dask backend (the run folders must then be on a filesystem the
workers share with this machine: ``--out`` is made absolute before it is sent).

    python experiments/fig2.py --budget 10000000 --panels mnist:20 frey-face:10
    python experiments/fig2.py --plot-only              # from the committed logs
    python experiments/fig2.py --quick --out runs/fig2-quick   # seconds; what the tests run

Each panel PNG draws the paper's four curves (thin grey; ``experiments/paper/``) under ours;
``fig2.png`` lays the nine panels out as the paper's Fig. 2 does; ``fig2_table.md`` compares
ours with the paper's at 10⁶, 10⁷ and 10⁸ samples.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # paper_curves.py beside this script

import paper_curves  # noqa: E402
from run_folders import (REPRODUCING, WALL_TIME_NOTE, check_out_folder, doc_markers, read_run,  # noqa: E402
                         update_doc, wall_time)

from aevb_np.environment import DEFAULT_THREADS  # noqa: E402
from aevb_np.errors import AEVBError, ConfigError  # noqa: E402
from aevb_np.train import TrainConfig, train  # noqa: E402

PAPER_PANELS = {"mnist": (3, 5, 10, 20, 200), "frey-face": (2, 5, 10, 20)}
ALGORITHMS = ("aevb", "wake-sleep")
LABELS = {"aevb": "AEVB", "wake-sleep": "Wake-Sleep"}
COLOURS = {"aevb": "tab:red", "wake-sleep": "tab:blue"}
#: The paper's axes (Fig. 2): log x from 10⁵; MNIST y −150…−95, Frey Face y 0…1600.
AXES = {"mnist": ((1e5, 2.5e8), (-150, -95)), "frey-face": ((1e5, 1e8), (0, 1600))}
TABLE_POINTS = (10**6, 10**7, 10**8)
DEFAULT_OUT = Path(__file__).resolve().parent / "fig2_out"


def parse_panel(text: str) -> tuple[str, int]:
    """``"mnist:20"`` → ("mnist", 20)."""
    try:
        dataset, nz = text.split(":")
        if dataset not in PAPER_PANELS:
            raise ValueError
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


def run_dir(out: Path, dataset: str, nz: int, algorithm: str) -> Path:
    return out / "runs" / f"{dataset}-nz{nz}-{algorithm}"


def run_one(config: TrainConfig, folder: Path, threads: int = DEFAULT_THREADS) -> list[dict]:
    """Start or continue one run (a separate process under joblib); returns its log rows."""
    resume = (folder / "config.json").exists()
    return train(config, folder, resume=resume, progress=False, threads=threads)["log"]


def _row_at(rows: list[dict], samples: int) -> dict | None:
    return next((r for r in rows if r["samples"] == samples), None)


# --------------------------------------------------------------------------- pictures


def draw_panel(ax, dataset: str, nz: int, runs: dict[str, list[dict]], legend: bool = True) -> None:
    """One panel: the paper's curves (thin grey, labelled "paper") under ours."""
    import matplotlib.ticker

    panel = paper_curves.fig2_panel(dataset, nz)
    (x0, x1), (y0, y1) = AXES[dataset]
    for algorithm in ALGORITHMS:
        for split, style in (("train", "-"), ("test", "--")):
            c = paper_curves.curve(panel, algorithm, split)
            if c is not None:
                ax.plot(*c, style, color="0.55", lw=0.9, zorder=1,
                        label=f"paper ({split}; AEVB above, wake-sleep below)" if algorithm == "aevb" else None)
    for algorithm, rows in runs.items():
        rows = [r for r in rows if r["samples"] >= x0]
        if rows:
            n = [r["samples"] for r in rows]
            ax.plot(n, [r["train_lower_bound"] for r in rows], "-", color=COLOURS[algorithm], lw=1.4, zorder=2,
                    label=f"{LABELS[algorithm]} train")
            ax.plot(n, [r["test_lower_bound"] for r in rows], "--", color=COLOURS[algorithm], lw=1.4, zorder=2,
                    label=f"{LABELS[algorithm]} test")
    ax.set_xscale("log")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_title(f"{'MNIST' if dataset == 'mnist' else 'Frey Face'}, $N_z$ = {nz}", fontsize=9)
    ax.set_xlabel("# training samples evaluated", fontsize=8)
    ax.set_ylabel("L (nats per datapoint)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=6, loc="lower right")


def _legend_handles() -> list:
    """The combined figure's one legend: our four curves and the paper's two line styles."""
    from matplotlib.lines import Line2D

    ours = [Line2D([], [], color=COLOURS[a], lw=1.4, ls=ls, label=f"{LABELS[a]} {split}")
            for a in ALGORITHMS for split, ls in (("train", "-"), ("test", "--"))]
    paper = [Line2D([], [], color="0.55", lw=0.9, ls=ls, label=f"paper ({split}; AEVB above, wake-sleep below)")
             for split, ls in (("train", "-"), ("test", "--"))]
    return ours + paper


def draw(out: Path, panels: list[tuple[str, int]]) -> list[Path]:
    """One PNG per panel that has logs, and the combined ``fig2.png``; returns the files written."""
    import matplotlib.pyplot as plt

    runs = {(d, nz): {a: read_run(run_dir(out, d, nz, a))[1] for a in ALGORITHMS} for d, nz in panels}
    written = []
    for (dataset, nz), logs in runs.items():
        if not any(logs.values()):
            continue
        fig, ax = plt.subplots(figsize=(4.4, 3.6))
        draw_panel(ax, dataset, nz, logs)
        fig.tight_layout()
        path = out / f"fig2_{dataset}_nz{nz}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    if any(any(v.values()) for v in runs.values()):
        fig, axes = plt.subplots(2, 5, figsize=(17, 6.6))
        for row, dataset in enumerate(PAPER_PANELS):
            for col in range(5):
                ax = axes[row][col]
                if col >= len(PAPER_PANELS[dataset]):
                    ax.axis("off")
                    ax.legend(handles=_legend_handles(), loc="center", fontsize=9)
                    continue
                nz = PAPER_PANELS[dataset][col]
                draw_panel(ax, dataset, nz, runs.get((dataset, nz), {}), legend=False)
        fig.suptitle("Fig. 2 of Kingma & Welling (2014) reproduced with aevb_np (coloured) over the paper's curves "
                     "(grey): lower bound per datapoint vs. training samples", fontsize=10)
        fig.tight_layout()
        path = out / "fig2.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


# --------------------------------------------------------------------------- the table


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _diff(ours: float | None, paper: float | None) -> str:
    return "—" if ours is None or paper is None else f"{ours - paper:+.1f}"


def table(out: Path, panels: list[tuple[str, int]]) -> str:
    """Markdown: ours vs the paper's train/test bound at 10⁶, 10⁷, 10⁸ samples where reached, and at
    the last evaluation of a run that stopped elsewhere."""
    lines = ["| panel | algorithm | lr (auto) | samples reached | wall time | at | train: paper | ours | Δ | "
             "test: paper | ours | Δ |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for dataset, nz in panels:
        panel = paper_curves.fig2_panel(dataset, nz)
        for algorithm in ALGORITHMS:
            config, rows = read_run(run_dir(out, dataset, nz, algorithm))
            if not rows:
                continue
            lr = config.get("lr_auto", {}) or {}
            lr_text = f"{lr['chosen']:g}" if lr else f"{config['lr']} (fixed)"
            reached = rows[-1]["samples"]
            points = [p for p in TABLE_POINTS if _row_at(rows, p)]
            for point in points + ([reached] if reached not in points else []):
                row = _row_at(rows, point)
                cells = []
                for split in ("train", "test"):
                    paper = paper_curves.value_at(panel, algorithm, split, point)
                    ours = row[f"{split}_lower_bound"]
                    if paper is None and (cut := paper_curves.value_at(panel, algorithm, split, point, hidden=True)):
                        cells += [f"({_fmt(cut)})", _fmt(ours), f"({_diff(ours, cut)})"]  # cut off by the axes
                    else:
                        cells += [_fmt(paper), _fmt(ours), _diff(ours, paper)]
                at = f"{point:.0e}" if point in TABLE_POINTS else f"{point:.3g} (last)"
                lines.append(f"| {panel.replace('Frey', 'Frey Face')} | {LABELS[algorithm]} | {lr_text} | "
                             f"{reached:.3g} | {wall_time(rows)} | {at} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Paper values: read from the PDF's vector drawing (`experiments/paper/`), ±0.2 nats on MNIST, "
                 "±3–5 on Frey Face; \"(…)\": a point of the paper's curve that the PDF holds but the printed axes cut off; "
                 "\"—\": the paper's curve has no point there. Ours: "
                 "`experiments/fig2_out/runs/*/log.jsonl`, nats per datapoint (Frey Face: a density, positive). "
                 + WALL_TIME_NOTE)
    return "\n".join(lines) + "\n"


DOC_MARKERS = doc_markers("fig2-table", "experiments/fig2.py")


# --------------------------------------------------------------------------- main


def _sweep(jobs: list, n_jobs: int, scheduler: str | None, threads: int = DEFAULT_THREADS) -> None:
    try:
        from joblib import Parallel, delayed, parallel_backend
    except ImportError:
        raise ConfigError("the sweep needs joblib: pip install 'aevb_np[experiments]'") from None
    backend = "loky"
    if scheduler:
        try:
            from dask.distributed import Client  # optional: only for cluster runs
        except ImportError:
            raise ConfigError("--dask-scheduler needs dask.distributed: pip install 'aevb_np[cluster]'") from None
        try:
            Client(scheduler, timeout="5s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(f"--dask-scheduler {scheduler}: no scheduler answers there ({exc})") from None
        backend = "dask"
    with parallel_backend(backend, n_jobs=n_jobs):
        Parallel()(delayed(run_one)(c, f, threads) for c, f in jobs)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python experiments/fig2.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--panels", nargs="+", default=None, help="e.g. mnist:20 frey-face:10 (default: all of Fig. 2)")
    p.add_argument("--budget", type=int, default=10_000_000, help="training samples per run (default: 10^7)")
    p.add_argument("--out", default=None, help="folder for the runs, PNGs and table (default: experiments/fig2_out; "
                                               "with --quick a folder of its own is required)")
    p.add_argument("--jobs", type=int, default=-1, help="parallel processes (joblib; -1 = all cores)")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="N",
                   help="BLAS threads per run (default: %(default)s; see benchmarks/threads.py)")
    p.add_argument("--dask-scheduler", default=None, help="address of a Dask scheduler to run the sweep on")
    p.add_argument("--update-docs", action="store_true", help="also write the table into docs/reproducing.md's marked block")
    p.add_argument("--plot-only", action="store_true", help="only redraw the panels and the table from the logs")
    p.add_argument("--quick", action="store_true", help="tiny networks and budgets (tests)")
    args = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    try:
        if args.quick:
            if args.out is None:
                raise ConfigError("--quick needs --out: it never writes over the committed experiments/fig2_out")
            panels, budget = [("frey-face", 2)], min(args.budget, 3000)
        else:
            panels = ([parse_panel(t) for t in args.panels] if args.panels
                      else [(d, nz) for d, nzs in PAPER_PANELS.items() for nz in nzs])
            budget = args.budget
        out = (Path(args.out) if args.out is not None else DEFAULT_OUT).resolve()
        if args.quick and out == DEFAULT_OUT:
            raise ConfigError("--quick never writes into experiments/fig2_out (the committed runs); choose another --out")
        if args.jobs == 0 or args.jobs < -1:
            raise ConfigError(f"--jobs must be a positive number of processes or -1 (all cores), got {args.jobs}")
        if args.out is not None:  # the default folder is the repository's own
            check_out_folder(out)
        if not args.plot_only:
            (out / "runs").mkdir(parents=True, exist_ok=True)
            jobs = [(run_config(d, nz, a, budget, args.quick), run_dir(out, d, nz, a))
                    for d, nz in panels for a in ALGORITHMS]
            _sweep(jobs, args.jobs, args.dask_scheduler, args.threads)
        if not any(read_run(run_dir(out, d, nz, a))[1] for d, nz in panels for a in ALGORITHMS):
            raise ConfigError(f"no run logs under {out / 'runs'} for these panels; run the sweep first "
                              "(without --plot-only)")
        written = draw(out, panels)
        text = table(out, panels)
        (out / "fig2_table.md").write_text(text)
        written.append(out / "fig2_table.md")
        if args.update_docs:
            update_doc(text, DOC_MARKERS)
            written.append(REPRODUCING)
    except AEVBError as exc:
        print(f"fig2: error: {exc}", file=sys.stderr)
        return 2
    print(text, end="")
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
