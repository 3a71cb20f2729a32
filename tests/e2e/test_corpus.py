"""The autograder's own tests: every corpus variant gets the verdict its file promises, every
solution full marks and every blank release 0.

Judges tests/corpus/ (format in tests/corpus/README.md) with tools/corpus.py: every notebook by
the grader's verdict code in-process, a sample of them (every cheat, and per assignment the
reference and one variant, the verdicts taking turns) through `python -m grader autograde` too, which must
agree with the in-process judge cell by cell. The verdict table goes to
`workspace/corpus-verdicts.md` (git-ignored) so a reader sees the result at a glance.
"""

import pytest

from grader.intake import find_assignments
from grader.settings import REPO_ROOT, SOLUTIONS_DIR
from tools import corpus

ASSIGNMENTS = find_assignments(SOLUTIONS_DIR)


@pytest.fixture(scope="module")
def judged(tmp_path_factory) -> corpus.Result:
    result = corpus.run(None, workers=2, work_dir=tmp_path_factory.mktemp("corpus"))
    table = corpus.markdown(result)
    out = REPO_ROOT / "workspace" / "corpus-verdicts.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table)
    print(table.split("| variant")[0])
    return result


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_full_marks_and_blank_gets_zero(judged, assignment):
    """The fully solved notebook earns every point, the untouched release none."""
    score, max_score = judged.references[assignment]
    assert max_score > 0 and score == max_score, f"{assignment}: solution scored {score}/{max_score}"
    assert judged.blanks[assignment] == (0, max_score), f"{assignment}: the blank release scored {judged.blanks[assignment]}"


@pytest.mark.parametrize("kind", ["wrong", "correct", "delegates", "review", "cheats"])
def test_every_variant_gets_its_verdict(judged, kind):
    """Wrong ones lose points on their exercise, correct ones keep full marks, delegation and cheating gain nothing."""
    failures = [f"{v.variant.assignment}/{v.variant.name}: {v.reason} (own tests {v.own[0]:g}/{v.own[1]:g}"
                + (f", notebook {v.total[0]:g}/{v.total[1]:g})" if v.total else ")")
                for v in judged.verdicts if v.variant.verdict == kind and not v.ok]
    assert not failures, "\n".join(failures)


def test_grading_is_deterministic(judged):
    """The same submission judged twice gets identical per-cell scores."""
    assert not judged.unstable, f"judging the same reference twice gave different scores in: {judged.unstable}"


def test_kernels_and_in_process_judge_agree(judged):
    """Every sampled honest notebook gets the same per-cell scores through real kernels (sandbox,
    nbgrader, gradebook) as from the in-process judge, so the in-process verdicts stand for the
    real pipeline's."""
    assert judged.in_kernels >= 2 * len(ASSIGNMENTS)
    assert not judged.disagreements, "\n".join(judged.disagreements)
