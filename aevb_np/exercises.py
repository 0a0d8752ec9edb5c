"""The notebooks' exercises: the graders, the student copy, grading a class (a thin entry point).

The code lives in :mod:`aevb_np.course`; this module keeps the names the notebooks and the
docs use (``exercises.check("2.1", neg_kl)``, ``exercises.check_neg_kl``, …) and the command
line::

    python -m aevb_np.exercises make-student notebooks/ my-course/   # the student copy
    python -m aevb_np.exercises list notebooks/
    python -m aevb_np.exercises grade SUBMISSIONS/ --out scores.csv   # a class's notebooks

See :mod:`aevb_np.course.cli` for the commands, :mod:`aevb_np.course.graders` for what each
grader checks, and ``docs/instructors.md`` for the teacher's path.
"""

from __future__ import annotations

import sys

from aevb_np.course.cli import main
from aevb_np.course.graders import EXERCISES  # noqa: F401  importable, left out of __all__ (see graders)
from aevb_np.course.graders import (Exercise, check, check_adagrad_step, check_appendix_d_estimator,
                                    check_estimator_A, check_full_vb_bound, check_gaussian_log_likelihood,
                                    check_gaussian_log_likelihood_grad, check_heads_backward, check_leapfrog,
                                    check_minibatch_estimate, check_mu_log_var_fan_in, check_neg_kl,
                                    check_neg_kl_grad, check_pathwise_gradient, check_reparam_sample,
                                    check_tanh_backward, check_theta_backward, grade)
from aevb_np.course.student import BEGIN, END  # noqa: F401  importable, left out of __all__
from aevb_np.course.student import (StudentCopyError, find_exercises, make_student,
                                    make_student_notebook, strip_solutions)
from aevb_np.course.verdict import ExerciseError

__all__ = [
    "Exercise", "ExerciseError", "StudentCopyError", "check", "check_adagrad_step",
    "check_appendix_d_estimator", "check_estimator_A", "check_full_vb_bound", "check_gaussian_log_likelihood",
    "check_gaussian_log_likelihood_grad", "check_heads_backward", "check_leapfrog", "check_minibatch_estimate",
    "check_mu_log_var_fan_in", "check_neg_kl", "check_neg_kl_grad", "check_pathwise_gradient",
    "check_reparam_sample", "check_tanh_backward", "check_theta_backward", "find_exercises", "grade", "main",
    "make_student", "make_student_notebook", "strip_solutions",
]

if __name__ == "__main__":
    sys.exit(main())
