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
    an exercise's cell defines (the hidden checks call those objects after the whole notebook ran)."""
    import ast

    import nbformat

    from grader.settings import SOLUTIONS_DIR

    rebound = []
    for path in sorted(SOLUTIONS_DIR.glob("*/*.ipynb")):
        bound: dict[str, list[str]] = {}
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            tree = ast.parse("\n".join(line for line in cell.source.splitlines() if not line.startswith("%")))
            names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
            names |= {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
            names |= {(alias.asname or alias.name).split(".")[0] for node in ast.walk(tree)
                      if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
            for name in names:
                bound.setdefault(name, []).append(cell)
        for name, cells in bound.items():
            exercises = [c for c in cells if c.metadata.get("nbgrader", {}).get("solution")]
            top = [c for c in exercises if any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name
                                               for n in ast.parse(c.source).body)]
            if top and len(cells) > 1:
                rebound.append(f"{path.parent.name}: {name} ({', '.join(c.metadata.get('nbgrader', {}).get('grade_id', 'a demo cell') for c in cells)})")
    assert not rebound, "bound in more than one cell: " + "; ".join(rebound)
