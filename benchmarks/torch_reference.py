"""PyTorch CPU reference for the benchmark: the same model, estimator and optimizer as aevb_np.

Only ``benchmarks/bench_train.py`` uses this file; PyTorch is never a dependency of the
package.  The model is the paper's MNIST setting, written the way a PyTorch user would:

* encoder  h = tanh(W3 x + b3), mu = W4 h + b4, log_var = W5 h + b5   (Appendix C.2)
* z = mu + exp(½ log_var) ⊙ eps                                       (Eq. 9-10)
* decoder  logits = W2 tanh(W1 z + b1) + b2, Bernoulli likelihood     (Appendix C.1)
* objective (N/M) Σ_i [−KL_i + log p(x_i|z_i)] (estimator B, Eq. 7-8, Appendix B),
  minimised as its negative with autograd;
* ``torch.optim.Adagrad(lr, eps=1e-8, weight_decay=1.0)``: weight decay 1 is the gradient
  of the N(0, I) prior, so each step is aevb_np's ``Adagrad(lr)`` on the N/M-scaled gradient,
  except where eps enters (PyTorch adds it to √G; aevb_np starts G at eps), a difference
  far below the gradient noise once G has grown.

Weights keep the paper's (n_out, n_in) orientation, as in aevb_np, and are drawn from
N(0, 0.01²).  A step gathers the minibatch, draws eps, runs forward and backward and the
optimizer, as the NumPy step does.

Usage
-----
Standalone::

    python benchmarks/torch_reference.py --dtype float32 --threads 1 --steps 300

As the benchmark's worker (``--worker``): prints one JSON line ``{"ready": ...}``, then
for each line ``run N`` on stdin runs N steps and prints ``{"wall": s, "cpu": s}``
(``gemm N``: N times the step's 14 matrix products alone, as PyTorch's BLAS runs them);
``quit`` ends it.  The benchmark interleaves these runs with its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def _build(torch, x_np, dtype_name: str, seed: int, M: int, H: int, Nz: int, lr: float, optimizer: str):
    """Parameters, optimizer and a ``step()`` closure over real MNIST rows ``x_np``."""
    import torch.nn.functional as F

    dtype = getattr(torch, dtype_name)
    N, D = x_np.shape
    x = torch.from_numpy(x_np).to(dtype)
    gen = torch.Generator().manual_seed(seed)
    shapes = {"W3": (H, D), "b3": (H,), "W4": (Nz, H), "b4": (Nz,), "W5": (Nz, H), "b5": (Nz,),
              "W1": (H, Nz), "b1": (H,), "W2": (D, H), "b2": (D,)}
    p = {k: (0.01 * torch.randn(*s, generator=gen, dtype=dtype)).requires_grad_() for k, s in shapes.items()}
    kwargs = {"fused": True} if optimizer == "fused" else {"foreach": optimizer == "foreach"}
    opt = torch.optim.Adagrad(list(p.values()), lr=lr, eps=1e-8, weight_decay=1.0, **kwargs)
    scale = N / M
    state = {"perm": torch.randperm(N, generator=gen), "pos": 0}

    def neg_objective(xb, eps):
        h = torch.tanh(torch.addmm(p["b3"], xb, p["W3"].t()))
        mu = torch.addmm(p["b4"], h, p["W4"].t())
        log_var = torch.addmm(p["b5"], h, p["W5"].t())
        z = mu + torch.exp(0.5 * log_var) * eps
        logits = torch.addmm(p["b2"], torch.tanh(torch.addmm(p["b1"], z, p["W1"].t())), p["W2"].t())
        log_px = -F.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
        neg_kl = 0.5 * torch.sum(1.0 + log_var - mu * mu - torch.exp(log_var))
        return -scale * (neg_kl + log_px)

    def step():
        if state["pos"] + M > N:
            state["perm"], state["pos"] = torch.randperm(N, generator=gen), 0
        xb = x.index_select(0, state["perm"][state["pos"] : state["pos"] + M])
        state["pos"] += M
        eps = torch.randn(M, Nz, generator=gen, dtype=dtype)
        opt.zero_grad(set_to_none=False)
        loss = neg_objective(xb, eps)
        loss.backward()
        opt.step()
        return loss

    return step


def _gemm_only(torch, dtype_name: str, M: int, D: int, H: int, Nz: int):
    """The step's matrix products alone (same shapes and transposes as the NumPy GemmOnly)."""
    dtype = getattr(torch, dtype_name)
    gen = torch.Generator().manual_seed(1)

    def t(*shape):
        return 0.01 * torch.randn(*shape, generator=gen, dtype=dtype)

    W3, W4, W5, W1, W2 = t(H, D), t(Nz, H), t(Nz, H), t(H, Nz), t(D, H)
    x, hE, mu, lv, z, hD, lo = t(M, D), t(M, H), t(M, Nz), t(M, Nz), t(M, Nz), t(M, H), t(M, D)
    dlo, dhD, daD, dz, dh4, dh5, daE = t(M, D), t(M, H), t(M, H), t(M, Nz), t(M, H), t(M, H), t(M, H)
    dW3, dW4, dW5, dW1, dW2 = t(H, D), t(Nz, H), t(Nz, H), t(H, Nz), t(D, H)
    calls = [(x, W3.t(), hE), (hE, W4.t(), mu), (hE, W5.t(), lv), (z, W1.t(), hD), (hD, W2.t(), lo),
             (dlo.t(), hD, dW2), (dlo, W2, dhD), (daD.t(), z, dW1), (daD, W1, dz),
             (mu.t(), hE, dW4), (mu, W4, dh4), (lv.t(), hE, dW5), (lv, W5, dh5), (daE.t(), x, dW3)]

    def run():
        for a, b, out in calls:
            torch.mm(a, b, out=out)

    return run


def _time(step, n: int) -> dict:
    w, c = time.perf_counter(), time.process_time()
    for _ in range(n):
        step()
    return {"wall": time.perf_counter() - w, "cpu": time.process_time() - c}


def _choose_optimizer(torch, x, args) -> tuple[str, object]:
    """The fastest of PyTorch's Adagrad implementations here, so the reference is a strong one."""
    best = None
    for name in ("fused", "foreach", "for-loop"):
        try:
            step = _build(torch, x, args.dtype, args.seed, args.batch_size, args.hidden, args.n_latent, args.lr, name)
            for _ in range(5):
                step()
        except (RuntimeError, TypeError, ValueError):
            continue  # this build of PyTorch lacks that implementation
        t = min(_time(step, 10)["wall"] for _ in range(3))
        if best is None or t < best[0]:
            best = (t, name, step)
    return best[1], best[2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=500)
    ap.add_argument("--n-latent", type=int, default=20)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", action="store_true", help="serve 'run N' requests on stdin (used by bench_train.py)")
    args = ap.parse_args(argv)

    import torch

    from aevb_np import data

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    x, _ = data.load_mnist("train")
    optimizer, step = _choose_optimizer(torch, x, args)
    gemm = _gemm_only(torch, args.dtype, args.batch_size, x.shape[1], args.hidden, args.n_latent)
    for _ in range(10):
        step()
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "adagrad": optimizer,
            "mkl": bool(torch.backends.mkl.is_available()), "dtype": args.dtype}
    if not args.worker:
        t = _time(step, args.steps)
        print(f"PyTorch {info['torch']} CPU, {args.dtype}, {info['threads']} thread(s), Adagrad {optimizer}: "
              f"{args.steps * args.batch_size / t['wall']:.0f} samples/s (wall), "
              f"{args.steps * args.batch_size / t['cpu']:.0f} samples/s (CPU time)")
        return 0
    print(json.dumps({"ready": info}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        print(json.dumps(_time(gemm if cmd[0] == "gemm" else step, int(cmd[1]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
