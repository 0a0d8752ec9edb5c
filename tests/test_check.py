"""`python -m aevb_np.check`: the row set, the selection flags, the width, and that every row can fail.

For every row of the report a planted error (a wrong constant, a dropped term, a sign) in the
quantity that row checks makes that row fail and the exit code 1, while the other rows of the
selection still pass (issue 26); a coverage test fails if a row has no planted error.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pytest

from aevb_np import algorithms, bounds, marginal, model
from aevb_np import distributions as dist
from aevb_np import full_vb as fv
from aevb_np import linear_gaussian as lg
from aevb_np.course import check, check_rows

REPO = Path(__file__).resolve().parents[1]
HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


@pytest.fixture(scope="module")
def report() -> list[check_rows.Row]:
    """The whole report, computed once for the module."""
    return check.run()


@pytest.fixture(scope="module")
def selector_of(report) -> dict[str, list[str]]:
    """Row name -> the command-line flags that select its group, e.g. ``["--appendix", "C"]``."""
    out = {}
    for c in check_rows.CHECKS:
        for row in c.run() if c.key in ("C", "10", "6", "7", "3") else []:
            out[row.name] = [f"--{c.kind}", c.key]
    # the slower groups: their names from the module-wide report, by label
    for row in report:
        if row.name not in out:
            group = row.name.split(".")[0]
            out[row.name] = {"eq8": ["--equation", "8"], "B": ["--appendix", "B"], "D": ["--appendix", "D"],
                             "F": ["--appendix", "F"]}[group]
    return out


# -- the report as a whole ------------------------------------------------------------------------


def test_every_row_passes_and_has_a_unique_name(report):
    assert all(r.passed for r in report), [(r.name, r.error) for r in report if not r.passed]
    names = [r.name for r in report]
    assert len(set(names)) == len(names) == 42 and all(names)


def test_appendix_c_rows_label_the_encoder_c2_and_the_bernoulli_decoder_c1(report):
    rows = [r for r in report if r.name.startswith("C.")]
    encoder = {f"∂L̃/∂{n}" for n in ("W3", "b3", "W4", "b4", "W5", "b5")}
    labels = {(r.where, r.name.split(".")[1], r.name.split(".")[2], r.compared.split(" ")[0]) for r in rows}
    expected = ({("App. C.2", d, "phi", n) for d in ("bernoulli", "gaussian") for n in encoder}
                | {("App. C.1", "bernoulli", "theta", f"∂L̃/∂{n}") for n in ("W1", "b1", "W2", "b2")}
                | {("App. C.2", "gaussian", "theta", n) for n in encoder})  # the Gaussian decoder's W3..b5
    assert labels == expected
    assert len(rows) == 10 + 12
    assert all("Gaussian MLP encoder" in r.compared for r in rows if ".phi." in r.name)
    assert all(r.passed and r.error < 1e-7 for r in rows)


def test_the_full_report_covers_every_equation_and_appendix_the_issue_names():
    labels = {c.kind + " " + c.key for c in check_rows.CHECKS}
    assert labels == {"equation 3", "equation 6", "equation 7", "equation 8", "equation 10",
                      "appendix B", "appendix C", "appendix D", "appendix F"}


def test_selecting_appendix_b_gives_its_three_rows_with_their_units(report):
    rows = check.run(appendices=["B"])
    assert rows == [r for r in report if r.where == "App. B"]  # seeded: the same numbers
    assert [r.unit for r in rows] == ["SE", "relative", "nats"]
    assert rows[1].error < 1e-8


def _display_width(line: str) -> int:
    return sum(not unicodedata.combining(c) for c in line)


@pytest.mark.parametrize("width", [80, 100])
def test_text_report_fits_the_width_and_ends_with_the_units_legend(report, width):
    text = check.format_rows(report, width=width)
    lines = text.splitlines()
    assert max(_display_width(ln) for ln in lines) <= width
    assert "42 of 42 rows pass." in lines
    legend = " ".join(lines[lines.index("42 of 42 rows pass.") + 2:])
    for unit in ('"rel." is a relative error', '"nats" is the largest absolute difference', '"SE" is'):
        assert unit in legend
    # every error names its unit, so the legend explains every cell
    errors = [r for r in report]
    assert sum(" rel. " in ln for ln in lines) == sum(r.unit == "relative" for r in errors)


def test_cli_at_columns_80_prints_no_line_wider_than_80():
    out = subprocess.run([sys.executable, "-m", "aevb_np.check", "--appendix", "B", "--appendix", "D"], cwd=REPO,
                         capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "COLUMNS": "80"})
    assert out.returncode == 0, out.stderr
    assert max(_display_width(ln) for ln in out.stdout.splitlines()) <= 80
    assert out.stdout.splitlines()[-1].startswith("(seeded; ") and "Units of the error column" in out.stdout


def test_cli_selects_equation_10_prints_markdown_and_exits_0():
    out = subprocess.run([sys.executable, "-m", "aevb_np.check", "--equation", "10", "--format", "markdown"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "| equation | compared | error | tolerance | result |"
    body = [ln for ln in lines[2:] if ln.startswith("|")]
    assert len(body) == 1 and body[0].startswith("| Eq. (10) |") and body[0].endswith("| pass |")
    assert "1 of 1 rows pass." in out.stdout and check.LEGEND in out.stdout


def test_cli_rejects_an_unknown_appendix():
    out = subprocess.run([sys.executable, "-m", "aevb_np.check", "--appendix", "Z"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_run_rejects_an_unknown_equation():
    with pytest.raises(ValueError, match="no rows for equation 99"):
        check.run(equations=["99"])


def test_text_report_wraps_a_word_longer_than_the_column_at_the_column():
    word = "x" * 100
    text = check.format_rows([check_rows.Row("Eq. (1)", word + " tail", 0.0, 1.0, "nats")], width=80)
    lines = text.splitlines()
    column = len(lines[1].split()[1])  # the dashes under "compared"
    chunks = [line[10:10 + column].strip() for line in lines[2:lines.index("")]]
    # the 100-character word is cut at the column's width; "tail" follows it on the last line
    assert chunks[0] == "x" * column and chunks[-1].endswith(" tail"), text
    assert "".join(chunks) == word + " tail" and column < 100


def test_text_report_wraps_a_dotted_name_after_an_underscore():
    name = "(distributions.neg_kl_standard_normal_grad) vs central differences"
    lines = check._wrap(name, 24)
    assert lines[0] == "(distributions.neg_kl_" and all(_display_width(ln) <= 24 for ln in lines)
    assert "".join(lines).replace(" ", "") == name.replace(" ", "")


def test_gradcheck_order_other_than_2_or_4_is_refused():
    from aevb_np.errors import ConfigError
    from aevb_np.gradcheck import numerical_gradient

    x = np.array([0.3])
    assert numerical_gradient(lambda: float(x[0] ** 3), x, order=2)[0] == pytest.approx(0.27, abs=1e-5)
    with pytest.raises(ConfigError, match="order must be 2 or 4"):
        numerical_gradient(lambda: float(x[0] ** 3), x, order=3)


# -- planted errors: every row can fail -----------------------------------------------------------


class Plant(NamedTuple):
    """A planted error: what it does, how to plant it, and the rows it must fail (the first is its target)."""

    what: str
    plant: Callable[[pytest.MonkeyPatch], None]
    fails: tuple[str, ...]


def _wrap_value(module, name, change):
    """Plant: ``module.name``'s first return value (or only value) passed through ``change(value, *args)``."""
    good = getattr(module, name)

    def plant(mp):
        def wrong(*args, **kwargs):
            out = good(*args, **kwargs)
            if isinstance(out, tuple):
                return (change(out[0], *args), *out[1:])
            return change(out, *args)
        _setattr_everywhere(mp, module, name, good, wrong)
    return plant


def _scale_grad(module, name, group, array, factor=1.001, when=lambda params: True):
    """Plant: one array of the gradient that ``module.name`` returns multiplied by ``factor``."""
    good = getattr(module, name)

    def plant(mp):
        def wrong(params, *args, **kwargs):
            value, grads = good(params, *args, **kwargs)
            if grads is not None and when(params):
                grads[group][array] = grads[group][array] * factor
            return value, grads
        _setattr_everywhere(mp, module, name, good, wrong)
    return plant


def _setattr_everywhere(mp, module, name, good, wrong):
    """Plant ``wrong`` for ``module.name`` and in every aevb_np module that imported the same
    function by name (a package's submodules call each other directly, issue 23), as a
    single-module namespace would have it."""
    mp.setattr(module, name, wrong)
    for other in list(sys.modules.values()):
        if getattr(other, "__name__", "").startswith("aevb_np") and getattr(other, name, None) is good:
            mp.setattr(other, name, wrong)


def _neg_kl_of(params, x):
    mu, log_var, _ = model.encode(params["phi"], x)
    return dist.neg_kl_standard_normal(mu, log_var)


def _no_grad_scale(mp):
    good = bounds.estimator_B
    mp.setattr(bounds, "estimator_B", lambda *a, grad_scale=1.0, **k: good(*a, **k))


def _n_train_off_by_one(mp):
    good = algorithms.AEVB.__init__
    mp.setattr(algorithms.AEVB, "__init__", lambda self, config, n_x, n_train: good(self, config, n_x, n_train + 1))


def _kl_grad_half_dropped(mp):
    good = dist.neg_kl_standard_normal_grad
    mp.setattr(dist, "neg_kl_standard_normal_grad", lambda mu, lv: (good(mu, lv)[0], 2.0 * good(mu, lv)[1]))


def _elbo_grad_sign(mp):
    good = lg.elbo_grad
    mp.setattr(lg, "elbo_grad", lambda *a: (good(*a)[0], -good(*a)[1]))


def _is_shift(shift):
    return lambda res, *args: dataclasses.replace(res, log_px=res.log_px + shift(res))


def _linreg_kl_over_m(mp):
    good = fv.linreg_estimator
    mp.setattr(fv, "linreg_estimator", lambda params, X, y, zeta, n_train, *a, **k: good(params, X, y, zeta, X.shape[0], *a, **k))


def _decoder(kind):
    return lambda params: (len(params["theta"]) == 4) == (kind == "bernoulli")


PLANTS: dict[str, Plant] = {
    "eq3.bound": Plant("linear_gaussian.elbo without one −½ log 2π",
                       _wrap_value(lg, "elbo", lambda v, *a: v + HALF_LOG_2PI), ("eq3.bound", "eq3.gap")),
    "eq3.grad": Plant("linear_gaussian.elbo_grad: the sign of the log_var gradient", _elbo_grad_sign, ("eq3.grad",)),
    "eq3.gap": Plant("linear_gaussian.log_marginal without its −(D/2) log 2π",
                     _wrap_value(lg, "log_marginal", lambda v, *a: v + 5 * HALF_LOG_2PI), ("eq3.gap",)),
    "eq6.value": Plant("estimator A without one −½ log 2π", _wrap_value(bounds, "estimator_A", lambda v, *a: v + HALF_LOG_2PI),
                       ("eq6.value",)),
    "eq6.grad": Plant("estimator A's ∂/∂θ.W2 0.1 % off", _scale_grad(bounds, "estimator_A", "theta", "W2"), ("eq6.grad",)),
    "eq7.value": Plant("estimator B with −KL counted twice",
                       _wrap_value(bounds, "estimator_B", lambda v, params, x, *a: v + _neg_kl_of(params, x)),
                       ("eq7.value", "eq7.a_vs_b")),
    "eq7.a_vs_b": Plant("estimator A without one −½ log 2π",
                        _wrap_value(bounds, "estimator_A", lambda v, *a: v + HALF_LOG_2PI), ("eq7.a_vs_b",)),
    "eq8.grad_scale": Plant("estimator B ignores grad_scale (N/M forgotten)", _no_grad_scale,
                            ("eq8.grad_scale", "eq8.algorithm_1")),
    "eq8.algorithm_1": Plant("Algorithm 1's N off by one", _n_train_off_by_one, ("eq8.algorithm_1",)),
    "eq10.value": Plant("estimator B with −KL counted twice",
                        _wrap_value(bounds, "estimator_B", lambda v, params, x, *a: v + _neg_kl_of(params, x)),
                        ("eq10.value",)),
    "B.mc": Plant("−KL without its ½", _wrap_value(dist, "neg_kl_standard_normal", lambda v, *a: 2 * v), ("B.mc", "B.grad")),
    "B.grad": Plant("the ½ of ½(1 − σ²) forgotten", _kl_grad_half_dropped, ("B.grad",)),
    "B.prior": Plant("−KL off by a constant 1e-9 nats (an epsilon in a log)",
                     _wrap_value(dist, "neg_kl_standard_normal", lambda v, *a: v + 1e-9), ("B.prior",)),
    "D.harmonic": Plant("the harmonic mean without its 1/L",
                        _wrap_value(marginal, "harmonic_mean_log_px", lambda v, log_q, *a: v + np.log(log_q.shape[0])),
                        ("D.harmonic", "D.estimator")),
    "D.estimator": Plant("Appendix D's estimate 0.1 nats high",
                         _wrap_value(marginal, "appendix_d_log_px_from_target", lambda v, *a: v + 0.1), ("D.estimator",)),
    "D.is_exact": Plant("importance sampling without its 1/K",
                        _wrap_value(marginal, "importance_log_px", _is_shift(lambda res: np.log(res.K))),
                        ("D.is_exact", "D.is_hmc")),
    "D.is_hmc": Plant("IS from the HMC fit 0.1 nats high",
                      _wrap_value(marginal, "hmc_importance_log_px_from_target", _is_shift(lambda res: 0.1)), ("D.is_hmc",)),
    "F.kl": Plant("−KL(q(θ)‖p(θ)) without its ½", _wrap_value(fv, "neg_kl_theta", lambda v, *a: 2 * v),
                  ("F.kl", "F.grad", "F.linreg")),
    "F.grad": Plant("full VB's ∂/∂μ_θ.W1 0.1 % off", _scale_grad(fv, "full_vb_estimator", "theta_mu", "W1"), ("F.grad",)),
    "F.linreg": Plant("the linear-regression estimator's KL divided by M, not N", _linreg_kl_over_m, ("F.linreg",)),
}
for _decoder_kind, _arrays in (("bernoulli", {"phi": ("W3", "b3", "W4", "b4", "W5", "b5"), "theta": ("W1", "b1", "W2", "b2")}),
                               ("gaussian", {"phi": ("W3", "b3", "W4", "b4", "W5", "b5"),
                                             "theta": ("W3", "b3", "W4", "b4", "W5", "b5")})):
    for _group, _names in _arrays.items():
        for _name in _names:
            _row = f"C.{_decoder_kind}.{_group}.{_name}"
            PLANTS[_row] = Plant(f"estimator B's ∂/∂{_group}.{_name} 0.1 % off ({_decoder_kind} decoder)",
                                 _scale_grad(bounds, "estimator_B", _group, _name, when=_decoder(_decoder_kind)), (_row,))


def test_every_row_of_the_report_has_a_planted_error(report):
    names = {r.name for r in report}
    assert names - set(PLANTS) == set(), "rows no planted error shows able to fail"
    assert set(PLANTS) - names == set(), "planted errors for rows the report no longer has"
    assert all(p.fails[0] == name for name, p in PLANTS.items())


@pytest.mark.parametrize("target", sorted(PLANTS))
def test_a_planted_error_fails_its_row_and_the_exit_code_and_no_other(target, selector_of, monkeypatch, capsys):
    plant = PLANTS[target]
    seen: list[check_rows.Row] = []
    good_run = check.run

    def spy(*args, **kwargs):
        seen.extend(good_run(*args, **kwargs))
        return seen

    flags = sorted({tuple(selector_of[name]) for name in plant.fails})
    plant.plant(monkeypatch)
    monkeypatch.setattr(check, "run", spy)
    status = check.main([f for pair in flags for f in pair])
    out = capsys.readouterr().out
    failed = {r.name for r in seen if not r.passed}
    assert status == 1 and "FAIL" in out
    assert failed == set(plant.fails), f"{plant.what}: failed {sorted(failed)}, expected {plant.fails}"
    # the selection's other rows ran and passed (a group may hold only rows the error reaches)
    assert {r.name for r in seen if r.passed} == {r.name for r in seen} - set(plant.fails)


def test_a_realistic_slip_in_the_kl_gradient_fails_exactly_the_arrays_it_reaches(monkeypatch):
    _kl_grad_half_dropped(monkeypatch)
    rows = check.run(appendices=["B", "C"])
    failed = {r.name for r in rows if not r.passed}
    # App. B's gradient row, and in App. C the arrays the log_var gradient reaches: the log_var
    # head (W5, b5) and, through the fan-in at h, the first layer (W3, b3); not the mu head,
    # not the decoder.
    assert failed == {"B.grad"} | {f"C.{d}.phi.{n}" for d in ("bernoulli", "gaussian") for n in ("W3", "b3", "W5", "b5")}
    assert max(r.error for r in rows if r.name == "B.grad") > 1e-2


def test_a_planted_error_in_log_p_z_fails_both_eq6_rows(monkeypatch):
    good = dist.log_standard_normal
    monkeypatch.setattr(dist, "log_standard_normal", lambda z: good(z) + 0.01 * np.sum(z, axis=-1))
    rows = check.run(equations=["6"])
    assert [r.passed for r in rows] == [False, False]
