"""When a run has diverged: a runaway or non-finite bound, or non-finite parameters.

References
----------
Kingma & Welling (2014), §5 (Adagrad's first steps); issue 10 of this project (the rule).
"""

from __future__ import annotations

import math

import numpy as np

from aevb_np.loop import RunState

#: A bound more than this many times its initial magnitude below its initial value, for
#: :data:`DIVERGENCE_PATIENCE` steps in a row, is divergence.
DIVERGENCE_FACTOR = 10.0
#: Adagrad's first steps move every parameter by about lr, and the bound can dip far for a few
#: steps before it recovers (MNIST, Nz = 20, lr 0.02: −53,324 nats at step 7, −388 at step 12);
#: a run that has blown up stays down.  100 steps tell the two apart.
DIVERGENCE_PATIENCE = 100


class DivergenceCheck:
    """Stops a run whose bound runs away, or whose parameters stop being finite.

    The first objective seen sets a floor ``v0 − 10·max(1, |v0|)`` (at initialization the
    MNIST bound is ≈ −543 nats: floor ≈ −6000).  A run that learns stays far above it after
    its first few steps; a run that blows up (wake-sleep at lr 0.1 reached −7.9·10¹⁰) stays
    below it by orders of magnitude.  Divergence is a non-finite value at once, or
    :data:`DIVERGENCE_PATIENCE` steps in a row below the floor; while below it the run is
    "in a dip" and its periodic checkpoints are skipped, so the last checkpoint on disk is
    always a good state.
    """

    def __init__(self):
        self.floors: dict[str, float] = {}
        self.low_steps = 0  # consecutive steps with the objective below its floor

    def floor(self, what: str, v: float) -> float:
        """The floor of ``what``, set by its first value ``v``.

        Parameters
        ----------
        what : str
            Name of the quantity (``"objective"``, ``"train bound"``, ``"test bound"``).
        v : float
            Its value now, in nats per datapoint; only the first value of each ``what``
            sets the floor.

        Returns
        -------
        float
            ``v0 − 10·max(1, |v0|)`` for the first value v0 of ``what``.
        """
        return self.floors.setdefault(what, v - DIVERGENCE_FACTOR * max(1.0, abs(v)))

    def objective(self, v: float) -> str | None:
        """Check one step's objective: None if the run goes on, else the reason it diverged.

        Parameters
        ----------
        v : float
            The step's value (what ``part.step`` returned), nats per datapoint.

        Returns
        -------
        str or None
            Why the run diverged (``v`` not finite, or below the floor for
            :data:`DIVERGENCE_PATIENCE` steps in a row), or None.
        """
        if not math.isfinite(v):
            return f"the objective is {v}"
        floor = self.floor("objective", v)
        self.low_steps = self.low_steps + 1 if v < floor else 0
        if self.low_steps >= DIVERGENCE_PATIENCE:
            return (f"the objective stayed below {floor:.6g}, ten times its initial magnitude below its initial "
                    f"value, for {DIVERGENCE_PATIENCE} steps; it is now {v:.6g}")
        return None

    def evaluated(self, what: str, v: float, final: bool) -> str | None:
        """Check an evaluated bound: non-finite, or (at the end of a run) below its floor.

        Parameters
        ----------
        what : str
            Name of the evaluated number (its floor is kept under this name).
        v : float
            Its value, nats per datapoint.
        final : bool
            The run's last evaluation: only then is ending below the floor divergence.

        Returns
        -------
        str or None
            Why the run diverged, or None.
        """
        if not math.isfinite(v):
            return f"the {what} is {v}"
        floor = self.floor(what, v)
        if final and v < floor:
            return f"the {what} ends at {v:.6g}, below {floor:.6g} (ten times its initial magnitude below it)"
        return None

    @property
    def in_dip(self) -> bool:
        """True while the objective is below its floor (periodic checkpoints are skipped)."""
        return self.low_steps > 0

    @staticmethod
    def state(state: RunState) -> str | None:
        """None if every parameter and optimizer accumulator is finite, else which is not.

        Parameters
        ----------
        state : aevb_np.loop.RunState
            Its ``params`` and ``optimizer.state_dict()`` are checked.

        Returns
        -------
        str or None
            The first non-finite parameter array or accumulator, or None.
        """
        for group, arrays in state.params.items():
            for name, a in arrays.items():
                if not np.isfinite(a).all():
                    return f"parameter {group}/{name} is not finite"
        for name, a in state.optimizer.state_dict().items():
            if not np.isfinite(a).all():
                return f"the optimizer's accumulator for {name} overflowed"
        return None
