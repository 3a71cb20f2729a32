"""The autograder's own tests: every corpus variant gets the verdict its file promises.

Grades tests/corpus/ (format in tests/corpus/README.md) with tools/corpus.py, through `python -m grader autograde`
in a temporary workspace, in one run, and writes the verdict table to
`workspace/corpus-verdicts.md` (git-ignored) so a reader sees the result at a glance.
"""

import pytest

from tools import corpus
from grader.settings import REPO_ROOT


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    verdicts, references, seconds, unstable = corpus.run(None, workers=2, work_dir=tmp_path_factory.mktemp("corpus"))
    table = corpus.markdown(verdicts, references, seconds, unstable)
    out = REPO_ROOT / "workspace" / "corpus-verdicts.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table)
    print(table.split("| variant")[0])
    return verdicts, references, unstable


def test_reference_solutions_keep_full_marks(graded):
    """The fully solved notebook of every assignment in the corpus keeps full marks."""
    _, references, _ = graded
    for assignment, (score, max_score) in references.items():
        assert max_score > 0 and score == max_score, f"{assignment}: reference scored {score}/{max_score}"


@pytest.mark.parametrize("kind", ["wrong", "correct", "delegates", "cheats"])
def test_every_variant_gets_its_verdict(graded, kind):
    """Wrong ones lose points on their exercise, correct ones keep full marks, delegation and cheating gain nothing."""
    verdicts, _, _ = graded
    failures = [f"{v.variant.assignment}/{v.variant.name}: {v.reason} "
                f"(own tests {v.own[0]:g}/{v.own[1]:g}, notebook {v.total[0]:g}/{v.total[1]:g})"
                for v in verdicts if v.variant.verdict == kind and not v.ok]
    assert not failures, "\n".join(failures)


def test_grading_is_deterministic(graded):
    """The same submission graded twice gets identical per-cell scores."""
    _, _, unstable = graded
    assert not unstable, f"grading the same reference twice gave different scores in: {unstable}"
