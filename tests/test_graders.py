"""Every grader can fail: wrong answers are rejected with a message that says what is wrong.

For each of the sixteen exercises: the usual slip is rejected and named; the notebook's own
solution, perturbed by one part in a thousand (a consistent, plausible wrong answer), is
rejected; and with the package's reference computation perturbed, the *correct* solution is
rejected — so the reference comes from the package, not from the student's function (a
grader that compared the student's answer with itself would pass the perturbed answer and
would not notice the perturbed reference).  Then the three gaps of issue 24: N // M, a
float32 answer, the package's own function handed in; and what a student sees: no reference
value, no grader source, no traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from aevb_np import distributions as dist
from aevb_np import exercises
from aevb_np import full_vb
from aevb_np import linear_gaussian as lg
from aevb_np.course.graders import gradients, marginal_likelihood, sampling, training
from aevb_np.course.student import source

REPO = Path(__file__).resolve().parents[1]
EPS_REL = 1e-3


def _solutions() -> dict:
    """The notebooks' own solved functions, by exercise number."""
    found = {}
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for ex in exercises.find_exercises(nb):
            namespace = {"np": np}
            exec(compile(source(nb["cells"][ex["cell"]]), f"exercise {ex['number']}", "exec"), namespace)
            found[ex["number"]] = namespace[exercises.EXERCISES[ex["number"]].function]
    return found


SOLUTIONS = _solutions()
NUMBERS = sorted(exercises.EXERCISES)


def _grade(number, fn, seed=None) -> str:
    """The grader's message for ``fn``: it must fail."""
    with pytest.raises(exercises.ExerciseError) as info:
        exercises.EXERCISES[number].grader(fn, seed=seed)
    message = str(info.value)
    assert message.startswith(f"Exercise {number}: "), message
    return message


def _scaled(value, factor):
    if isinstance(value, (tuple, list)):
        return type(value)(_scaled(v, factor) for v in value)
    return np.asarray(value) * factor if isinstance(value, np.ndarray) else value * factor


def _perturbed(fn, factor=1 + EPS_REL):
    return lambda *args: _scaled(fn(*args), factor)


# --------------------------------------------------------------------------- the usual slips


def _sigma(lv):
    return np.exp(0.5 * lv)


def _leapfrog_full_steps(z, r, g, h, n, f):
    r = r + h * g
    for _ in range(n):
        z = z + h * r
        g = f(z)[1]
        r = r + h * g
    return z, r, g


def _leapfrog_euler(z, r, g, h, n, f):
    for _ in range(n):
        z, r = z + h * r, r + h * g
        g = f(z)[1]
    return z, r, g


def _appendix_d_log_sum(log_q, log_joint):
    from scipy.special import logsumexp
    return -logsumexp(log_q - log_joint, axis=0)


def _estimator_a_no_half(ll, z, eps, lv):
    log_pz = -0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=-1)
    log_qz = -np.sum(eps**2 + lv + np.log(2 * np.pi), axis=-1)
    return np.mean(ll + log_pz - log_qz, axis=0)


def _adagrad_integer_division(theta, grad, G, lr, N, M):
    d = (N // M) * grad - theta
    return theta + lr * d / np.sqrt(G + d * d), G + d * d


SLIPS = {
    "1.1": (lambda mu, lv, eps: mu + np.exp(lv) * eps, r"z is wrong at entry .*scaling eps by the variance"),
    "1.2": (lambda df, mu, lv, eps: (np.array([np.sum(df(mu + _sigma(lv) * eps))]),
                                      np.array([np.sum(df(mu + _sigma(lv) * eps) * 0.5 * _sigma(lv) * eps)])),
            r"dmu is wrong .*summing over the samples instead of averaging"),
    "2.1": (lambda mu, lv: np.sum(1 + lv - mu**2 - np.exp(lv), axis=-1), r"neg_kl is wrong at entry .*leaving out the ½"),
    "2.2": (lambda mu, lv: (-mu, 1 - np.exp(lv)), r"dlog_var is wrong at entry .*the ½ left out"),
    "2.3": (_estimator_a_no_half, r"elbo is wrong at entry .*log q without its ½"),
    "3.1": (lambda dh, h: dh * (1 - h), r"da is wrong at entry .*the square left out"),
    "3.2": (lambda dz, mu, lv, eps: (dz.sum(0), np.sum(dz * 0.5 * _sigma(lv) * eps, axis=0)),
            r"dmu is wrong at entry .*the reconstruction path alone"),
    "3.3": (lambda dmu, dlv, h, W4, W5: (dmu @ W4, dmu.T @ h, dmu.sum(0), dlv.T @ h, dlv.sum(0)),
            r"dh is wrong at entry .*log_var head's share of the fan-in left out"),
    "4.1": (_adagrad_integer_division, r"G after step 1 is wrong .*N // M \(integer division\)"),
    "4.2": (lambda elbo, N: N // elbo.shape[0] * elbo.sum(), r"estimate is wrong .*N // M \(integer division\)"),
    "5.1": (lambda x, mu, lv: -0.5 * np.sum(lv + (x - mu) ** 2 * np.exp(-lv), axis=-1),
            r"log_lik is wrong at entry .*leaving out the log 2π term"),
    "5.2": (lambda x, mu, lv: ((x - mu) * np.exp(-lv), 0.5 * ((x - mu) ** 2 * np.exp(-2 * lv) - np.exp(-lv))),
            r"dlog_var is wrong at entry .*with respect to σ² instead of log σ²"),
    "6.1": (_leapfrog_full_steps, r"z \(end position\) is wrong .*full momentum steps at both ends"),
    "6.2": (_appendix_d_log_sum, r"log_px with the exact posterior as q is wrong"),
    "7.1": (lambda ll, N, nk: N // ll.shape[0] * ll.sum() + nk, r"estimate is wrong .*N // M \(integer division\)"),
    "7.2": (lambda mu, lv, zeta, dth, w: (dth, 0.5 * _sigma(lv) * zeta * dth),
            r"dmu is wrong at entry .*the reparameterization path alone"),
}


def test_every_exercise_has_a_slip_below():
    assert sorted(SLIPS) == NUMBERS


@pytest.mark.parametrize("number", NUMBERS)
def test_the_usual_slip_is_rejected_and_named(number):
    fn, pattern = SLIPS[number]
    message = _grade(number, fn)
    assert re.search(pattern, message), message
    assert re.search(r"relative error [0-9.e+-]+ \(tolerance ", message), message


@pytest.mark.parametrize("number", NUMBERS)
def test_the_solution_passes_and_the_solution_off_by_one_part_in_a_thousand_does_not(number):
    solution = SOLUTIONS[number]
    assert exercises.EXERCISES[number].grader(solution).startswith(f"Exercise {number} passed")
    message = _grade(number, _perturbed(solution))
    assert " is wrong " in message or "standard errors" in message, message


@pytest.mark.parametrize("number", NUMBERS)
def test_fresh_inputs_pass_the_solution_and_reject_a_copy_of_the_notebook_inputs_answer(number):
    """A grading seed draws other inputs: the solution passes, a recorded answer does not."""
    solution = SOLUTIONS[number]
    assert exercises.EXERCISES[number].grader(solution, seed=12345).startswith(f"Exercise {number} passed")
    recorded = []

    def record(*args):  # the first few answers on the notebook's inputs are enough to replay
        if len(recorded) == 5:
            raise RuntimeError("recorded enough")
        recorded.append(solution(*args))
        return recorded[-1]

    try:
        exercises.EXERCISES[number].grader(record)
    except exercises.ExerciseError as e:
        assert "recorded enough" in str(e)
    replay = iter(recorded)
    _grade(number, lambda *a: next(replay), seed=12345)


def test_the_two_usual_leapfrog_slips_are_told_apart():
    assert "full momentum steps at both ends" in _grade("6.1", _leapfrog_full_steps)
    assert "Euler's method instead of leapfrog" in _grade("6.1", _leapfrog_euler)


def test_an_appendix_d_estimate_that_overflows_is_told_to_use_logsumexp():
    def naive(log_q, log_joint):
        with np.errstate(over="ignore", divide="ignore"):
            return -np.log(np.mean(np.exp(log_q - log_joint), axis=0))
    assert "logsumexp" in _grade("6.2", naive)


def test_the_full_vb_bound_with_the_kl_scaled_too_is_named():
    assert "scaling on the KL as well" in _grade("7.1", lambda ll, N, nk: N / ll.shape[0] * (ll.sum() + nk))


# --------------------------------------------------------------------------- the reference is the package's


def _off(f, delta=EPS_REL):
    """``f`` with every output moved by ``delta`` relative."""
    return lambda *a, **k: _scaled(f(*a, **k), 1 + delta)


class _OffAdagrad(training.Adagrad):
    def step(self, params, grads):
        super().step(params, grads)
        for group in params.values():
            for a in group.values():
                a *= 1 + EPS_REL


# exercise -> (object, attribute) whose value the grader's reference is computed from
REFERENCES = {
    "1.1": (sampling, "gaussian_sample"),
    "1.2": (sampling, "gaussian_sample_backward"),
    "2.1": (dist, "neg_kl_standard_normal"),
    "2.2": (sampling, "numerical_gradient"),
    "2.3": (dist, "log_standard_normal"),
    "3.1": (gradients, "numerical_gradient"),
    "3.2": (gradients, "numerical_gradient"),
    "3.3": (gradients, "numerical_gradient"),
    "4.1": (training, "Adagrad"),
    "5.1": (dist, "log_normal_diag"),
    "5.2": (gradients, "numerical_gradient"),
    "6.1": (marginal_likelihood.hmc, "leapfrog"),
    "6.2": (lg, "log_marginal"),
    "7.1": (full_vb, "linreg_elbo"),
    "7.2": (training, "numerical_gradient"),
}


@pytest.mark.parametrize("number", sorted(REFERENCES))
def test_with_the_packages_reference_moved_the_correct_solution_fails(number, monkeypatch):
    owner, name = REFERENCES[number]
    original = getattr(owner, name)
    if number == "4.1":
        replacement = _OffAdagrad
    elif number == "7.1":  # a Monte Carlo comparison: move the exact bound by many standard errors
        replacement = lambda *a: original(*a) + 10.0  # noqa: E731
    else:
        replacement = _off(original)
    monkeypatch.setattr(owner, name, replacement)
    _grade(number, SOLUTIONS[number])


def test_the_minibatch_estimate_is_held_to_the_data_not_to_the_answer():
    """4.2 has no package function: its references are (N/M) Σ of the grader's own batch and the data's sum."""
    biased = lambda elbo, N: N / elbo.shape[0] * elbo.sum() + 5.0  # noqa: E731
    assert "estimate is wrong" in _grade("4.2", biased)


# --------------------------------------------------------------------------- issue 24's three gaps


@pytest.mark.parametrize("number", ["4.1", "4.2", "7.1"])
def test_integer_division_n_over_m_fails(number):
    assert "N // M (integer division)" in _grade(number, SLIPS[number][0])


def test_a_correct_float32_answer_passes_and_a_wrong_one_fails():
    def kl32(mu, lv):
        mu, lv = mu.astype(np.float32), lv.astype(np.float32)
        return np.float32(0.5) * np.sum(1 + lv - mu**2 - np.exp(lv), axis=-1)

    assert exercises.check_neg_kl(kl32).startswith("Exercise 2.1 passed")
    wrong = lambda mu, lv: kl32(mu, lv) * np.float32(1.001)  # noqa: E731
    assert "tolerance 8e-06" in _grade("2.1", wrong)
    flipped = lambda mu, lv: -kl32(mu, lv)  # noqa: E731
    assert "the sign flipped" in _grade("2.1", flipped)
    assert "float16; return float64 (or float32)" in _grade("2.1", lambda mu, lv: kl32(mu, lv).astype(np.float16))


def test_the_packages_own_function_is_refused_however_it_is_handed_in():
    from aevb_np.distributions import neg_kl_standard_normal as renamed
    for fn in (dist.neg_kl_standard_normal, renamed, lambda mu, lv: 1.0 * dist.neg_kl_standard_normal(mu, lv)):
        message = _grade("2.1", fn)
        assert "calls the package's own aevb_np.distributions.neg_kl_standard_normal" in message, message
    from aevb_np import hmc, layers
    assert "aevb_np.hmc.leapfrog" in _grade("6.1", hmc.leapfrog)
    assert "aevb_np.layers.tanh_backward" in _grade("3.1", lambda dh, h: layers.tanh_backward(dh, h))


# --------------------------------------------------------------------------- what a student sees


def _printed(number, fn) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert exercises.check(number, fn) is None
    return out.getvalue()


def test_a_wrong_answer_prints_two_lines_without_the_reference_value_or_expression():
    # 4.2 handed in as the minibatch sum: the reference is (N/M) Σ, which must not show
    r = np.random.default_rng(401)
    values = r.normal(-100.0, 15.0, size=60)
    batch = values[r.choice(60, 7, replace=False)]
    text = _printed("4.2", lambda elbo, N: elbo.sum())
    assert text.startswith("✗ not yet — Exercise 4.2: estimate is wrong"), text
    assert len(text.strip().splitlines()) == 2
    for secret in (f"{60 / 7 * batch.sum():.6g}", f"{60 / 7 * batch.sum():.1f}", "N / M *", "batch.sum()", "Traceback"):
        assert secret not in text, (secret, text)


def test_an_exception_in_the_students_code_names_their_line_not_the_graders():
    def broken(mu, lv):
        total = mu @ lv  # shapes (6, 3) @ (6, 3): a student's bug
        return total
    text = _printed("2.1", broken)
    assert "your function raised ValueError" in text and "`total = mu @ lv" in text, text
    assert "Traceback" not in text and "verdict.py" not in text and "sampling.py" not in text


def test_a_raised_exercise_error_renders_in_ipython_as_one_line_without_the_graders_source(capsys):
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    shell.user_ns.update({"exercises": exercises, "np": np})
    shell.run_cell("exercises.check_neg_kl(lambda mu, lv: np.zeros(6))")
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "✗ Exercise 2.1: neg_kl is wrong at entry" in text, text
    assert "Traceback" not in text and "def check_neg_kl" not in text and "compare(" not in text, text
