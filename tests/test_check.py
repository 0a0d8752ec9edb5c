"""`python -m aevb_np.check`: the row set, the selection flags, the exit code, and that it can fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aevb_np import check
from aevb_np import distributions as dist

REPO = Path(__file__).resolve().parents[1]


def test_selecting_appendix_b_gives_its_three_rows_and_all_pass():
    rows = check.run(appendices=["B"])
    assert [r.where for r in rows] == ["App. B"] * 3
    assert all(r.passed for r in rows), [(r.compared, r.error) for r in rows]
    # The Monte Carlo row is measured in standard errors, the gradient row relative to central differences.
    assert [r.unit for r in rows] == ["SE", "relative", "nats"]
    assert rows[1].error < 1e-8


def test_appendix_c_has_one_row_per_parameter_array_of_both_decoders():
    rows = check.run(appendices=["C"])
    names = {(r.where, r.compared.split(" ")[0]) for r in rows}
    encoder = {f"∂L̃/∂{n}" for n in ("W3", "b3", "W4", "b4", "W5", "b5")}
    expected = ({("App. C.1", n) for n in encoder | {"∂L̃/∂W1", "∂L̃/∂b1", "∂L̃/∂W2", "∂L̃/∂b2"}}
                | {("App. C.2", n) for n in encoder})
    assert names == expected
    assert len(rows) == 10 + 12  # the Gaussian decoder's W3..b5 share names with the encoder's
    assert all(r.passed and r.error < 1e-7 for r in rows)


def test_the_full_report_covers_every_equation_and_appendix_the_issue_names():
    labels = {c.kind + " " + c.key for c in check.CHECKS}
    assert labels == {"equation 3", "equation 6", "equation 7", "equation 8", "equation 10",
                      "appendix B", "appendix C", "appendix D", "appendix F"}


def test_cli_selects_equation_10_prints_markdown_and_exits_0():
    out = subprocess.run([sys.executable, "-m", "aevb_np.check", "--equation", "10", "--format", "markdown"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "| equation | compared | error | tolerance | result |"
    body = [ln for ln in lines[2:] if ln.startswith("|")]
    assert len(body) == 1 and body[0].startswith("| Eq. (10) |") and body[0].endswith("| pass |")
    assert "1 of 1 rows pass." in out.stdout


def test_cli_rejects_an_unknown_appendix():
    out = subprocess.run([sys.executable, "-m", "aevb_np.check", "--appendix", "Z"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_run_rejects_an_unknown_equation():
    with pytest.raises(ValueError, match="no rows for equation 99"):
        check.run(equations=["99"])


def test_a_planted_error_in_the_kl_gradient_fails_its_rows_and_the_exit_code(monkeypatch, capsys):
    good = dist.neg_kl_standard_normal_grad

    def wrong(mu, log_var):  # the ½ of ½(1 − σ²) forgotten
        dmu, dlog_var = good(mu, log_var)
        return dmu, 2.0 * dlog_var

    monkeypatch.setattr(dist, "neg_kl_standard_normal_grad", wrong)
    rows = check.run(appendices=["B", "C"])
    failed = {(r.where, r.compared.split(" ")[0]) for r in rows if not r.passed}
    # App. B's gradient row, and in App. C the arrays the log_var gradient reaches: the log_var
    # head (W5, b5) and, through the fan-in at h, the first layer (W3, b3); not the mu head,
    # not the decoder.
    assert ("App. B", "its") in failed
    for where in ("App. C.1", "App. C.2"):
        assert {n for w, n in failed if w == where} == {f"∂L̃/∂{n}" for n in ("W3", "b3", "W5", "b5")}
    bad = next(r for r in rows if r.where == "App. B" and r.unit == "relative")
    assert bad.error > 1e-2
    assert check.main(["--appendix", "B"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_a_planted_error_in_estimator_a_fails_the_eq6_rows(monkeypatch):
    good = dist.log_standard_normal
    monkeypatch.setattr(dist, "log_standard_normal", lambda z: good(z) + 0.01 * np.sum(z, axis=-1))
    rows = check.run(equations=["6"])
    assert [r.passed for r in rows] == [False, False]


def test_text_report_wraps_a_word_longer_than_the_column_at_the_column():
    word = "x" * 100
    text = check.format_rows([check.Row("Eq. (1)", word + " tail", 0.0, 1.0, "nats")])
    lines = text.splitlines()
    body = [line for line in lines[2:] if line.strip() and not line.startswith(("-", "1 of"))]
    # the 100-character word is cut at 96, its last 4 letters and "tail" follow on the next line
    assert body[0].split()[2] == "x" * 96 and body[1].split() == ["xxxx", "tail"], text


def test_gradcheck_order_other_than_2_or_4_is_refused():
    from aevb_np.errors import ConfigError
    from aevb_np.gradcheck import numerical_gradient

    x = np.array([0.3])
    assert numerical_gradient(lambda: float(x[0] ** 3), x, order=2)[0] == pytest.approx(0.27, abs=1e-5)
    with pytest.raises(ConfigError, match="order must be 2 or 4"):
        numerical_gradient(lambda: float(x[0] ** 3), x, order=3)
