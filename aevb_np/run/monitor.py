"""What happens between two steps of Algorithm 1 in a run: progress, evaluations, checkpoints,
divergence, Ctrl-C and SIGTERM.

References
----------
Kingma & Welling (2014), Algorithm 1, §5.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from pathlib import Path

import numpy as np

from aevb_np import checkpoint
from aevb_np.errors import TrainingDivergedError
from aevb_np.loop import RunState
from aevb_np.run.divergence import DivergenceCheck
from aevb_np.run.evaluation import _crosses_eval_point, _eval_rng, evaluate_splits
from aevb_np.run.folder import _write_log

logger = logging.getLogger("aevb_np.train")  # the run's one logger (python -m aevb_np.train prints it)


class _StopFlag:
    """Turns SIGINT and SIGTERM into a flag checked between steps, so a stop never lands mid-update."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


class _Monitor:
    """What happens between two steps of Algorithm 1: progress, evaluations, checkpoints, stops.

    Called by :func:`aevb_np.loop.algorithm_1` after every update (``__call__``).
    """

    def __init__(self, config, part, out: Path, x_train_eval, x_test, log_rows, total, bar, stop, stop_after_steps):
        self.config, self.part, self.out = config, part, out
        self.x_train_eval, self.x_test, self.log_rows = x_train_eval, x_test, log_rows
        self.total, self.bar, self.stop, self.stop_after_steps = total, bar, stop, stop_after_steps
        self.ckpt_path, self.log_path = out / "checkpoint.npz", out / "log.jsonl"
        self.check = DivergenceCheck()
        self.running = None
        self.t0 = time.perf_counter()
        self.wall_before = log_rows[-1]["train_seconds"] if log_rows else 0.0
        if log_rows:  # a resumed run keeps its initial evaluation's floor
            self.check.floor("train bound", log_rows[0][f"train_{config.metric()}"])

    def wall(self) -> float:
        return self.wall_before + time.perf_counter() - self.t0

    def diverged(self, step: int, reason: str) -> TrainingDivergedError:
        where = f"; the last good state is {self.ckpt_path}" if self.ckpt_path.exists() else ""
        return TrainingDivergedError(f"training diverged at step {step} ({reason}){where}")

    def evaluate(self, state: RunState, final: bool = False) -> dict:
        reason = self.check.state(state)
        if reason:
            raise self.diverged(state.step, reason)
        rng, key = _eval_rng(self.config.seed, state.step), self.config.metric()
        train_rows, test_rows = evaluate_splits(self.part, state.params, (self.x_train_eval, self.x_test),
                                                self.config.evaluation, rng)
        train_v, test_v = float(np.mean(train_rows)), float(np.mean(test_rows))
        reason = self.check.evaluated("train bound", train_v, final) or self.check.evaluated("test bound", test_v, final)
        if reason:
            raise self.diverged(state.step, reason)
        row = {"step": state.step, "samples": state.samples, "epoch": state.epoch, f"train_{key}": train_v,
               f"test_{key}": test_v, "train_seconds": round(self.wall(), 3)}
        self.log_rows.append(row)
        _write_log(self.log_path, self.log_rows)
        logger.info("samples %d  step %d  train %s %.3f  test %s %.3f nats/datapoint", state.samples, state.step,
                    key.replace("_", " "), train_v, key.replace("_", " "), test_v)
        return row

    def save(self, state: RunState, periodic: bool = False) -> None:
        reason = self.check.state(state)
        if reason:  # never overwrite the last good checkpoint with a broken state
            raise self.diverged(state.step, reason)
        if periodic and self.check.in_dip:  # nor with one that may be diverging
            logger.debug("step %d: the objective is below its floor; checkpoint skipped", state.step)
            return
        checkpoint.save(self.ckpt_path, params=state.params, optim_state=state.optimizer.state_dict(), rng=state.rng,
                        perm=state.perm, position=state.position, step=state.step, samples=state.samples,
                        epoch=state.epoch, config=dataclasses.asdict(self.config), extra=self.part.state_arrays())

    def __call__(self, state: RunState, value: float) -> bool:
        reason = self.check.objective(value)
        if reason:
            raise self.diverged(state.step, reason)
        self.running = value if self.running is None else 0.98 * self.running + 0.02 * value
        self.bar.update(self.config.batch_size)
        if state.step % 20 == 0:
            self.bar.set_postfix_str(f"{self.part.shown} {self.running:.2f}")
        if _crosses_eval_point(state.samples - self.config.batch_size, state.samples, self.config) \
                and state.samples < self.total:
            self.evaluate(state)
        if state.step % self.config.checkpoint_every == 0:
            self.save(state, periodic=True)
        return self.stop.requested or (self.stop_after_steps is not None and state.step >= self.stop_after_steps)
