"""The corpus of graded variants (tests/corpus/, graded in tests/e2e/test_corpus.py) is well-formed."""

from tools import corpus


def test_corpus_files_are_complete():
    """Every corpus file names its exercise and verdict and says in a sentence what it does."""
    variants = corpus.load_corpus()
    assert variants, "tests/corpus/ holds no variants"
    kinds = {v.verdict for v in variants}
    assert {"wrong", "correct", "delegates", "cheats"} <= kinds


def test_no_cell_rebinds_what_an_exercise_defines():
    """The in-process judge stops a variant after the last test cell it is judged on
    (tools.inprocess.run_variants); that is sound while no other cell of the notebook binds a name
    an exercise's cell defines (the hidden checks call those objects after the whole notebook ran).
    Bindings as the grader reads them (course_check.reading)."""
    import ast

    import nbformat

    from course_check.reading import python_of, read
    from grader.settings import SOLUTIONS_DIR

    rebound = []
    for path in sorted(SOLUTIONS_DIR.glob("*/*.ipynb")):
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        reading = read(tuple(c.source for c in cells))
        defined = {node.name for c in cells if c.metadata.get("nbgrader", {}).get("solution")
                   for node in ast.parse(python_of(c.source)).body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        rebound += [f"{path.parent.name}: {name} ({'; '.join(b.where for b in reading.bindings[name])})"
                    for name in sorted(defined) if len(reading.bindings[name]) > 1]
    assert not rebound, "bound in more than one place: " + ", ".join(rebound)
