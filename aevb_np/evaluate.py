"""Evaluate a trained run: ``python -m aevb_np.evaluate RUN_DIR`` (console script ``aevb-evaluate``).

Reads ``RUN_DIR/config.json`` and the parameters (``params.npz`` of a finished run, else
the latest ``checkpoint.npz``), loads the requested split of the run's dataset and
reports, in nats per datapoint, as mean ± standard error *across datapoints*:

* the lower bound L(θ, φ; x) (estimator B, Eq. 10, ``--lb-samples`` draws per point);
* log p(x) by importance sampling with the encoder as proposal, K = ``--iw-samples``
  (Burda et al. 2015): a stochastic lower bound on log p(x), tighter as K grows; with it
  the mean per-datapoint Monte Carlo error and effective sample size, and the gap
  log p̂(x) − L, whose standard error is small because the two are paired per datapoint;
* with ``--appendix-d``, the paper's estimator of Appendix D (HMC, Gaussian fit,
  harmonic mean).  It is meant for small latent spaces (Fig. 3 uses Nz = 3); for the
  default Nz = 20 treat it as a curiosity (see :mod:`aevb_np.marginal`).

Every evaluation is kept: the results go to a new file
``RUN_DIR/evaluation-<split>-K<iw>-seed<seed>[-appendix-d][-n<max points>][-<repeat>].json``,
created exclusively (a file of that name is never overwritten; a repeat of the same
settings gets the next free ``-2``, ``-3``, ...), and the path is printed.  For Frey Face
the numbers are log-*densities* of [0, 1]-scaled pixels: positive and large.

A full-VB run (Appendix F, ``--algorithm full-vb``: parameters ``theta_mu`` and
``theta_log_var`` instead of a point estimate ``theta``) gets its own bound: each
datapoint's share of L(φ; X) (θ drawn from q_φ(θ), the KL over θ spread over the N
training points, as the training log reports it), and E_q(θ)[L(θ, φ; x)] beside it.
log p(x) by importance sampling and Appendix D need a point-estimate decoder, so they
are refused for such a run (there is no per-datapoint p(x) once θ is integrated out over
the whole dataset).

Missing data files are an error naming ``--download``, ``--data-dir`` and
``AEVB_NP_DATA``; with ``--download`` they are fetched first (see :mod:`aevb_np.data`).

References
----------
Kingma & Welling (2014), Eq. (10), §5 and Appendix D; Burda, Grosse & Salakhutdinov
(2015).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from aevb_np import __version__, bounds, checkpoint, environment, full_vb, marginal, model
from aevb_np import data as data_mod
from aevb_np.checks import check_count
from aevb_np.errors import AEVBError, CheckpointError, ConfigError

#: Training-set sizes N of the datasets whose train split is fixed (Frey Face's depends
#: on the split; see :func:`aevb_np.data.frey_face_split_indices`).
_N_TRAIN = {"mnist": 60000, "binarized-mnist": 50000}
#: Default K of the importance-sampled log p(x) for point-estimate runs.
DEFAULT_IW_SAMPLES = 1000

__all__ = ["build_parser", "evaluate", "load_run", "main"]


def load_run(run_dir) -> tuple[dict, dict, str]:
    """Read a run folder written by :mod:`aevb_np.train`.

    Parameters
    ----------
    run_dir : path-like

    Returns
    -------
    config : dict
        The run's ``config.json``.
    params : dict
        Parameters in float64.
    source : str
        File the parameters came from (``params.npz`` or ``checkpoint.npz``).

    Raises
    ------
    ConfigError
        ``run_dir`` is not a folder or has no readable ``config.json``.
    CheckpointError
        No parameter file, or a corrupt one.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"RUN_DIR {run_dir} is not a folder (expected a run made by python -m aevb_np.train)")
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        raise ConfigError(f"RUN_DIR {run_dir} holds no config.json: not a training run")
    try:
        config = json.loads(cfg_path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{cfg_path} is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or "dataset" not in config:
        raise ConfigError(f"{cfg_path} must be a JSON object with a 'dataset' entry")
    for name in ("params.npz", "checkpoint.npz"):
        if (run_dir / name).exists():
            params = checkpoint.load_params(run_dir / name)
            params = {g: {k: np.asarray(v, dtype=np.float64) for k, v in a.items()} for g, a in params.items()}
            return config, params, name
    raise CheckpointError(f"RUN_DIR {run_dir} holds neither params.npz nor checkpoint.npz")


def _summary(values: np.ndarray) -> dict:
    mean, se = marginal.mean_and_stderr(values)
    return {"mean": mean, "stderr": None if math.isnan(se) else se}


def _fmt(s: dict) -> str:
    se = "n/a" if s["stderr"] is None else f"{s['stderr']:.2f}"
    return f"{s['mean']:.2f} ± {se}"


def _results_name(split: str, iw_samples: int, seed: int, appendix_d: bool, max_points) -> str:
    """File-name stem that spells out the settings of one evaluation."""
    stem = f"evaluation-{split}-K{iw_samples}-seed{seed}"
    if appendix_d:
        stem += "-appendix-d"
    if max_points is not None:
        stem += f"-n{max_points}"
    return stem


def _write_new_json(run_dir: Path, stem: str, obj: dict) -> Path:
    """Write ``obj`` to ``run_dir/<stem>.json``, or ``<stem>-2.json``, ... : never over a file.

    The file is created with exclusive mode ('x'), so two evaluations running at once
    cannot take the same name either.
    """
    text = json.dumps(obj, indent=2)
    for repeat in range(1, 10_000):
        path = run_dir / (f"{stem}.json" if repeat == 1 else f"{stem}-{repeat}.json")
        try:
            with open(path, "x", encoding="utf-8") as f:
                f.write(text)
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot write the results into RUN_DIR {run_dir}: {exc}") from None
    raise ConfigError(f"RUN_DIR {run_dir} already holds 9999 evaluations named {stem}-*.json")


def _n_train(config: dict) -> int:
    """N, the size of the run's training set (full VB spreads the KL over θ across it)."""
    name = config["dataset"]
    if name == "frey-face":
        return len(data_mod.frey_face_split_indices(config.get("frey_split", "random"))[0])
    return _N_TRAIN[name]


def evaluate(run_dir, *, iw_samples: int | None = None, appendix_d: bool = False, split: str = "test",
             max_points: int | None = None, seed: int = 0, lb_samples: int = 1, batch_size: int = 100,
             hmc_samples: int = 500, hmc_fit: int = 500, hmc_burnin: int = 300, data_dir=None,
             download: bool = False, progress: bool = True, echo=print) -> dict:
    """Evaluate the run in ``run_dir``; write the results to a new file and return them.

    Parameters
    ----------
    run_dir : path-like
        Run folder of :mod:`aevb_np.train`.
    iw_samples : int, optional
        K for the importance-sampled log p(x); 0 skips it. Default: 1000
        (:data:`DEFAULT_IW_SAMPLES`), or 0 for a full-VB run, which has no per-datapoint
        log p(x) to estimate.
    appendix_d : bool
        Also run the Appendix D estimator.
    split : str
        Dataset split (e.g. "test", "train").
    max_points : int, optional
        Use only the first ``max_points`` datapoints of the split.
    seed : int
        Seed of the evaluation's own generator.
    lb_samples : int
        L for the estimator-B lower bound.
    batch_size : int
        Datapoints per pass.
    hmc_samples, hmc_fit, hmc_burnin : int
        Appendix D: new samples L, samples for the Gaussian fit, burn-in transitions.
    data_dir : path-like, optional
        Overrides the run's ``data_dir``.
    download : bool
        Fetch missing data files first (:func:`aevb_np.data.check_available`).
    progress : bool
        tqdm progress bars.
    echo : callable
        Where the human-readable lines go (``print`` by default).

    Returns
    -------
    dict
        The content of the results file: per estimate ``mean`` and ``stderr`` across
        datapoints (nats/datapoint), settings, wall-clock seconds, and ``results_file``
        (where it was written).

    Raises
    ------
    ConfigError, CheckpointError, DataError, ShapeError
        A bad folder, file, flag or dataset; for a full-VB run also ``iw_samples > 0``
        or ``appendix_d``.

    References
    ----------
    Kingma & Welling (2014), Eq. (10) and Appendix D; Burda et al. (2015).
    """
    for name, value, minimum in (("--iw-samples", 0 if iw_samples is None else iw_samples, 0),
                                 ("--lb-samples", lb_samples, 1),
                                 ("--batch-size", batch_size, 1), ("--seed", seed, 0),
                                 ("--hmc-samples", hmc_samples, 1), ("--hmc-fit", hmc_fit, 2),
                                 ("--hmc-burnin", hmc_burnin, 0)):
        check_count(value, name, minimum)
    if max_points is not None and (not isinstance(max_points, (int, np.integer)) or max_points < 1):
        raise ConfigError(f"--max-points must be a positive integer, got {max_points!r}")
    run_dir = Path(run_dir)
    config, params, source = load_run(run_dir)
    is_full_vb = "theta_mu" in params
    if is_full_vb:
        if iw_samples:
            raise ConfigError(f"--iw-samples {iw_samples}: RUN_DIR {run_dir} is a full-VB run (Appendix F), whose θ is "
                              "integrated out over the whole dataset, so there is no per-datapoint log p(x) to "
                              "importance-sample; leave out --iw-samples (its bound is evaluated)")
        if appendix_d:
            raise ConfigError(f"--appendix-d: RUN_DIR {run_dir} is a full-VB run (Appendix F); the Appendix D "
                              "estimator needs a point-estimate decoder; leave out --appendix-d (its bound is evaluated)")
        iw_samples = 0
        D, H, Nz, decoder = full_vb.architecture(params)
    else:
        iw_samples = DEFAULT_IW_SAMPLES if iw_samples is None else iw_samples
        D, H, Nz, decoder = model.architecture(params)
    for field, value in (("n_latent", Nz), ("hidden", H)):
        if config.get(field) is not None and config[field] != value:
            raise ConfigError(f"{run_dir / 'config.json'} says {field} = {config[field]}, but {source} has "
                              f"{value}: the run folder's files do not belong together")
    if config["dataset"] not in data_mod.DATASET_SPLITS:
        raise ConfigError(f"{run_dir / 'config.json'}: dataset must be one of {list(data_mod.DATASET_SPLITS)}, "
                          f"got {config['dataset']!r}")
    data_dir = data_dir if data_dir is not None else config.get("data_dir")
    data_mod.check_available(config["dataset"], data_dir, download, splits=split)
    x, _ = data_mod.load_dataset(config["dataset"], split, data_dir, frey_split=config.get("frey_split", "random"))
    if max_points is not None:
        if max_points > x.shape[0]:
            raise ConfigError(f"--max-points {max_points}: the {split} split of {config['dataset']} has "
                              f"{x.shape[0]} points")
        x = x[:max_points]
    x = np.ascontiguousarray(x, dtype=np.float64)
    bounds.check_inputs(full_vb.posterior_mean_params(params) if is_full_vb else params, x)
    N = x.shape[0]
    unit = "nats/datapoint" + (" (log-density of [0,1] pixels)" if decoder == "gaussian" else "")
    kind = "full VB (App. F), " if is_full_vb else ""
    echo(f"run {run_dir} ({source}): {kind}{config['dataset']}, D={D}, H={H}, Nz={Nz}, {decoder} decoder; "
         f"{split} split, {N} datapoints; mean ± standard error across datapoints, {unit}")
    results = {"aevb_np_version": __version__, "run_dir": str(run_dir), "params_file": source,
               "dataset": config["dataset"], "split": split, "n_points": N, "seed": seed, "units": unit,
               "settings": {"iw_samples": iw_samples, "appendix_d": appendix_d, "max_points": max_points,
                            "lb_samples": lb_samples, "batch_size": batch_size}}
    rng = np.random.default_rng([seed, 0xE7A1])

    t0 = time.perf_counter()
    if is_full_vb:
        n_train = _n_train(config)
        lb = full_vb.lower_bound(params, x, rng, n_train, L=lb_samples, batch_size=batch_size)
        kl_share = -full_vb.neg_kl_theta(params) / n_train
        results["full_vb_bound"] = {**_summary(lb), "L": lb_samples, "n_train": n_train,
                                    "kl_theta_per_datapoint": kl_share,
                                    "expected_elbo": _summary(lb + kl_share),
                                    "seconds": round(time.perf_counter() - t0, 3)}
        r = results["full_vb_bound"]
        echo(f"full-VB bound, share of L(φ; X) per datapoint (L={lb_samples}, N={n_train}): {_fmt(r)}   "
             f"[{r['seconds']:.1f} s]")
        echo(f"  E_q(θ)[L(θ, φ; x)] (without the KL over θ, {kl_share:.3f} per datapoint): {_fmt(r['expected_elbo'])}")
    else:
        lb = bounds.lower_bound(params, x, rng, L=lb_samples, batch_size=batch_size)
        results["lower_bound"] = {**_summary(lb), "L": lb_samples, "seconds": round(time.perf_counter() - t0, 3)}
        echo(f"lower bound (estimator B, L={lb_samples}):        {_fmt(results['lower_bound'])}   "
             f"[{results['lower_bound']['seconds']:.1f} s]")

    if iw_samples > 0:
        t0 = time.perf_counter()
        log_px, mc_se, ess = marginal.importance_sampled_log_px(
            params, x, iw_samples, rng, batch_size=batch_size, return_stderr=True, return_ess=True, progress=progress)
        seconds = round(time.perf_counter() - t0, 3)
        mc = float(np.nanmean(mc_se)) if iw_samples > 1 else None
        results["importance_sampled"] = {**_summary(log_px), "K": iw_samples, "mean_mc_stderr": mc,
                                         "mean_ess": float(ess.mean()), "gap_to_lower_bound": _summary(log_px - lb),
                                         "seconds": seconds}
        r = results["importance_sampled"]
        echo(f"log p(x), importance sampled (K={iw_samples}): {_fmt(r)}   [{seconds:.1f} s]")
        echo(f"  gap log p(x) − lower bound: {_fmt(r['gap_to_lower_bound'])}; per-datapoint MC error "
             f"{'n/a' if mc is None else f'{mc:.3f}'}, mean effective sample size {r['mean_ess']:.1f} of {iw_samples}")

    if appendix_d:
        if Nz > 5:
            echo(f"  note: Nz={Nz}; the Appendix D estimator (Gaussian fit + harmonic mean) is reliable only in "
                 "low dimensions (the paper uses it with Nz=3)")
        t0 = time.perf_counter()
        ad, info = marginal.appendix_d_log_px(params, x, rng, n_hmc=hmc_samples, n_fit=hmc_fit, n_burnin=hmc_burnin,
                                              batch_size=max(batch_size, 1000), return_info=True, progress=progress)
        seconds = round(time.perf_counter() - t0, 3)
        results["appendix_d"] = {**_summary(ad), "n_hmc": hmc_samples, "n_fit": hmc_fit, "n_burnin": hmc_burnin,
                                 "mean_accept_rate": float(info["accept_rate"].mean()), "seconds": seconds}
        echo(f"log p(x), Appendix D (L={hmc_samples} HMC samples): {_fmt(results['appendix_d'])}   [{seconds:.1f} s]; "
             f"HMC acceptance {results['appendix_d']['mean_accept_rate']:.2f}")

    stem = _results_name(split, iw_samples, seed, appendix_d, max_points)
    path = _write_new_json(run_dir, stem, results)
    results["results_file"] = str(path)
    echo(f"results written to {path} (earlier evaluations are kept)")
    return results


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default once: not for switches, flags without one (None) or that say it."""

    def _get_help_string(self, action):
        if action.default is None or action.nargs == 0 or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser(prog: str = "aevb-evaluate") -> argparse.ArgumentParser:
    """The CLI's argument parser.

    Parameters
    ----------
    prog : str
        Program name for usage and error lines: ``aevb-evaluate`` (the console script)
        or ``python -m aevb_np.evaluate``.

    Returns
    -------
    argparse.ArgumentParser
        ``RUN_DIR`` and the options of :func:`evaluate` as flags.
    """
    p = argparse.ArgumentParser(
        prog=prog,
        description="Evaluate a trained run: test lower bound and estimates of the marginal likelihood log p(x).",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by python -m aevb_np.train")
    p.add_argument("--version", action="version", version=f"%(prog)s (aevb_np) {__version__}")
    p.add_argument("--iw-samples", type=int, default=None, metavar="K",
                   help=f"importance samples per datapoint for log p(x) (0 skips it; default {DEFAULT_IW_SAMPLES}, "
                        "or 0 for a full-VB run)")
    p.add_argument("--appendix-d", action="store_true", help="also run the paper's estimator (Appendix D)")
    p.add_argument("--hmc-samples", type=int, default=500, help="Appendix D: new posterior samples L")
    p.add_argument("--hmc-fit", type=int, default=500, help="Appendix D: samples the Gaussian q(z) is fitted to")
    p.add_argument("--hmc-burnin", type=int, default=300, help="Appendix D: discarded HMC transitions")
    p.add_argument("--split", default="test", help="dataset split to evaluate (train, test; also valid for binarized-mnist, all for frey-face)")
    p.add_argument("--max-points", type=int, default=None, metavar="N", help="only the first N datapoints")
    p.add_argument("--lb-samples", type=int, default=1, metavar="L", help="samples per datapoint for the lower bound")
    p.add_argument("--batch-size", type=int, default=100, help="datapoints per pass")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation's own random numbers")
    p.add_argument("--threads", type=int, default=environment.DEFAULT_THREADS, metavar="N",
                   help="BLAS threads (default: %(default)s; see benchmarks/threads.py)")
    p.add_argument("--data-dir", default=None,
                   help=f"folder with the data files (default: the run's, else ${data_mod.ENV_VAR}, then the "
                        "user cache)")
    p.add_argument("--download", action="store_true",
                   help="fetch missing data files (checked by SHA-256) into --data-dir or the user cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (for logs and CI)")
    return p


def main(argv=None, prog: str = "aevb-evaluate") -> int:
    """Command-line entry point; returns the exit status (2 for a user's mistake).

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).
    prog : str
        Program name used in usage and error lines.

    Returns
    -------
    int
        0 on success; 2 for an :class:`aevb_np.errors.AEVBError` (a bad run folder,
        missing data, a bad setting), with the message on stderr.

    Raises
    ------
    SystemExit
        From argparse: ``--help`` and ``--version`` (status 0), a bad flag (status 2).
    """
    args = build_parser(prog).parse_args(argv)
    try:
        with environment.blas_threads(args.threads):
            _evaluate_from_args(args)
    except AEVBError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _evaluate_from_args(args) -> None:
    evaluate(args.run_dir, iw_samples=args.iw_samples, appendix_d=args.appendix_d, split=args.split,
             max_points=args.max_points, seed=args.seed, lb_samples=args.lb_samples,
             batch_size=args.batch_size, hmc_samples=args.hmc_samples, hmc_fit=args.hmc_fit,
             hmc_burnin=args.hmc_burnin, data_dir=args.data_dir, download=args.download,
             progress=not args.no_progress)


if __name__ == "__main__":
    sys.exit(main(prog="python -m aevb_np.evaluate"))
