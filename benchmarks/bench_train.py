"""Throughput of the AEVB training step against the machine's GEMM rate and against PyTorch.

For the paper's MNIST model (784-500-20, tanh, Bernoulli decoder, M = 100, L = 1,
estimator B, Adagrad with weight decay; Kingma & Welling 2014, §5) on real MNIST
minibatches, this prints:

* samples/s of the training step (gather the minibatch, draw eps, estimator B with its
  gradient, Adagrad), in float64 and/or float32;
* the GEMM FLOPs per step it counts, and the rate of the step's matrix products *alone*
  (same shapes, same operand layouts, same ``out=`` buffers) measured in the same process,
  interleaved with the step; the fraction of that rate the step reaches;
* a profile by section (GEMMs, the estimator's elementwise work, Adagrad, batch + noise),
  timed directly, since a profiler cannot see inside the ufuncs;
* the BLAS library, its kernel and thread count (threadpoolctl), and the environment
  variables that change them;
* peak memory of this process and of the default MNIST training run (``python -m
  aevb_np.train`` with its defaults and a short sample budget);
* seconds to evaluate the lower bound over the 10,000 test images, and, when
  ``aevb_np.marginal.importance_sampled_log_px`` exists, its time for K = 5000 on a few
  images extrapolated to the test set;
* when PyTorch is importable: the same model and optimizer in PyTorch
  (``benchmarks/torch_reference.py``) in a separate process with the same dtype and
  thread count, interleaved with ours, and the ratio (median and range over repeats).

The machines are shared: every rate is the median over ``--repeats`` rounds with its
range, and with ``--threads 1`` the rates per CPU-second of the process are printed too
(they do not count the time other processes held the core).

Usage::

    python benchmarks/bench_train.py [--threads 1|2] [--dtype float64|float32|both]
                                     [--repeats N] [--steps N] [--no-torch] [--no-memory-run]
                                     [--unset-openblas-coretype]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from aevb_np import bounds, data, model, optim
from aevb_np import params as P

HERE = Path(__file__).resolve().parent
D, H, NZ, M, L = 784, 500, 20, 100, 1
LR = 0.02
CORETYPE_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# ----------------------------------------------------------------------------- the step


class NumpyStep:
    """One AEVB step as the training loop runs it, on the fast path of aevb_np.

    The minibatch is gathered into a kept buffer (``np.take(..., out=)``), eps is drawn
    into a kept buffer, ``estimator_B(..., grads=, workspace=)`` writes the gradient into a
    flat-backed dict, and Adagrad updates the flat parameter buffer: nothing is allocated
    per step beyond a few (M,) and (M, Nz) arrays.
    """

    def __init__(self, x: np.ndarray, dtype, seed: int, optim_threads: int):
        self.x = x
        self.rng = np.random.default_rng(seed)
        self.params = model.init_params(D, H, NZ, "bernoulli", self.rng, dtype=dtype)
        self.grads = P.zeros_like(self.params)
        self.workspace: dict = {}
        # As in aevb_np.train: the estimator applies N/M (Eq. 8), so Adagrad's scale is 1.
        self.grad_scale = x.shape[0] / M
        self.opt = optim.Adagrad(LR, scale=1.0, weight_decay=True, threads=optim_threads)
        self.perm, self.pos = self.rng.permutation(x.shape[0]), 0
        self.xb = np.empty((M, D), dtype)
        self.eps = np.empty((L, M, NZ), dtype)
        self.last_bound = float("nan")

    def batch(self) -> None:
        """Next minibatch (a fresh permutation each epoch) and fresh noise, into kept buffers."""
        if self.pos + M > self.x.shape[0]:
            self.perm, self.pos = self.rng.permutation(self.x.shape[0]), 0
        np.take(self.x, self.perm[self.pos : self.pos + M], axis=0, out=self.xb)
        self.pos += M
        self.rng.standard_normal(out=self.eps, dtype=self.eps.dtype)

    def gradient(self) -> None:
        elbo, _ = bounds.estimator_B(self.params, self.xb, self.eps, validate=False,
                                     grads=self.grads, workspace=self.workspace, grad_scale=self.grad_scale)
        self.last_bound = float(elbo.mean())

    def step(self) -> None:
        self.batch()
        self.gradient()
        self.opt.step(self.params, self.grads)


class GemmOnly:
    """The step's matrix products alone: the shapes, transposed views and out= buffers of the step."""

    def __init__(self, params: dict, dtype):
        phi, th = params["phi"], params["theta"]
        r = np.random.default_rng(1)

        def buf(*shape):  # operands of a realistic size (no denormals, no zeros)
            return (0.01 * r.standard_normal(shape)).astype(dtype)

        N = L * M
        x, hE, mu, lv, z, hD, logits = buf(M, D), buf(M, H), buf(M, NZ), buf(M, NZ), buf(N, NZ), buf(N, H), buf(N, D)
        dlogits, dhD, daD, dz, dh4, dh5, daE = buf(N, D), buf(N, H), buf(N, H), buf(N, NZ), buf(M, H), buf(M, H), buf(M, H)
        dW = {k: np.empty_like(v) for k, v in {**phi, **th}.items()}
        dmu, dlv = buf(M, NZ), buf(M, NZ)
        self.calls = [
            # forward: encoder (Appendix C.2) and decoder (C.1)
            (x, phi["W3"].T, hE), (hE, phi["W4"].T, mu), (hE, phi["W5"].T, lv),
            (z, th["W1"].T, hD), (hD, th["W2"].T, logits),
            # backward: decoder, then the encoder's two heads and its first layer
            (dlogits.T, hD, dW["W2"]), (dlogits, th["W2"], dhD), (daD.T, z, dW["W1"]), (daD, th["W1"], dz),
            (dmu.T, hE, dW["W4"]), (dmu, phi["W4"], dh4), (dlv.T, hE, dW["W5"]), (dlv, phi["W5"], dh5),
            (daE.T, x, dW["W3"]),
        ]
        self.flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b, _ in self.calls)

    def run(self) -> None:
        for a, b, out in self.calls:
            np.matmul(a, b, out=out)


# ----------------------------------------------------------------------------- timing


def timed(fn, n: int) -> tuple[float, float]:
    """(wall, CPU) seconds for ``n`` calls of ``fn``."""
    w, c = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return time.perf_counter() - w, time.process_time() - c


class TorchWorker:
    """benchmarks/torch_reference.py in its own process, driven line by line."""

    def __init__(self, dtype: str, threads: int, seed: int, env: dict):
        env = dict(env, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "torch_reference.py"), "--worker", "--dtype", dtype,
             "--threads", str(threads), "--seed", str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the PyTorch worker exited with status {self.proc.wait()}")
        self.info = json.loads(line)["ready"]

    def run(self, steps: int, what: str = "run") -> tuple[float, float]:
        self.proc.stdin.write(f"{what} {steps}\n")
        self.proc.stdin.flush()
        t = json.loads(self.proc.stdout.readline())
        return t["wall"], t["cpu"]

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        except OSError:
            pass
        self.proc.wait(timeout=60)


def torch_available() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def summary(values) -> str:
    v = np.asarray(values, dtype=float)
    return f"{np.median(v):9.0f}  [{v.min():.0f}, {v.max():.0f}]"


def ratio_summary(values) -> str:
    v = np.asarray(values, dtype=float)
    return f"{np.median(v):.2f}  [{v.min():.2f}, {v.max():.2f}]"


# ----------------------------------------------------------------------------- sections


def section_profile(step: NumpyStep, gemm: GemmOnly, n: int, repeats: int, clock) -> dict:
    """Milliseconds per step of each section, each timed on its own (median over repeats).

    Adagrad is timed on a copy of the parameters and optimizer state so that repeating it
    with one gradient does not disturb the training run.
    """
    params, grads = P.copy(step.params), P.copy(step.grads)
    opt = optim.Adagrad(LR, scale=step.opt.scale, threads=step.opt._chunks.threads)
    opt.load_state_dict(step.opt.state_dict(), params)
    flat_p, saved = P.flat_buffer(params), P.flat_buffer(params).copy()

    def adagrad():
        opt.step(params, grads)

    sections = {"GEMMs": gemm.run, "estimator (all)": step.gradient, "Adagrad": adagrad,
                "batch + noise": step.batch, "whole step": step.step}
    times = {k: [] for k in sections}
    with np.errstate(all="ignore"):
        for _ in range(repeats):
            for name, fn in sections.items():
                t0 = clock()
                for _ in range(n):
                    fn()
                times[name].append((clock() - t0) / n * 1e3)
                flat_p[...] = saved  # Adagrad's copy starts each round from the same point
    # CPU time of one thread only grows with interference (cache sharing, interrupts): take
    # the least; wall-clock time (several threads) is summarised by its median.
    pick = np.min if clock is time.thread_time else np.median
    ms = {k: float(pick(v)) for k, v in times.items()}
    # The estimator's own elementwise work and Python overhead: what the step spends
    # beyond its GEMMs, the optimizer and the batch (a difference of noisy timings).
    ms["estimator elementwise + overhead"] = ms["whole step"] - ms["GEMMs"] - ms["Adagrad"] - ms["batch + noise"]
    return ms


# ----------------------------------------------------------------------------- memory, evaluation


def default_run_peak_memory(dtype: str, max_samples: int, env: dict) -> float | None:
    """Peak resident memory (MB) of ``python -m aevb_np.train`` with its defaults, cut to a short budget."""
    with tempfile.TemporaryDirectory() as tmp:
        # VmHWM is the peak resident set of this process image; ru_maxrss would also count
        # the parent's memory, inherited across fork and exec.
        code = (
            "import resource\n"
            "from aevb_np.train import main\n"
            f"rc = main(['--max-samples', '{max_samples}', '--no-progress', '--dtype', '{dtype}', '--out', {str(Path(tmp) / 'run')!r}])\n"
            "kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n"
            "    kb = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
            "except (OSError, StopIteration):\n"
            "    pass\n"
            "print('MAXRSS_KB', kb, rc)\n"
        )
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    for line in res.stdout.splitlines():
        if line.startswith("MAXRSS_KB"):
            _, kb, rc = line.split()
            return int(kb) / 1024 if rc == "0" else None
    sys.stderr.write(res.stderr[-2000:])
    return None


def evaluation_times(params: dict, x_test: np.ndarray, is_images: int) -> dict:
    out = {}
    rng = np.random.default_rng(3)
    t = time.perf_counter()
    lb = bounds.lower_bound(params, x_test, rng)
    out["lower bound, 10,000 test images (s)"] = time.perf_counter() - t
    out["lower bound value (nats)"] = float(lb.mean())
    try:
        from aevb_np.marginal import importance_sampled_log_px
    except ImportError:
        out["importance-sampled log p(x)"] = "aevb_np.marginal.importance_sampled_log_px not available"
        return out
    t = time.perf_counter()
    importance_sampled_log_px(params, x_test[:is_images], 5000, rng)
    per_image = (time.perf_counter() - t) / is_images
    out[f"importance-sampled log p(x), K=5000: s/image (on {is_images})"] = per_image
    out["  extrapolated to 10,000 test images (min)"] = per_image * x_test.shape[0] / 60
    return out


# ----------------------------------------------------------------------------- main


def blas_description() -> str:
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not infos:
        return "no BLAS found by threadpoolctl"
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} kernel {i.get('architecture')} "
                     f"threads {i.get('num_threads')} ({Path(i.get('filepath', '')).name})" for i in infos)


def run_dtype(dtype_name: str, args, x_train, x_test, env) -> None:
    dtype = np.dtype(dtype_name)
    x = x_train.astype(dtype)
    step = NumpyStep(x, dtype, args.seed, args.optim_threads)
    gemm = GemmOnly(step.params, dtype)
    worker = None
    if not args.no_torch and torch_available():
        try:
            worker = TorchWorker(dtype_name, args.threads, args.seed, env)
        except (RuntimeError, OSError, ValueError) as exc:
            print(f"  PyTorch worker failed to start ({exc}); comparison skipped")
    for _ in range(10):  # warm up: first-touch of every buffer, BLAS thread start-up
        step.step()
        gemm.run()
    if worker is not None:
        worker.run(10)

    rates = {"gemm": [], "ours": [], "torch": [], "torch_gemm": []}
    cpu = {"gemm": [], "ours": [], "torch": [], "torch_gemm": []}
    ratios, fractions = [], []
    n = args.steps
    for _ in range(args.repeats):  # interleaved rounds: GEMM only, ours, PyTorch
        w, c = timed(gemm.run, n)
        rates["gemm"].append(n * M / w)
        cpu["gemm"].append(n * M / c)
        w, c = timed(step.step, n)
        rates["ours"].append(n * M / w)
        cpu["ours"].append(n * M / c)
        fractions.append(rates["ours"][-1] / rates["gemm"][-1])
        if worker is not None:
            w, c = worker.run(n)
            rates["torch"].append(n * M / w)
            cpu["torch"].append(n * M / c)
            ratios.append(rates["ours"][-1] / rates["torch"][-1])
            w, c = worker.run(n, "gemm")
            rates["torch_gemm"].append(n * M / w)
            cpu["torch_gemm"].append(n * M / c)
    if worker is not None:
        worker.close()

    gflop = gemm.flops / 1e9
    print(f"\n== {dtype_name}: {args.repeats} rounds x {n} steps, M={M}, L={L}, {D}-{H}-{NZ}, "
          f"BLAS threads {args.threads}, Adagrad threads {args.optim_threads}")
    print(f"  GEMM FLOPs per step: {gemm.flops / 1e6:.1f} MFLOP ({gemm.flops / M / 1e6:.2f} MFLOP per datapoint), "
          f"{len(gemm.calls)} products; parameters: {P.flat_buffer(step.params).size}")
    print("                                 samples/s (wall): median  [min, max]")
    print(f"  GEMM only at the step's shapes  {summary(rates['gemm'])}   "
          f"= {np.median(rates['gemm']) / M * gflop:.1f} GFLOP/s")
    print(f"  training step, aevb_np          {summary(rates['ours'])}   "
          f"= {np.median(rates['ours']) / M * gflop:.1f} GFLOP/s of GEMM work")
    print(f"  fraction of the GEMM-only rate  {ratio_summary(fractions)}")
    if worker is not None:
        print(f"  training step, PyTorch          {summary(rates['torch'])}   "
              f"(torch {worker.info['torch']}, {worker.info['threads']} thread(s), Adagrad {worker.info['adagrad']}, "
              f"MKL {worker.info['mkl']})")
        print(f"  aevb_np / PyTorch               {ratio_summary(ratios)}")
        print(f"  GEMM only, PyTorch's BLAS       {summary(rates['torch_gemm'])}   "
              f"= {np.median(rates['torch_gemm']) / M * gflop:.1f} GFLOP/s; PyTorch step / its GEMM-only: "
              f"{np.median(rates['torch']) / np.median(rates['torch_gemm']):.2f}")
    elif args.no_torch:
        print("  PyTorch comparison: skipped (--no-torch)")
    else:
        print("  PyTorch comparison: skipped (PyTorch is not installed; `pip install torch` to compare)")
    if args.threads == 1:
        line = (f"  per CPU-second (1 thread; not counting time other processes held the core): "
                f"GEMM {np.median(cpu['gemm']):.0f}, aevb_np {np.median(cpu['ours']):.0f}, "
                f"fraction {np.median(cpu['ours']) / np.median(cpu['gemm']):.2f}")
        if worker is not None:
            line += (f", PyTorch {np.median(cpu['torch']):.0f} (its GEMM only {np.median(cpu['torch_gemm']):.0f}), "
                     f"ratio {np.median(cpu['ours']) / np.median(cpu['torch']):.2f}")
        print(line + " samples/s")
    print(f"  running lower bound after {len(rates['ours']) * n + 10} steps: {step.last_bound:.2f} nats/datapoint")

    clock = time.thread_time if args.threads == 1 else time.perf_counter
    ms = section_profile(step, gemm, max(5, n // 5), max(3, args.repeats // 2), clock)
    whole = ms["whole step"]
    print(f"  sections, ms per step ({'least CPU time of this thread' if args.threads == 1 else 'median wall clock'} "
          "over rounds; each timed on its own):")
    for k in ("GEMMs", "Adagrad", "estimator elementwise + overhead", "batch + noise", "whole step",
              "estimator (all)"):
        print(f"    {k:36s} {ms[k]:7.2f}  ({100 * ms[k] / whole:4.0f}%)")

    if not args.no_eval:
        for k, v in evaluation_times(step.params, x_test.astype(dtype), args.is_images).items():
            print(f"  {k}: {v:.2f}" if isinstance(v, float) else f"  {k}: {v}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Throughput of the AEVB training step (see the module docstring).")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (and PyTorch threads)")
    ap.add_argument("--optim-threads", type=int, default=None, help="Adagrad threads (default: --threads)")
    ap.add_argument("--dtype", default="both", choices=("float64", "float32", "both"))
    ap.add_argument("--repeats", type=int, default=7, help="interleaved rounds (median and range reported)")
    ap.add_argument("--steps", type=int, default=50, help="training steps per round")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--is-images", type=int, default=5, help="test images for the K=5000 log p(x) timing")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    ap.add_argument("--no-eval", action="store_true", help="skip the lower-bound and log p(x) timings")
    ap.add_argument("--no-memory-run", action="store_true", help="skip the peak memory of the default training run")
    ap.add_argument("--memory-run-samples", type=int, default=2000, help="sample budget of that run")
    ap.add_argument("--unset-openblas-coretype", action="store_true",
                    help="re-run this benchmark in a subprocess without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE")
    args = ap.parse_args(argv)
    args.optim_threads = args.optim_threads or args.threads

    if args.unset_openblas_coretype:
        env = {k: v for k, v in os.environ.items() if k not in CORETYPE_VARS}
        rest = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--unset-openblas-coretype"]
        print(f"re-running without {', '.join(CORETYPE_VARS)}", flush=True)
        return subprocess.call([sys.executable, str(Path(__file__).resolve()), *rest], env=env)

    env = dict(os.environ)
    threadpool_limits(args.threads, user_api="blas")
    print(f"aevb_np training-step benchmark  ({time.strftime('%Y-%m-%d %H:%M:%S')})")
    print(f"  machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"  python {platform.python_version()}, numpy {np.__version__}; BLAS: {blas_description()}")
    coretype = {k: os.environ[k] for k in CORETYPE_VARS if k in os.environ}
    print(f"  OpenBLAS overrides in the environment: {coretype or 'none'}"
          + ("  (they slow current NumPy; see --unset-openblas-coretype)" if coretype else ""))

    x_train, _ = data.load_mnist("train")
    x_test, _ = data.load_mnist("test")
    dtypes = ("float64", "float32") if args.dtype == "both" else (args.dtype,)
    for dt in dtypes:
        run_dtype(dt, args, x_train, x_test, env)

    print(f"\n  peak memory of this benchmark process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if not args.no_memory_run:
        for dt in ("float64", "float32"):
            mb = default_run_peak_memory(dt, args.memory_run_samples, env)
            shown = f"{mb:.0f} MB" if mb is not None else "failed (see stderr)"
            default = " (the CLI's default)" if dt == "float64" else ""
            print(f"  peak memory of `python -m aevb_np.train --dtype {dt}`{default}, "
                  f"--max-samples {args.memory_run_samples}: {shown}")
    print(f"  load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
