"""Does float32 training reach the bound float64 reaches?  Same start, same batches, same noise.

Two CLI runs in different dtypes differ by the seed's worth of noise (float32 noise is
drawn by a different algorithm, so the random streams differ).  This script removes that
difference: it trains the paper's MNIST model (784-500-20, estimator B, Adagrad with weight
decay, M = 100, L = 1; Kingma & Welling 2014, §5) in float64 and in float32 from the same
float64 initial parameters, with the same minibatches and the same eps (drawn in float64,
rounded to float32), then evaluates both on the test set in float64 with the same eps.
Any gap left is float32 arithmetic.

    python benchmarks/dtype_agreement.py [--samples 300000] [--seeds 0 1]
"""

from __future__ import annotations

import argparse

import numpy as np

from aevb_np import bounds, data, model, optim
from aevb_np import params as P

D, H, NZ, M, L, LR = 784, 500, 20, 100, 1, 0.02


def train_and_evaluate(x64: np.ndarray, x_test64: np.ndarray, dtype, seed: int, n_samples: int) -> float:
    """Test lower bound (nats/datapoint, float64 evaluation) after ``n_samples`` in ``dtype``."""
    N = x64.shape[0]
    x = x64.astype(dtype)
    start = model.init_params(D, H, NZ, "bernoulli", np.random.default_rng(seed))
    params = P.from_flat_dict(P.to_flat_dict(start), dtype=dtype)
    rng = np.random.default_rng(seed + 1000)  # batches and eps: the same draws in both dtypes
    grads, workspace = P.zeros_like(params), {}
    opt = optim.Adagrad(LR, scale=1.0)  # N/M is applied by the estimator (grad_scale)
    perm, pos = rng.permutation(N), 0
    for _ in range(n_samples // M):
        if pos + M > N:
            perm, pos = rng.permutation(N), 0
        xb = x[perm[pos : pos + M]]
        pos += M
        eps = rng.standard_normal((L, M, NZ)).astype(dtype)
        bounds.estimator_B(params, xb, eps, validate=False, grads=grads, workspace=workspace, grad_scale=N / M)
        opt.step(params, grads)
    final = P.from_flat_dict(P.to_flat_dict(params), dtype=np.float64)
    return float(bounds.lower_bound(final, x_test64, np.random.default_rng(seed + 2000)).mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=300_000, help="training samples per run")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args(argv)
    x64, _ = data.load_dataset("mnist", "train")
    x_test64, _ = data.load_dataset("mnist", "test")
    print(f"MNIST 784-500-20, {args.samples} samples, same start/batches/eps; test lower bound (nats/datapoint)")
    for seed in args.seeds:
        b64 = train_and_evaluate(x64, x_test64, np.float64, seed, args.samples)
        b32 = train_and_evaluate(x64, x_test64, np.float32, seed, args.samples)
        print(f"  seed {seed}: float64 {b64:.3f}   float32 {b32:.3f}   difference {b32 - b64:+.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
