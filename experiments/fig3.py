"""Fig. 3 of Kingma & Welling (2014): estimated log p(x) against training samples evaluated.

The paper trains generative models of MNIST with a 3-dimensional latent space (Nz = 3) and
100 hidden units on N_train = 1000 and N_train = 50,000 training points (the first N of the
training set here, ``--train-subset``) and plots the marginal likelihood of the first 1000
training and the first 1000 test points, estimated from the decoder alone (Appendix D),
against the number of training samples evaluated, for AEVB, wake-sleep and Monte Carlo EM
(Appendix E).  Every run goes through the one training loop (``python -m aevb_np.train``
with ``--algorithm aevb|wake-sleep|mcem --train-subset N --hidden 100 --n-latent 3
--lr auto --evaluation appendix-d``): resumable, checkpointed, logged.

Run folders: ``OUT/runs/ntrain<N>-<algorithm>`` (``config.json`` and ``log.jsonl`` are
committed under ``experiments/fig3_out``; checkpoints are not).  ``--plot-only`` redraws
``fig3.png`` (the paper's curves in grey under ours, its linear x axis in millions) and
``fig3_table.md`` from the logs.

    python experiments/fig3.py --budget 10000000 --n-train 1000
    python experiments/fig3.py --plot-only
    python experiments/fig3.py --quick --out runs/fig3-quick      # about a minute; the tests run it

References
----------
Kingma & Welling (2014), §5, Fig. 3, Appendix D and Appendix E.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # paper_curves.py beside this script

import paper_curves  # noqa: E402
from run_folders import WALL_TIME_NOTE, check_out_folder, doc_markers, read_run, update_doc, wall_time  # noqa: E402

from aevb_np.environment import DEFAULT_THREADS  # noqa: E402
from aevb_np.errors import AEVBError, ConfigError  # noqa: E402
from aevb_np.train import TrainConfig, train  # noqa: E402

N_LATENT = 3  # Fig. 3
N_HIDDEN = 100  # Fig. 3
METHODS = ("aevb", "wake-sleep", "mcem")
LABELS = {"aevb": "AEVB", "mcem": "MCEM", "wake-sleep": "Wake-Sleep"}
COLOURS = {"aevb": "tab:red", "mcem": "tab:green", "wake-sleep": "tab:blue"}
#: The paper's axes: x in millions (linear), y per panel.
AXES = {1000: ((0, 60), (-160, -100)), 50_000: ((0, 68), (-160, -125))}
TABLE_POINTS = (10**6, 10**7, 3 * 10**7, 6 * 10**7)
#: Evaluations: two per decade (dense early, where the curves climb) and every 5·10⁶ samples
#: along the paper's linear axis: 22 evaluations to 6·10⁷ (the sweep before issue 25
#: evaluated every 10⁶: 69).
EVAL_EVERY = 5_000_000
DEFAULT_OUT = Path(__file__).resolve().parent / "fig3_out"


def run_config(n_train: int, algorithm: str, budget: int, quick: bool, evaluation: str = "appendix-d") -> TrainConfig:
    """One run of Fig. 3: §5's settings, the first ``n_train`` points, log p(x) on 1000 + 1000 points."""
    return TrainConfig(
        dataset="mnist", n_latent=N_LATENT, hidden=N_HIDDEN, algorithm=algorithm, lr="auto", train_subset=n_train,
        max_samples=budget, evaluation=evaluation, eval_train_size=10 if quick else 1000,
        eval_test_size=10 if quick else 1000, eval_every=budget // 2 if quick else EVAL_EVERY,
        eval_per_decade=0 if quick else 2, checkpoint_every=200, seed=0,
        lr_trial_samples=1000 if quick else 100_000,
    )


def run_dir(out: Path, n_train: int, algorithm: str) -> Path:
    return out / "runs" / f"ntrain{n_train}-{algorithm}"


def run_one(config: TrainConfig, folder: Path, threads: int = DEFAULT_THREADS) -> dict:
    """Start or continue one run; returns :func:`aevb_np.train.train`'s result (``log``: its rows)."""
    return train(config, folder, resume=(folder / "config.json").exists(), progress=False, threads=threads)


def _legend_handles() -> list:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=COLOURS[a], lw=2, label=LABELS[a]) for a in METHODS]
    handles += [Line2D([], [], color="k", ls="-", label="train"), Line2D([], [], color="k", ls="--", label="test"),
                Line2D([], [], color="0.3", lw=1.6, marker="o", ms=3, label="ours (evaluations)"),
                Line2D([], [], color="0.3", lw=1.0, alpha=0.35, label="paper")]
    return handles


def top_of_axes(ours: list[float], paper_top: float | None) -> tuple[float | None, bool]:
    """The top of a panel's y axis: the paper's, or, where our curve climbs past it, just
    above our highest point (widened rather than cut off); and whether it was widened."""
    if paper_top is None or not ours or max(ours) <= paper_top:
        return paper_top, False
    return float(math.ceil(max(ours) + 1.0)), True


def plot(out: Path, n_trains: list[int]) -> Path:
    """``fig3.png``: one column per N_train; ours (points, full colour) over the paper's curves
    (thin, pale, the same colour per algorithm). The top row has the paper's axes (linear x,
    millions); the bottom row the same on a log x axis, where short runs are legible."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(n_trains), figsize=(5.6 * len(n_trains), 8.2), squeeze=False)
    for col, n in enumerate(n_trains):
        panel = f"Fig3 Ntrain={n}"
        (x0, x1), (y0, y1) = AXES.get(n, ((0, None), (None, None)))
        ours = [r[f"{split}_log_px"] for algorithm in METHODS for split in ("train", "test")
                for r in read_run(run_dir(out, n, algorithm))[1] if r["samples"] > 0]
        y1, widened = top_of_axes(ours, y1)
        axes_note = "the paper's axes, y widened" if widened else "the paper's axes"
        for row, ax in enumerate(axes[:, col]):
            for algorithm in METHODS:
                for split, style in (("train", "-"), ("test", "--")):
                    c = paper_curves.curve(panel, algorithm, split)
                    if c is not None:
                        ax.plot(*c, style, color=COLOURS[algorithm], lw=1.0, alpha=0.35)
                    rows = [r for r in read_run(run_dir(out, n, algorithm))[1] if r["samples"] > 0]
                    if rows:
                        ax.plot([r["samples"] / 1e6 for r in rows], [r[f"{split}_log_px"] for r in rows],
                                style + "o", ms=3, lw=1.6, color=COLOURS[algorithm])
            if row == 0:
                ax.set_xlim(x0, x1)
                ax.set_title(f"MNIST, $N_{{train}}$ = {n}, $N_z$ = {N_LATENT} ({axes_note})", fontsize=10)
            else:
                ax.set_xscale("log")
                ax.set_xlim(0.1, x1)
                ax.set_title("the same, log x", fontsize=10)
            ax.set_ylim(y0, y1)
            ax.set_xlabel("# training samples evaluated (millions)")
            ax.set_ylabel("estimated log p(x) (nats)")
            ax.grid(alpha=0.3)
        axes[0, col].legend(handles=_legend_handles(), fontsize=7, loc="lower right", ncol=2)
    fig.suptitle("Fig. 3 of Kingma & Welling (2014): aevb_np (points) over the paper's curves (thin, pale)", fontsize=10)
    fig.tight_layout()
    path = out / "fig3.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def table(out: Path, n_trains: list[int]) -> str:
    """Markdown: ours vs the paper's log p(x) at 10⁶, 10⁷, 3·10⁷, 6·10⁷ samples and the last evaluation."""
    lines = ["| N_train | algorithm | lr (auto) | samples reached | wall time | at | train: paper | ours | Δ | test: paper | ours | Δ |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in n_trains:
        for algorithm in METHODS:
            config, rows = read_run(run_dir(out, n, algorithm))
            if not rows:
                continue
            lr = (config.get("lr_auto") or {}).get("chosen", config["lr"])
            reached = rows[-1]["samples"]
            points = [p for p in TABLE_POINTS if any(r["samples"] == p for r in rows)]
            for point in points + ([reached] if reached not in points else []):
                row = next(r for r in rows if r["samples"] == point)
                cells = []
                for split in ("train", "test"):
                    paper = paper_curves.value_at(f"Fig3 Ntrain={n}", algorithm, split, point / 1e6)
                    cut = None if paper is not None else paper_curves.value_at(
                        f"Fig3 Ntrain={n}", algorithm, split, point / 1e6, hidden=True)  # cut off by the axes
                    ours = row[f"{split}_log_px"]
                    if cut is not None:
                        cells += [f"({cut:.1f})", f"{ours:.1f}", f"({ours - cut:+.1f})"]
                    else:
                        cells += ["—" if paper is None else f"{paper:.1f}", f"{ours:.1f}",
                                  "—" if paper is None else f"{ours - paper:+.1f}"]
                at = f"{point:.0e}" if point in TABLE_POINTS else f"{point:.3g} (last)"
                lines.append(f"| {n} | {LABELS[algorithm]} | {lr:g} | {reached:.3g} | {wall_time(rows)} | {at} | " + " | ".join(cells) + " |")
    lines += ["", "log p(x) in nats, by the Appendix D estimator on the first 1000 training and test points; paper "
                  "values read from the PDF's vector drawing (`experiments/paper/`, ±0.2 nats); \"(…)\": a point "
                  "the PDF holds but the printed axes cut off; \"—\": the paper's curve has no point there. "
                  + WALL_TIME_NOTE]
    return "\n".join(lines) + "\n"


DOC_MARKERS = doc_markers("fig3-table", "experiments/fig3.py")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python experiments/fig3.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CI-sized runs (about a minute); needs --out")
    p.add_argument("--budget", type=int, default=10_000_000, help="training samples per run (default: 10^7)")
    p.add_argument("--n-train", type=int, nargs="+", default=[1000, 50_000], help="training-set sizes (one panel each)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--evaluation", default="appendix-d", choices=("appendix-d", "hmc-is", "quadrature"),
                   help="log p(x): the paper's Appendix D estimator (chains started from the grid posterior; within "
                        "0.02 nats of the quadrature, benchmarks/fig3_estimators.py), IS with an HMC-fitted proposal, "
                        "or the quadrature itself (about 7x slower)")
    p.add_argument("--out", default=None, help="folder for the runs, fig3.png and the table (default: experiments/fig3_out)")
    p.add_argument("--update-docs", action="store_true", help="also write the table into docs/reproducing.md's marked block")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="N",
                   help="BLAS threads per run (default: %(default)s; see benchmarks/threads.py)")
    p.add_argument("--plot-only", action="store_true", help="only redraw the figure and the table from the logs")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # files only
    try:
        if args.quick and args.out is None:
            raise ConfigError("--quick needs --out: it never writes over the committed experiments/fig3_out")
        out = (Path(args.out) if args.out else DEFAULT_OUT).resolve()
        if args.quick and out == DEFAULT_OUT:
            raise ConfigError("--quick never writes into experiments/fig3_out (the committed runs); choose another --out")
        if args.out is not None:  # the default folder is the repository's own
            check_out_folder(out)
        budget = 2000 if args.quick else args.budget
        if budget < 100:
            raise ConfigError(f"--budget {budget} is smaller than one minibatch (100)")
        if not args.plot_only:
            for n in args.n_train:
                for algorithm in args.methods:
                    folder = run_dir(out, n, algorithm)
                    result = run_one(run_config(n, algorithm, budget, args.quick, args.evaluation), folder,
                                     args.threads)
                    if result["interrupted"]:
                        # Ctrl-C stops the sweep, not only the run in progress (the loop has
                        # saved it); the same command continues it exactly.
                        print(f"fig3: interrupted: {folder} saved at step {result['step']}; "
                              "run the same command again to continue", file=sys.stderr)
                        return 130
                    r = result["log"][-1]
                    print(f"N_train={n:>6}  {LABELS[algorithm]:<10}  samples {r['samples']:>9}  log p(x): train "
                          f"{r['train_log_px']:8.2f}  test {r['test_log_px']:8.2f}", flush=True)
        if not any(read_run(run_dir(out, n, a))[1] for n in args.n_train for a in METHODS):
            raise ConfigError(f"no run logs under {out / 'runs'}; run without --plot-only first")
        png = plot(out, args.n_train)
        text = table(out, args.n_train)
        (out / "fig3_table.md").write_text(text)
        if args.update_docs:
            update_doc(text, DOC_MARKERS)
    except AEVBError as exc:
        print(f"fig3: error: {exc}", file=sys.stderr)
        return 2
    print(text, end="")
    print(f"wrote {png} and {out / 'fig3_table.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
