"""The notebooks' exercises: the solved cells pass their checks, the student version's stubs fail them.

One source holds both versions: the notebooks in ``notebooks/`` carry the solutions between
``### BEGIN SOLUTION`` and ``### END SOLUTION``; ``python -m aevb_np.exercises make-student``
replaces each block by ``raise NotImplementedError("Exercise N.k: ...")``.  Here every exercise
cell and its check cell are run directly (not the whole notebook, which trains models): the
solution must pass, the untouched stub must fail with a message that names the exercise.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aevb_np import exercises

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _all_exercises():
    for path in NOTEBOOKS:
        for ex in exercises.find_exercises(_load(path)):
            yield path, ex


CASES = list(_all_exercises())
IDS = [f"{p.name[:2]}-ex{e['number']}" for p, e in CASES]


def _run(nb: dict, ex: dict) -> str:
    """Execute the exercise cell and its check cell with only numpy and aevb_np.exercises in scope."""
    namespace = {"np": np, "exercises": exercises}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(exercises._source(nb["cells"][ex["cell"]]), f"exercise {ex['number']}", "exec"), namespace)
        exec(compile(exercises._source(nb["cells"][ex["check_cell"]]), f"check {ex['number']}", "exec"), namespace)
    return out.getvalue()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_notebook_has_two_to_four_exercises_numbered_after_it(path):
    found = exercises.find_exercises(_load(path))
    assert 2 <= len(found) <= 4, f"{path.name}: {len(found)} exercises"
    chapter = str(int(path.name[:2]))
    numbers = [e["number"] for e in found]
    assert numbers == [f"{chapter}.{k}" for k in range(1, len(found) + 1)], numbers
    for e in found:
        assert hasattr(exercises, e["grader"]), f"{path.name}: exercises.{e['grader']} does not exist"


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    exercises.make_student(REPO / "notebooks", out)
    return out


@pytest.mark.parametrize("path, ex", CASES, ids=IDS)
def test_solved_exercise_passes_its_check(path, ex):
    printed = _run(_load(path), ex)
    assert printed.startswith(f"Exercise {ex['number']} passed"), printed


@pytest.mark.parametrize("path, ex", CASES, ids=IDS)
def test_student_stub_fails_its_check_with_a_message(path, ex, student_dir):
    student = _load(student_dir / path.name)
    stub = exercises._source(student["cells"][ex["cell"]])
    solved = exercises._source(_load(path)["cells"][ex["cell"]])
    assert exercises.BEGIN not in stub and exercises.END not in stub
    label = f"Exercise {ex['number']}: {ex['title']}"
    assert f"raise NotImplementedError({label!r})" in stub
    # Only the solution block changed: the function's signature and docstring stay.
    assert stub.splitlines()[:2] == solved.splitlines()[:2]
    with pytest.raises(exercises.ExerciseError) as info:
        _run(student, ex)
    message = str(info.value)
    assert message.startswith(f"Exercise {ex['number']}: not written yet"), message


def test_student_notebooks_differ_from_the_solved_ones_only_in_the_solution_blocks(student_dir):
    for path in NOTEBOOKS:
        solved, student = _load(path), _load(student_dir / path.name)
        assert len(solved["cells"]) == len(student["cells"])
        changed = [i for i, (a, b) in enumerate(zip(solved["cells"], student["cells"])) if a["source"] != b["source"]]
        assert changed == [e["cell"] for e in exercises.find_exercises(solved)], path.name


def test_make_student_command_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "aevb_np.exercises", "make-student", str(REPO / "notebooks"),
                          str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    assert "exercises)" in out.stdout


def test_strip_solutions_keeps_indentation_and_rejects_an_unclosed_block():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
    assert exercises.strip_solutions(src, "9.9: f") == "def f(x):\n    raise NotImplementedError('Exercise 9.9: f')\n"
    with pytest.raises(ValueError, match="without"):
        exercises.strip_solutions("    ### BEGIN SOLUTION\n    return 1\n")


# --------------------------------------------------------------------------- what the messages say


def test_kl_without_its_half_is_named():
    with pytest.raises(exercises.ExerciseError, match="leaving out the ½"):
        exercises.check_neg_kl(lambda mu, lv: np.sum(1 + lv - mu**2 - np.exp(lv), axis=-1))


def test_kl_gradient_message_names_the_wrong_array_and_the_error():
    with pytest.raises(exercises.ExerciseError) as info:
        exercises.check_neg_kl_grad(lambda mu, lv: (-mu, 1 - np.exp(lv)))
    msg = str(info.value)
    assert "dlog_var is wrong" in msg and "relative error" in msg and "the ½ left out" in msg


def test_fan_in_without_the_kl_path_is_named():
    def recon_only(dz, mu, lv, eps):
        s = np.exp(0.5 * lv)
        return dz.sum(0), np.sum(dz * 0.5 * s * eps, axis=0)
    with pytest.raises(exercises.ExerciseError, match="dmu is wrong.*KL path's −mu left out"):
        exercises.check_mu_log_var_fan_in(recon_only)


def test_heads_backward_with_one_head_is_named():
    def one_head(dmu, dlv, h, W4, W5):
        return dmu @ W4, dmu.T @ h, dmu.sum(0), dlv.T @ h, dlv.sum(0)
    with pytest.raises(exercises.ExerciseError, match="dh is wrong.*log_var head's share of the fan-in"):
        exercises.check_heads_backward(one_head)


def test_minibatch_estimate_without_n_over_m_is_named():
    with pytest.raises(exercises.ExerciseError, match="N/M left out"):
        exercises.check_minibatch_estimate(lambda elbo, N: elbo.sum())


def test_estimator_a_without_the_half_of_log_q_is_named():
    def no_half(ll, z, eps, lv):
        log_pz = -0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=-1)
        log_qz = -np.sum(eps**2 + lv + np.log(2 * np.pi), axis=-1)
        return np.mean(ll + log_pz - log_qz, axis=0)
    with pytest.raises(exercises.ExerciseError, match="log q without its ½"):
        exercises.check_estimator_A(no_half)


def test_leapfrog_with_full_end_steps_is_named():
    def full_steps(z, r, g, h, n, f):
        r = r + h * g
        for _ in range(n):
            z = z + h * r
            g = f(z)[1]
            r = r + h * g
        return z, r, g
    with pytest.raises(exercises.ExerciseError, match="full momentum steps at both ends"):
        exercises.check_leapfrog(full_steps)


def test_appendix_d_estimator_that_overflows_is_caught():
    def naive(log_q, log_joint):
        with np.errstate(over="ignore", divide="ignore"):
            return -np.log(np.mean(np.exp(log_q - log_joint), axis=0))
    with pytest.raises(exercises.ExerciseError, match="logsumexp"):
        exercises.check_appendix_d_estimator(naive)


def test_full_vb_bound_with_the_kl_scaled_is_named():
    with pytest.raises(exercises.ExerciseError, match="N/M\\) scaling on the KL as well"):
        exercises.check_full_vb_bound(lambda ll, N, nk: N / ll.shape[0] * (ll.sum() + nk))


def test_a_function_that_raises_is_reported_with_its_exception():
    with pytest.raises(exercises.ExerciseError, match="raised ValueError: boom"):
        exercises.check_tanh_backward(lambda dh, h: (_ for _ in ()).throw(ValueError("boom")))
