"""course_check.tutor: what a visible test shows a student (the short form IPython renders through
`_render_traceback_`), and that only the public probes of a test cell speak this way."""

from __future__ import annotations

import pickle

import pytest
import torch

from course_check import attention
from course_check.common import Probes, using
from course_check.tutor import short_form


def softmax(x, dim=-1):
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def unscaled_sdpa(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax(scores, dim=-1)
    return weights @ v, weights


def unwritten(x, dim=-1):
    raise NotImplementedError()


def test_a_named_mistake_comes_first_with_its_details_under_it(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    with pytest.raises(AssertionError) as caught:
        attention.sdpa_values(unscaled_sdpa)
    lines = caught.value._render_traceback_()
    assert lines[0].startswith("✗ unscaled_sdpa: It looks like the scores were not divided by sqrt(d_k)"), lines
    assert "expected" in lines[1] and "course_check" not in "\n".join(lines), lines
    assert lines[-1].strip() == "(full trace: %env COURSE_CHECK_TRACE=full, then %tb)"
    assert len(lines) <= 4
    pickle.loads(pickle.dumps(caught.value))  # still travels like any exception


def test_an_unwritten_exercise_names_the_function_to_write():
    with pytest.raises(AssertionError) as caught:
        attention.softmax_values(unwritten)
    assert caught.value._render_traceback_()[0] == (
        "✗ unwritten is not written yet: write its body under # YOUR CODE HERE, run it, then this test.")


def test_validate_gets_no_hint_it_cannot_use(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    lines = short_form("f", "check", AssertionError("wrong. It looks like the mask is inverted."))
    assert lines == ["✗ f: It looks like the mask is inverted.", "  wrong."]


def test_a_passing_check_prints_one_line(capsys):
    attention.softmax_values(softmax)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("✓ softmax: softmax_values passed"), out


def test_other_probes_stay_silent_and_unchanged(capsys):
    """The grader's hidden checks and `python -m course_check` report on their own."""
    with using(Probes("other", seed_offset=5, every_case=True)):
        attention.softmax_values(softmax)
        with pytest.raises(AssertionError) as caught:
            attention.sdpa_values(unscaled_sdpa)
    assert capsys.readouterr().out == ""
    assert not hasattr(caught.value, "_render_traceback_")
