"""``python -m aevb_np.check``: the check report under its first name.

The report is :mod:`aevb_np.course.check` (its rows :mod:`aevb_np.course.check_rows`); the
course's tooling lives in ``aevb_np/course/``.  This module only keeps the command working.
"""

from __future__ import annotations

import sys

from aevb_np.course.check import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
