"""The shared machinery of the hidden checks (lib/course_check/common.py), tested directly.

The corpus (tests/test_corpus.py) tests it end to end through real grading; these tests pin the
messages a student reads and the helpers every checks module uses.
"""

from __future__ import annotations

import pytest
import torch

from course_check.common import DelegationError, call, distinct, grade_alone, pure, refuse_delegation


def test_delegation_through_an_unknown_object_names_the_canonical_path():
    # `x.softmax` is reached through an argument, so only its name is known: the message must name
    # torch's softmax, not whichever reference module happens to be registered last.
    def my_softmax(x, dim=-1):
        return x.softmax(dim)

    with pytest.raises(DelegationError) as error:
        refuse_delegation(my_softmax, "softmax", "softmax")
    message = str(error.value)
    assert "`my_softmax` calls torch.softmax" in message and "numpy_reference" not in message


def test_delegation_to_the_course_reference_is_named():
    import transformer_reference

    def attention(q, k, v, mask=None):
        return transformer_reference.scaled_dot_product_attention(q, k, v, mask)

    with pytest.raises(DelegationError, match="the course's reference transformer_reference.scaled_dot_product_attention"):
        refuse_delegation(attention, "attention", "scaled_dot_product_attention")


def test_own_computation_is_not_delegation():
    def my_softmax(x, dim=-1):
        e = torch.exp(x - x.amax(dim=dim, keepdim=True))
        return e / e.sum(dim=dim, keepdim=True)

    refuse_delegation(my_softmax, "softmax", "softmax")  # does not raise


def test_call_turns_an_exception_into_a_sentence():
    def broken(x):
        raise IndexError("index 3 is out of bounds")

    with pytest.raises(AssertionError, match=r"^f\(x of shape \(2,\)\) raised IndexError: index 3 is out of bounds\. Check"):
        call(broken, "f(x of shape (2,))", torch.zeros(2), hint="Check the axis.")

    def unfinished(x):
        raise NotImplementedError

    with pytest.raises(AssertionError, match="write the exercise first"):
        call(unfinished, "f(x)", 1)


def test_pure_refuses_in_place_changes_of_arguments():
    def scale(x, factor):
        x /= factor
        return x

    run = pure(scale, "none", None, ("x", "factor"))
    with pytest.raises(AssertionError, match="scale changed its input `x` in place"):
        run(torch.ones(3), 2.0)

    def scale_copy(x, factor):
        return x / factor

    x = torch.ones(3)
    assert torch.equal(pure(scale_copy, "none", None, ("x", "factor"))(x, 2.0), torch.full((3,), 0.5))
    assert torch.equal(x, torch.ones(3))


def test_grade_alone_swaps_the_notebooks_own_helper_and_restores_it():
    namespace: dict = {"__name__": "__main__"}  # as in a notebook
    exec(  # a "notebook": a helper and an exercise that uses it, defined in the same module
        "def helper(x):\n    return x + 100\n\ndef exercise(x):\n    return helper(x) * 2\n",
        namespace,
    )
    exercise, helper = namespace["exercise"], namespace["helper"]
    with grade_alone(exercise, {"helper": lambda x: x + 1}):
        assert exercise(1) == 4
    assert exercise(1) == 202 and namespace["helper"] is helper


def test_distinct_drops_mistakes_that_look_right_on_this_input():
    expected = torch.tensor([1.0, 2.0])
    mistakes = {"same here": expected.clone(), "different": expected + 1, "not applicable": None}
    assert list(distinct(mistakes, expected)) == ["different"]


def test_a_leaked_generator_seed_tells_nothing_about_the_others():
    """Under the grader's probes a check's generator is seeded by a one-way mix of the secret offset
    and its own seed: two seeds one apart are not one apart, and another secret gives other inputs."""
    from course_check.common import PUBLIC, Probes, seeded, using

    with using(PUBLIC):
        assert seeded(5).initial_seed() == 5  # public inputs are plain, so students can reproduce them
    with using(Probes("hidden", seed_offset=123_456_789, every_case=True)):
        a, b = seeded(5).initial_seed(), seeded(6).initial_seed()
    with using(Probes("hidden", seed_offset=987_654_321, every_case=True)):
        c = seeded(5).initial_seed()
    assert len({a, b, c, 5, 6}) == 5 and abs(a - b) != 1
    assert 123_456_789 + 5 not in (a, b, c)


def test_a_stand_in_lent_for_one_call_cannot_be_kept():
    """grader/sandboxed/kernel_agent.py: a correct helper the checks lend an exercise works during that
    call only; kept and called later (harvested for another exercise's tests) it raises."""
    from grader.sandboxed.kernel_agent import Agent

    def softmax(x, dim=-1):
        return x * 0

    def attention(q):
        kept.append(namespace["softmax"])
        return namespace["softmax"](q)

    softmax.__module__ = "__main__"
    namespace, kept = {"softmax": softmax}, []
    agent = Agent(namespace)
    with agent.swapped(attention, {"softmax": lambda x, dim=-1: torch.softmax(x, dim)}):
        during = attention(torch.zeros(3))
    assert torch.allclose(during, torch.full((3,), 1 / 3))
    assert namespace["softmax"] is softmax  # the notebook's own helper is back
    with pytest.raises(RuntimeError, match="kept and called later"):
        kept[0](torch.zeros(3))
