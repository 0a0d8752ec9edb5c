"""The course's tooling: graders of the notebooks' exercises, the student-notebook tool,
the grading command for a class, the check report and the diagrams.

Nothing here is part of the paper's mathematics; it teaches and verifies it.

* :mod:`aevb_np.course.graders` — one grader per exercise, in a module per pair of
  notebooks, and the registry :data:`~aevb_np.course.graders.EXERCISES`;
* :mod:`aevb_np.course.verdict` — what a student is told, and the comparisons behind it;
* :mod:`aevb_np.course.student` — the student copy (``make-student``);
* :mod:`aevb_np.course.grading` — grading a class's notebooks in fresh kernels;
* :mod:`aevb_np.course.cli` — ``python -m aevb_np.exercises`` (:mod:`aevb_np.exercises`
  is the entry point the notebooks import).
* :mod:`aevb_np.course.check` and :mod:`aevb_np.course.check_rows` — the check report,
  ``python -m aevb_np.check`` (:mod:`aevb_np.check` is its entry point);
* :mod:`aevb_np.course.diagrams` — the course's diagrams (:mod:`aevb_np.diagrams`, the name
  the notebooks import, re-exports them).
"""
