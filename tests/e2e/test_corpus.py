"""The autograder's own tests: every corpus variant gets the verdict its file promises, every
solution full marks and every blank release 0.

Grades tests/corpus/ (format in tests/corpus/README.md) with tools/corpus.py, through `python -m grader autograde`
in a temporary workspace, in one run, and writes the verdict table to
`workspace/corpus-verdicts.md` (git-ignored) so a reader sees the result at a glance.
"""

import pytest

from grader.intake import find_assignments
from grader.settings import REPO_ROOT, SOLUTIONS_DIR
from tools import corpus

ASSIGNMENTS = find_assignments(SOLUTIONS_DIR)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    verdicts, references, seconds, unstable, blanks = corpus.run(None, workers=2, work_dir=tmp_path_factory.mktemp("corpus"))
    table = corpus.markdown(verdicts, references, seconds, unstable, blanks)
    out = REPO_ROOT / "workspace" / "corpus-verdicts.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table)
    print(table.split("| variant")[0])
    return verdicts, references, unstable, blanks


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_full_marks_and_blank_gets_zero(graded, assignment):
    """Graded by the real pipeline: the fully solved notebook earns every point, the untouched
    release none."""
    _, references, _, blanks = graded
    score, max_score = references[assignment]
    assert max_score > 0 and score == max_score, f"{assignment}: solution scored {score}/{max_score}"
    assert blanks[assignment] == (0, max_score), f"{assignment}: the blank release scored {blanks[assignment]}"


@pytest.mark.parametrize("kind", ["wrong", "correct", "delegates", "cheats"])
def test_every_variant_gets_its_verdict(graded, kind):
    """Wrong ones lose points on their exercise, correct ones keep full marks, delegation and cheating gain nothing."""
    verdicts, _, _, _ = graded
    failures = [f"{v.variant.assignment}/{v.variant.name}: {v.reason} "
                f"(own tests {v.own[0]:g}/{v.own[1]:g}, notebook {v.total[0]:g}/{v.total[1]:g})"
                for v in verdicts if v.variant.verdict == kind and not v.ok]
    assert not failures, "\n".join(failures)


def test_grading_is_deterministic(graded):
    """The same submission graded twice gets identical per-cell scores."""
    _, _, unstable, _ = graded
    assert not unstable, f"grading the same reference twice gave different scores in: {unstable}"
