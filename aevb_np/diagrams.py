"""The course's diagrams under their first name: ``from aevb_np import diagrams`` in the notebooks.

The diagrams are drawn by :mod:`aevb_np.course.diagrams` (the course's tooling lives in
``aevb_np/course/``); this module re-exports its public names so that the notebooks and
``python -m aevb_np.diagrams OUT_DIR`` keep working.
"""

from __future__ import annotations

import sys

from aevb_np.course.diagrams import fan_in_diagram, main, model_diagram, reparameterization_diagram, save_all

__all__ = ["fan_in_diagram", "main", "model_diagram", "reparameterization_diagram", "save_all"]

if __name__ == "__main__":
    sys.exit(main())
