"""The report's "what the class got wrong": a failure message names its mistake, or a class of failure."""

from __future__ import annotations

from grader.gradebook import REVIEW_PREFIX
from grader.report import DELEGATED, FLAGGED, NOT_WRITTEN, mistake_of
from grader.review import exercise_of


def test_named_mistake_is_read_from_the_checks_words():
    message = ("AssertionError: the weights are not correct: at index (0, 1) it is 0.25, expected 0.31 (difference "
               "0.06). It looks like you did not divide the scores by sqrt(d_k). Scale before the softmax.")
    assert mistake_of(message) == "you did not divide the scores by sqrt(d_k)"


def test_failures_without_a_named_mistake_fall_into_classes():
    assert mistake_of("AssertionError: f(x) raised NotImplementedError: write the exercise first.") == NOT_WRITTEN
    assert mistake_of(f"AssertionError: {REVIEW_PREFIX} the grader cannot read ...") == FLAGGED
    assert mistake_of("AssertionError: `f` calls torch.nn.functional.layer_norm, which does this exercise for you") == DELEGATED
    # Other messages are grouped by their first sentence with the numbers taken out.
    a = mistake_of("AssertionError: out should have shape (2, 3), but it has shape (3, 2). Transpose.")
    b = mistake_of("AssertionError: out should have shape (4, 5), but it has shape (5, 4). Transpose.")
    assert a == b == "other: AssertionError: out should have shape (#, #), but it has shape (#, #)"


def test_test_cells_map_to_the_longest_exercise_name():
    exercises = ["softmax", "softmax_with_temperature", "sample_next_token"]
    assert exercise_of("test_softmax_with_temperature_values", exercises) == "softmax_with_temperature"
    assert exercise_of("test_softmax_dim", exercises) == "softmax"
    assert exercise_of("test_unknown", exercises) == "test_unknown"


def test_review_prefix_is_the_verdicts_own():
    """The queue recognises a flagged test cell by the words the verdicts start it with."""
    from course_check.reading import REVIEW

    assert REVIEW == REVIEW_PREFIX
