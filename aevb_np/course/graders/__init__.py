"""The exercises of the notebooks and their graders.

:data:`EXERCISES` maps an exercise's number ("2.1") to what grading needs: the name of the
function the notebook's exercise cell defines, its grader, and the package's own function
that the rest of the notebook uses.  A notebook's check cell calls :func:`check`, which
prints one line — passed, or what is wrong — and never raises, so "Run all" reaches the
end of a notebook with unsolved exercises.  A grading run calls :func:`grade` with a seed
drawn at grading time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from aevb_np.course.graders.gradients import (check_gaussian_log_likelihood, check_gaussian_log_likelihood_grad,
                                              check_heads_backward, check_mu_log_var_fan_in, check_tanh_backward)
from aevb_np.course.graders.marginal_likelihood import check_appendix_d_estimator, check_leapfrog
from aevb_np.course.graders.sampling import (check_estimator_A, check_neg_kl, check_neg_kl_grad,
                                             check_pathwise_gradient, check_reparam_sample)
from aevb_np.course.graders.training import (check_adagrad_step, check_full_vb_bound, check_minibatch_estimate,
                                             check_theta_backward)
from aevb_np.course.verdict import ExerciseError, verdict


@dataclass(frozen=True)
class Exercise:
    """One exercise: its number, the student's function name, its grader, what replaces it."""

    number: str
    function: str
    grader: Callable[..., str]
    fallback: str

    @property
    def chapter(self) -> int:
        """The notebook's number (2 for "2.1")."""
        return int(self.number.split(".")[0])


EXERCISES: dict[str, Exercise] = {e.number: e for e in (
    Exercise("1.1", "reparam_sample", check_reparam_sample, "the package's aevb_np.reparam.gaussian_sample"),
    Exercise("1.2", "pathwise_gradient", check_pathwise_gradient,
             "the package's aevb_np.reparam.gaussian_sample_backward"),
    Exercise("2.1", "neg_kl", check_neg_kl, "the package's aevb_np.distributions.neg_kl_standard_normal"),
    Exercise("2.2", "neg_kl_grad", check_neg_kl_grad, "the package's aevb_np.distributions.neg_kl_standard_normal_grad"),
    Exercise("2.3", "estimator_A", check_estimator_A, "the package's aevb_np.bounds.estimator_A"),
    Exercise("3.1", "tanh_backward_mine", check_tanh_backward, "the package's aevb_np.layers.tanh_backward"),
    Exercise("3.2", "mu_log_var_backward", check_mu_log_var_fan_in, "the package's backward pass (aevb_np.bounds)"),
    Exercise("3.3", "heads_backward", check_heads_backward, "the package's backward pass (aevb_np.bounds)"),
    Exercise("4.1", "adagrad_step", check_adagrad_step, "the package's aevb_np.optim.Adagrad"),
    Exercise("4.2", "minibatch_estimate", check_minibatch_estimate, "the package's training loop (aevb_np.train)"),
    Exercise("5.1", "gaussian_log_likelihood", check_gaussian_log_likelihood,
             "the package's aevb_np.distributions.log_normal_diag"),
    Exercise("5.2", "gaussian_log_likelihood_grad", check_gaussian_log_likelihood_grad,
             "the package's aevb_np.distributions.log_normal_diag_grad"),
    Exercise("6.1", "leapfrog_mine", check_leapfrog, "the package's aevb_np.hmc.leapfrog"),
    Exercise("6.2", "appendix_d_estimate", check_appendix_d_estimator, "the package's aevb_np.marginal.appendix_d_log_px"),
    Exercise("7.1", "full_vb_bound", check_full_vb_bound, "the package's aevb_np.full_vb estimator"),
    Exercise("7.2", "theta_backward_mine", check_theta_backward, "the package's aevb_np.full_vb.theta_backward"),
)}


def _exercise(number: str) -> Exercise:
    if number not in EXERCISES:
        raise KeyError(f"no exercise {number!r}; the exercises are {', '.join(EXERCISES)}")
    return EXERCISES[number]


def check(number: str, fn, seed: int | None = None) -> None:
    """A notebook's check cell: grade ``fn`` for exercise ``number`` and print the verdict.

    Parameters
    ----------
    number : str
        The exercise, "2.1".
    fn : callable
        The student's function.
    seed : int, optional
        None for the notebook's fixed inputs.

    Returns
    -------
    None
        Nothing is raised for a wrong or missing answer: the printed line says what is
        wrong and that the notebook goes on with the package's function (nothing is
        returned, so a check cell shows the verdict alone).

    Raises
    ------
    KeyError
        No exercise of that number.
    """
    e = _exercise(number)
    verdict(number, lambda: e.grader(fn, seed=seed), e.fallback)


def grade(number: str, fn, seed: int) -> tuple[bool, str]:
    """Grade ``fn`` for exercise ``number`` on inputs drawn from ``seed``: (passed, one-line verdict).

    Parameters
    ----------
    number : str
        The exercise, "2.1".
    fn : callable
        The student's function.
    seed : int
        Drawn by the grading run, so hard-coded outputs fail.

    Returns
    -------
    (bool, str)
        Whether it passed, and the grader's message (what passed, or what is wrong).

    Raises
    ------
    KeyError
        No exercise of that number.
    """
    e = _exercise(number)
    try:
        return True, e.grader(fn, seed=seed)
    except ExerciseError as err:
        return False, str(err)
    except Exception as err:  # a strange answer that a grader did not foresee is a failed answer
        return False, f"Exercise {number}: could not grade the answer ({type(err).__name__}: {err})"


# EXERCISES is left out of __all__: the API pages would print the whole registry as its value.
__all__ = ["Exercise", "ExerciseError", "check", "grade"] + sorted(
    e.grader.__name__ for e in EXERCISES.values())
