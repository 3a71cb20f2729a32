"""course_check.tutor: what a visible test shows a student (the short form IPython renders through
`_render_traceback_`), and that only the public probes of a test cell speak this way."""

from __future__ import annotations

import pickle

import pytest
import torch

from course_check import attention, tutor
from course_check.common import Probes, using
from course_check.tutor import short_form


@pytest.fixture(autouse=True)
def fresh_kernel(monkeypatch):
    """Each test starts as a fresh kernel would: no failure shown yet."""
    monkeypatch.setattr(tutor, "_shown", {})


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


def project_qkv(x, w_q, w_k, w_v):
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


def rendered(check, subject) -> list[str]:
    with pytest.raises(AssertionError) as caught:
        check(subject)
    return caught.value._render_traceback_()


def test_a_mistake_shown_in_full_is_one_line_in_the_next_check(monkeypatch):
    """Validate lists every failing cell: four cells repeating one mistake in full would bury it."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    first = rendered(attention.sdpa_values, unscaled_sdpa)
    assert first[0].startswith("✗ unscaled_sdpa: It looks like the scores were not divided by sqrt(d_k)") and len(first) == 2
    assert rendered(attention.sdpa_batch_dims, unscaled_sdpa) == ["✗ the same mistake as sdpa_values above."]
    assert rendered(attention.sdpa_mask, unscaled_sdpa) == ["✗ the same mistake as sdpa_values above."]
    assert rendered(attention.sdpa_values, unscaled_sdpa) == first  # run again, the check that found it says it all


def test_an_unwritten_exercise_is_named_in_full_once(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    assert rendered(attention.project_qkv_values, project_qkv)[0].startswith("✗ project_qkv is not written yet: write its body")
    assert rendered(attention.project_qkv_batch_dims, project_qkv) == [
        "✗ project_qkv is not written yet (see project_qkv_values above)."]


def test_another_mistake_or_a_fixed_check_is_shown_in_full_again(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")

    def fails(check, mistake):
        error = AssertionError(f"The output is not correct. It looks like {mistake}.")
        tutor.failed(error, unscaled_sdpa, check)
        return error._render_traceback_()

    assert len(fails("a", "the mask was ignored")) == 2
    assert len(fails("b", "the mask is inverted")) == 2  # another mistake: in full
    assert fails("c", "the mask is inverted") == ["✗ the same mistake as b above."]
    tutor.passed(unscaled_sdpa, "b")  # the check that showed it passes now: nothing above to point to
    assert len(fails("c", "the mask is inverted")) == 2
    # a repeat still pickles, and %tb renders it the same way again
    error = AssertionError("The output is not correct. It looks like the mask is inverted.")
    tutor.failed(error, unscaled_sdpa, "d")
    again = pickle.loads(pickle.dumps(error))
    assert again._render_traceback_() == error._render_traceback_() == ["✗ the same mistake as c above."]


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
