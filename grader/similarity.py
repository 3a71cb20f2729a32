"""`python -m grader similarity --out OUT`: submissions whose code is alike, per exercise.

For every exercise (a solution cell, by its `grade_id`) of every assignment, each student's cell
is compared with every other student's cell, after removing what the released template already
contained. The output:

- `OUT/pairs.csv`: `assignment,exercise,student_a,student_b,similarity,flagged`, one row per pair
  whose similarity is at least `REPORTED` (0.25), the most alike first; similarity in 0-1,
  flagged `true` when it reaches the threshold (`--threshold`, default `THRESHOLD`);
- `OUT/similarity.html`: per exercise, the clusters of flagged submissions (students linked by
  flagged pairs) and each flagged pair's two codes side by side, the shared statements
  highlighted. One self-contained page, no scripts, works offline.

How code is compared (an `ast` tokeniser and k-gram fingerprints, the idea of MOSS and Dolos):

1. The cell is parsed with Python's `ast` (IPython magics and shell lines dropped first), so
   comments, docstrings, blank lines and formatting never count.
2. Every name the cell itself binds (arguments, variables, its own functions and classes) becomes
   `V`: renaming variables changes nothing. Names it uses without binding them (`torch`, `math`,
   an earlier exercise's `softmax`) and attribute names (`.matmul`, `.masked_fill`) are kept: they
   are the substance of a solution.
3. Each statement becomes its own token sequence (node types, kept names, constants); a compound
   statement (`for`, `if`, `def`) contributes its header, and its body statements their own
   sequences. Fingerprints are the hashes of every k-gram (k = `K` tokens) of each statement,
   or of the whole statement when it is shorter. No k-gram spans two statements, so reordering
   statements changes nothing either.
4. The released template's fingerprints (signature, docstring, `raise NotImplementedError()`) are
   removed, and so are fingerprints that most of the class shares (more than `COMMON` of the
   submissions of that exercise, once there are at least `COMMON_MIN_CLASS`): the obvious way to
   write a line is not evidence of copying (MOSS's `-m`).
5. The similarity of two cells is the Jaccard index of their fingerprint sets, |A ∩ B| / |A ∪ B|.
   A pair where either cell keeps fewer than `MIN_FINGERPRINTS` fingerprints is not judged (a
   three-token answer is the same for everybody who got it right).

Why not copydetect (winnowing over pygments tokens, k-grams across the whole file): the exercises
are 1-30 lines, its tokeniser cannot tell a name the student chose from `torch`, and its k-grams
span statements, so a reordered or renamed line costs a lot. Measured on the test class
(tests/unit/test_similarity.py: three exercises, six independent correct solutions each, two planted
copies renamed, reordered, re-commented and with one added statement): copydetect 0.5.0 at its
defaults (k=25, window 4, template as boilerplate) gave the copies 0.47-0.83 and independent pairs
up to 0.27 (with k=5: copies 0.61-0.87, independent up to 0.81: no threshold separates them);
this tokeniser (k=5) gives the copies 0.94-0.97 and independent pairs at most 0.12.
"""

from __future__ import annotations

import ast
import builtins
import csv
import hashlib
import html
import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader.settings import GraderError

K = 5  # tokens per k-gram
THRESHOLD = 0.6  # a pair at or above this is flagged
REPORTED = 0.25  # pairs below this are left out of pairs.csv
MIN_FINGERPRINTS = 6  # a cell with fewer (after subtraction) is too short to judge
COMMON = 0.5  # fingerprints in more than this share of an exercise's submissions are discounted...
COMMON_MIN_CLASS = 8  # ...once the exercise has at least this many submissions

PAIRS_HEADER = ["assignment", "exercise", "student_a", "student_b", "similarity", "flagged"]
_BUILTINS = frozenset(dir(builtins))


# ---------------------------------------------------------------------------------------------
# Tokens and fingerprints
# ---------------------------------------------------------------------------------------------
@dataclass
class Statement:
    """One statement's tokens and the lines it spans (its body excluded for compound statements)."""

    tokens: list[str]
    first: int
    last: int


def parseable(source: str) -> str:
    """The cell without IPython's line magics and shell escapes, which `ast` cannot read."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _bound_names(tree: ast.AST) -> set[str]:
    """Names the code binds itself: arguments, assignment targets, defs, imports' aliases excluded."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound


def _constant(value) -> str:
    if isinstance(value, str):
        return "S"  # the text of a string (a message, a docstring) is not the solution
    if isinstance(value, float):
        return f"F{value:g}"
    return f"C{value!r}"


def _expression_tokens(node: ast.AST, bound: set[str], out: list[str]) -> None:
    """Preorder tokens of an expression (or a statement's header parts), names normalised."""
    if isinstance(node, ast.Name):
        out.append("V" if node.id in bound else f"N:{node.id}")
        return
    if isinstance(node, ast.arg):
        out.append("A")
        return
    if isinstance(node, ast.Constant):
        out.append(_constant(node.value))
        return
    out.append(type(node).__name__)
    if isinstance(node, ast.Attribute):
        _expression_tokens(node.value, bound, out)
        out.append(f".{node.attr}")
        return
    if isinstance(node, ast.keyword):
        out.append(f"kw:{node.arg}")
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.expr_context,)):
            continue
        _expression_tokens(child, bound, out)


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def statements(source: str) -> list[Statement]:
    """The cell's statements as normalised token sequences (module docstring, steps 1-3).

    Raises SyntaxError for code `ast` cannot parse."""
    tree = ast.parse(parseable(source))
    bound = _bound_names(tree)
    found: list[Statement] = []

    def visit(body: Iterable[ast.stmt], depth: int) -> None:
        for node in body:
            if _is_docstring(node) or isinstance(node, ast.Pass):
                continue
            tokens = [f"{type(node).__name__}@{depth}"]
            nested: list[list[ast.stmt]] = []
            for name, value in ast.iter_fields(node):
                if name in ("body", "orelse", "finalbody", "handlers") and isinstance(value, list):
                    nested.append([v for v in value if isinstance(v, ast.stmt)])
                    for handler in value:
                        if isinstance(handler, ast.ExceptHandler):
                            tokens.append("except")
                            if handler.type is not None:
                                _expression_tokens(handler.type, bound, tokens)
                            nested.append(handler.body)
                    continue
                if name == "name" and isinstance(value, str):
                    tokens.append("V")  # a def's or class's own name
                    continue
                if name in ("decorator_list", "bases", "keywords", "targets") or isinstance(value, list):
                    for item in value or []:
                        if isinstance(item, ast.AST):
                            _expression_tokens(item, bound, tokens)
                    continue
                if isinstance(value, ast.AST):
                    _expression_tokens(value, bound, tokens)
                elif isinstance(node, (ast.Import, ast.ImportFrom)) and name == "module":
                    tokens.append(f"M:{value}")
            header_end = node.lineno
            if nested and nested[0]:
                header_end = max(node.lineno, nested[0][0].lineno - 1)
            found.append(Statement(tokens, node.lineno, header_end if nested else (node.end_lineno or node.lineno)))
            for block in nested:
                visit(block, depth + 1)

    visit(tree.body, 0)
    return found


def _hash(tokens: tuple[str, ...]) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(tokens).encode(), digest_size=8).digest(), "big")


def statement_fingerprints(statement: Statement, k: int = K) -> set[int]:
    tokens = tuple(statement.tokens)
    if len(tokens) <= k:
        return {_hash(tokens)}
    return {_hash(tokens[i:i + k]) for i in range(len(tokens) - k + 1)}


def fingerprints(source: str, k: int = K) -> set[int]:
    """Every fingerprint of the cell (module docstring, step 3); raises SyntaxError."""
    return set().union(*(statement_fingerprints(s, k) for s in statements(source)))


def jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


# ---------------------------------------------------------------------------------------------
# A class's submissions
# ---------------------------------------------------------------------------------------------
@dataclass
class Cell:
    student: str
    source: str
    prints: set[int] = field(default_factory=set)  # after subtraction
    unreadable: str = ""  # why it could not be parsed


@dataclass
class Pair:
    assignment: str
    exercise: str
    student_a: str
    student_b: str
    similarity: float
    flagged: bool


@dataclass
class Exercise:
    assignment: str
    exercise: str
    template: str
    cells: list[Cell]
    pairs: list[Pair]
    too_short: list[str]  # students whose cell had too little of their own code to judge
    unreadable: list[Cell]

    def clusters(self) -> list[list[str]]:
        """Groups of students linked by flagged pairs, largest first."""
        parent: dict[str, str] = {}

        def root(s: str) -> str:
            while parent.setdefault(s, s) != s:
                s = parent[s]
            return s

        for pair in self.pairs:
            if pair.flagged:
                parent[root(pair.student_a)] = root(pair.student_b)
        groups: dict[str, list[str]] = defaultdict(list)
        for student in parent:
            groups[root(student)].append(student)
        return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g))


def solution_cells(nb: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> source of each solution cell (the last of duplicated ids, as grading keeps)."""
    found = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") and cell.get("cell_type") == "code":
            found[meta["grade_id"]] = cell.source
    return found


def compare_exercise(assignment: str, exercise: str, template: str, sources: dict[str, str], *,
                     threshold: float = THRESHOLD, k: int = K) -> Exercise:
    """Compare every pair of `sources` (student -> cell source) of one exercise (module docstring)."""
    try:
        base = fingerprints(template, k)
    except SyntaxError:
        base = set()
    cells, unreadable = [], []
    for student, source in sorted(sources.items()):
        cell = Cell(student, source)
        try:
            cell.prints = fingerprints(source, k) - base
        except SyntaxError as error:
            cell.unreadable = f"line {error.lineno}: {error.msg}"
            unreadable.append(cell)
            continue
        if cell.prints:
            cells.append(cell)
    if len(cells) >= COMMON_MIN_CLASS:
        counts = Counter(fp for cell in cells for fp in cell.prints)
        common = {fp for fp, n in counts.items() if n > COMMON * len(cells)}
        for cell in cells:
            cell.prints -= common
    judged = [c for c in cells if len(c.prints) >= MIN_FINGERPRINTS]
    too_short = sorted(c.student for c in cells if len(c.prints) < MIN_FINGERPRINTS)
    pairs = []
    for a, b in itertools.combinations(judged, 2):
        similarity = jaccard(a.prints, b.prints)
        pairs.append(Pair(assignment, exercise, a.student, b.student, round(similarity, 3), similarity >= threshold))
    pairs.sort(key=lambda p: (-p.similarity, p.student_a, p.student_b))
    return Exercise(assignment, exercise, template, judged, pairs, too_short, unreadable)


def read_class(submitted: Path, release: Path) -> dict[tuple[str, str], tuple[str, dict[str, str]]]:
    """(assignment, exercise) -> (template source, {student: cell source}) from nbgrader's layout:
    `submitted/<student>/<A>/<notebook>.ipynb` and the released templates `release/<A>/<notebook>.ipynb`."""
    exercises: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}
    if not release.is_dir():
        raise GraderError(f"{release}: no released notebooks; run `python -m grader autograde` first")
    for template_path in sorted(release.glob("*/*.ipynb")):
        assignment = template_path.parent.name
        template = nbformat.read(template_path, as_version=4)
        for exercise, source in solution_cells(template).items():
            exercises[(assignment, exercise)] = (source, {})
        for path in sorted(submitted.glob(f"*/{assignment}/{template_path.name}")):
            student = path.parent.parent.name
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception:  # not a notebook: autograde lists it; nothing to compare here
                continue
            for exercise, source in solution_cells(nb).items():
                if (assignment, exercise) in exercises:
                    exercises[(assignment, exercise)][1][student] = source
    return exercises


def similarity(submitted: Path, release: Path, *, threshold: float = THRESHOLD) -> list[Exercise]:
    """Every exercise of every assignment compared (see compare_exercise)."""
    if not 0 < threshold <= 1:
        raise GraderError(f"--threshold must be in (0, 1], got {threshold}")
    return [compare_exercise(assignment, exercise, template, sources, threshold=threshold)
            for (assignment, exercise), (template, sources) in read_class(submitted, release).items()]


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------
def write_pairs(path: Path, exercises: list[Exercise]) -> int:
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(PAIRS_HEADER)
        for ex in exercises:
            for p in ex.pairs:
                if p.similarity >= REPORTED or p.flagged:
                    writer.writerow([p.assignment, p.exercise, p.student_a, p.student_b,
                                     f"{p.similarity:.3f}", "true" if p.flagged else "false"])
                    rows += 1
    return rows


def shared_lines(source: str, shared: set[int], k: int = K) -> set[int]:
    """Line numbers (1-based) of statements whose fingerprints are at least half shared."""
    lines: set[int] = set()
    for statement in statements(source):
        prints = statement_fingerprints(statement, k)
        if prints and len(prints & shared) * 2 >= len(prints):
            lines.update(range(statement.first, statement.last + 1))
    return lines


def _code_html(source: str, marked: set[int]) -> str:
    rows = []
    for number, line in enumerate(source.splitlines(), 1):
        cls = ' class="shared"' if number in marked else ""
        rows.append(f"<span{cls}>{html.escape(line) or ' '}</span>")
    return "<pre>" + "\n".join(rows) + "</pre>"


_SLUG = re.compile(r"[^A-Za-z0-9_-]+")

STYLE = """body{font-family:sans-serif;max-width:75em;margin:2em auto;padding:0 1em;line-height:1.4}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em}.pair pre{margin:0;overflow-x:auto;background:#f7f7f7;padding:.5em;font-size:.85em}
pre span{display:block}pre span.shared{background:#ffe08a}h3{margin-top:2em}.muted{color:#666}"""


def similarity_html(exercises: list[Exercise], threshold: float) -> str:
    esc = html.escape
    flagged = [ex for ex in exercises if any(p.flagged for p in ex.pairs)]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>Similar submissions</title>',
             f"<style>{STYLE}</style></head><body>", "<h1>Similar submissions</h1>",
             f"<p>Each exercise's cells are compared pair by pair after removing the released template and the "
             f"lines most of the class writes alike; comments, names of variables and the order of statements do "
             f"not count. A pair at or above {threshold:g} is flagged. Alike is not proof of copying: read the "
             f"two codes (shared statements highlighted) before you act.</p>"]
    parts.append("<h2 id=contents>Contents</h2><table><tr><th>assignment</th><th>exercise</th><th>submissions compared</th>"
                 "<th>flagged pairs</th><th>most alike</th></tr>")
    for ex in exercises:
        slug = _SLUG.sub("-", f"{ex.assignment}-{ex.exercise}")
        n_flagged = sum(p.flagged for p in ex.pairs)
        top = f"{ex.pairs[0].similarity:.2f}" if ex.pairs else "-"
        name = f'<a href="#{slug}">{esc(ex.exercise)}</a>' if n_flagged else esc(ex.exercise)
        parts.append(f"<tr><td>{esc(ex.assignment)}</td><td>{name}</td><td>{len(ex.cells)}</td>"
                     f"<td>{n_flagged}</td><td>{top}</td></tr>")
    parts.append("</table>")
    if not flagged:
        parts.append("<p>No pair of submissions reached the threshold.</p>")
    for ex in flagged:
        slug = _SLUG.sub("-", f"{ex.assignment}-{ex.exercise}")
        parts.append(f'<h2 id="{slug}">{esc(ex.assignment)} · {esc(ex.exercise)}</h2>')
        clusters = ex.clusters()
        parts.append("<p>Clusters (students linked by flagged pairs): "
                     + "; ".join(", ".join(esc(s) for s in c) for c in clusters) + "</p>")
        by_student = {c.student: c for c in ex.cells}
        for p in ex.pairs:
            if not p.flagged:
                break
            a, b = by_student[p.student_a], by_student[p.student_b]
            shared = a.prints & b.prints
            parts.append(f"<h3>{esc(p.student_a)} and {esc(p.student_b)}: similarity {p.similarity:.2f}</h3>"
                         f'<div class="pair"><div><b>{esc(p.student_a)}</b>{_code_html(a.source, shared_lines(a.source, shared))}</div>'
                         f'<div><b>{esc(p.student_b)}</b>{_code_html(b.source, shared_lines(b.source, shared))}</div></div>')
    unreadable = [(ex, c) for ex in exercises for c in ex.unreadable]
    if unreadable:
        parts.append("<h2>Not compared: not valid Python</h2><ul>")
        parts += [f"<li>{esc(c.student)}, {esc(ex.assignment)} · {esc(ex.exercise)}: {esc(c.unreadable)}</li>"
                  for ex, c in unreadable]
        parts.append("</ul>")
    parts.append(f'<p class="muted">Cells too short to judge after removing the template '
                 f"(fewer than {MIN_FINGERPRINTS} fingerprints of their own) are not compared.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_similarity(workspace, out: Path, *, threshold: float = THRESHOLD) -> list[Exercise]:
    """Write OUT/pairs.csv and OUT/similarity.html for the workspace's submissions."""
    if not workspace.step("submitted").is_dir():
        raise GraderError(f"{workspace.step('submitted')}: no submissions; run `python -m grader autograde` first")
    exercises = similarity(workspace.step("submitted"), workspace.step("release"), threshold=threshold)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_pairs(out / "pairs.csv", exercises)
    (out / "similarity.html").write_text(similarity_html(exercises, threshold), encoding="utf-8")
    return exercises
