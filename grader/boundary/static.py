"""Reading the submitted source on the trusted side: delegation and tampering, without running it.

What the kernel reports about the code it ran is untrusted; the notebook's text is not (the
grader holds it). Two questions are answered from the text alone:

- `delegation(source, name, forbidden, reference)`: does the exercise `name` (every binding of it
  in the notebook: `def`, `class`, assignments, imports) reach a ready-made implementation? Names
  are resolved through imports and aliases (`import torch.nn.functional as F`,
  `from ... import ... as x`), the notebook's own helpers are followed, and default arguments,
  `functools.partial(...)`, lambdas and base classes are part of what is read. Strings that spell
  a forbidden name (also when glued together: `"scaled_dot" + "_product_attention"`) count when
  the code reaches `getattr`; `eval`, `exec`, `compile`, `__import__` and `importlib` in the
  exercise are refused outright.
- `tampering(source)`: does the notebook reach into the machinery that runs it (`sys.settrace`,
  `gc`, `ctypes`, `__code__`, `globals()`, `get_ipython()`, ...)? Such a notebook cannot be graded
  as written: what the grader's calls see could differ from the code on the page.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field

# Reaching into the interpreter or the kernel: never needed for the exercises.
TAMPERING_NAMES = {
    "globals", "locals", "vars", "exec", "eval", "compile", "__import__", "get_ipython", "__builtins__",
    "breakpoint",
}
TAMPERING_MODULES = {"gc", "ctypes", "importlib", "inspect", "builtins", "IPython", "ipykernel", "traitlets",
                     "threading", "_thread", "signal", "sys", "os", "subprocess", "multiprocessing", "pickle",
                     "marshal", "types", "dis", "code", "codeop", "atexit", "weakref"}
ALLOWED_MODULE_ATTRS = {("sys", "path"), ("sys", "version"), ("sys", "version_info"), ("sys", "maxsize"), ("sys", "argv"), ("sys", "stdout"), ("sys", "stderr"),
                        ("os", "environ"), ("os", "path"), ("os", "cpu_count"), ("sys", "float_info")}
TAMPERING_ATTRS = {"__code__", "__globals__", "__closure__", "__builtins__", "__subclasses__", "__torch_function__",
                   "__torch_dispatch__", "f_back", "f_globals", "f_locals", "gi_frame", "tb_frame", "__import__",
                   "get_ipython", "settrace", "setprofile", "_getframe", "currentframe"}
ALLOWED_MODULES = {"IPython.display"}
DYNAMIC = {"eval", "exec", "compile", "__import__"}


def python_cells(cells: list[str]) -> list[str]:
    """Code cells as plain Python: IPython magics and shell lines become `pass`."""
    out = []
    for text in cells:
        if text.lstrip().startswith("%%"):
            continue
        lines = []
        for line in text.splitlines():
            stripped = line.lstrip()
            indent = line[: len(line) - len(stripped)]
            lines.append(indent + "pass" if stripped.startswith(("%", "!")) else line)
        out.append("\n".join(lines))
    return out


@dataclass
class Notebook:
    """The top-level bindings of a notebook's code cells, in order."""

    cells: list[str]
    trees: list[ast.Module] = field(default_factory=list)
    bindings: dict[str, list[ast.AST]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        for text in python_cells(self.cells):
            try:
                tree = ast.parse(text)
            except SyntaxError:
                continue  # the kernel could not run it either
            self.trees.append(tree)
            for stmt in tree.body:
                self._bind(stmt)

    def _bind(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.bindings.setdefault(stmt.name, []).append(stmt)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    self.aliases[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    self.aliases[root] = root
                self.bindings.setdefault(alias.asname or alias.name.split(".")[0], []).append(stmt)
        elif isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                local = alias.asname or alias.name
                self.aliases[local] = f"{stmt.module or ''}.{alias.name}".lstrip(".")
                self.bindings.setdefault(local, []).append(stmt)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        self.bindings.setdefault(node.id, []).append(stmt)
        elif isinstance(stmt, (ast.If, ast.With, ast.Try, ast.For, ast.While)):
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.stmt):
                    self._bind(child)
                elif isinstance(child, ast.ExceptHandler):
                    for inner in child.body:
                        self._bind(inner)
            for inner in getattr(stmt, "orelse", []) + getattr(stmt, "finalbody", []):
                self._bind(inner)

    def dotted(self, node: ast.AST) -> str | None:
        """`F.scaled_dot_product_attention` -> "torch.nn.functional.scaled_dot_product_attention"."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        root = self.aliases.get(node.id, node.id)
        return ".".join([root, *reversed(parts)])


def _local_names(node: ast.AST) -> set[str]:
    """Parameters and assigned names inside the functions of `node` (a def, a class or a statement)."""
    names: set[str] = set()
    for fn in ast.walk(node):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = fn.args
            names.update(a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])
            names.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
            for sub in ast.walk(fn):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                    names.add(sub.id)
                elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                    names.update((a.asname or a.name).split(".")[0] for a in sub.names)
                elif isinstance(sub, (ast.Global, ast.Nonlocal)):
                    names.difference_update(sub.names)
    return names


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node


def _glued(node: ast.AST) -> str | None:
    """The value of `"a" + "b" + ...` when every part is a string constant."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _glued(node.left), _glued(node.right)
        if left is not None and right is not None and len(left) + len(right) < 200:
            return left + right
    return None


def _strings(node: ast.AST) -> set[str]:
    """String constants in `node`, with `"a" + "b"` and f-strings of constants glued together."""
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            found.add(sub.value)
        elif isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.Add):
            value = _glued(sub)
            if value is not None:
                found.add(value)
        elif isinstance(sub, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in sub.values):
            found.add("".join(str(v.value) for v in sub.values))
    return found


@functools.lru_cache(maxsize=4)
def _read(cells: tuple[str, ...]) -> Notebook:
    """The notebook's reading, parsed once per submission (every check of it asks; never changed)."""
    return Notebook(list(cells))


def delegation(cells: list[str], name: str, forbidden: list[str], reference: str | None) -> str | None:
    """The forbidden path that the exercise `name` reaches in the notebook's text, or None.

    `forbidden` are dotted paths (`torch.nn.functional.layer_norm`); `reference` is the name of the
    same component in the course library (any `transformer_reference...<reference>` is refused).
    """
    return _delegation(tuple(cells), name, tuple(forbidden), reference)


@functools.lru_cache(maxsize=64)
def _delegation(cells: tuple[str, ...], name: str, forbidden: tuple[str, ...], reference: str | None) -> str | None:
    """`delegation`, read once per submission, exercise and forbidden list (each check of an exercise asks)."""
    nb = _read(cells)
    last_names = {path.rpartition(".")[2]: path for path in forbidden}
    if reference:
        last_names.setdefault(reference, f"the course's reference transformer_reference.{reference}")

    def refused(path: str | None, resolved: bool = True) -> str | None:
        """`path` is dotted; `resolved` when its root is a name the notebook imported."""
        if not path:
            return None
        if path in forbidden:
            return path
        head, _, last = path.rpartition(".")
        if path.split(".")[0] == "transformer_reference":  # earlier components are allowed, this one is not
            return f"the course's reference {path}" if reference and last == reference else None
        if last in last_names and (head or not resolved):
            # torch.<anything>.<forbidden name>, or a method of a tensor / object (`x.softmax(...)`)
            return last_names[last]
        return None

    seen: set[int] = set()

    def read(node: ast.AST) -> str | None:
        if id(node) in seen:
            return None
        seen.add(id(node))
        own = _local_names(node)  # a function's own variables are not the notebook's globals
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                full = alias.name if isinstance(node, ast.Import) else f"{node.module or ''}.{alias.name}".lstrip(".")
                found = refused(full)
                if found:
                    return found
            return None
        strings = _strings(node)
        uses_getattr = False
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                if sub.id in DYNAMIC:
                    return f"{sub.id}() (code built at run time cannot be checked)"
                if sub.id in ("getattr", "attrgetter", "methodcaller"):
                    uses_getattr = True
                if sub.id == "importlib" or nb.aliases.get(sub.id, "").startswith("importlib"):
                    return "importlib (code loaded at run time cannot be checked)"
                if sub.id in own:
                    continue
                path = nb.aliases.get(sub.id)
                found = refused(path)
                if found:
                    return found
                if isinstance(sub.ctx, ast.Load) and sub.id not in nb.aliases:
                    for bound in nb.bindings.get(sub.id, []):
                        found = read(bound)
                        if found:
                            return found
            elif isinstance(sub, ast.Attribute):
                if sub.attr in ("getattr", "attrgetter", "methodcaller"):
                    uses_getattr = True
                dotted = nb.dotted(sub)
                resolved = dotted is not None and isinstance(_root(sub), ast.Name) and _root(sub).id in nb.aliases
                found = refused(dotted if resolved else f"?.{sub.attr}", resolved)
                if found:
                    return found
        if uses_getattr:
            for text in strings:
                if text in last_names:
                    return last_names[text]
        return None

    for binding in nb.bindings.get(name, []):
        found = read(binding)
        if found:
            return found
    return None


def tampering(cells: list[str]) -> str | None:
    """A description of the first place where the notebook reaches into the machinery, or None."""
    nb = _read(tuple(cells))
    for number, tree in enumerate(nb.trees, start=1):
        for node in ast.walk(tree):
            what = None
            if isinstance(node, ast.Name) and node.id in TAMPERING_NAMES:
                what = f"{node.id}"
            elif isinstance(node, ast.Attribute) and node.attr in TAMPERING_ATTRS:
                what = nb.dotted(node) or f".{node.attr}"
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for module in modules:
                    if (module.split(".")[0] in TAMPERING_MODULES and module.split(".")[0] not in ("os", "sys")
                            and module not in ALLOWED_MODULES):
                        what = f"import {module}"
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("os", "sys"):
                    bad = [a.name for a in node.names if (node.module.split(".")[0], a.name) not in ALLOWED_MODULE_ATTRS]
                    if bad:
                        what = f"from {node.module} import {bad[0]}"
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                for target in targets:
                    root = _root(target)
                    if isinstance(target, ast.Attribute) and isinstance(root, ast.Name) and root.id in nb.aliases:
                        what = f"an assignment to {nb.dotted(target)}"
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr")
                  and node.args and isinstance(_root(node.args[0]), ast.Name) and _root(node.args[0]).id in nb.aliases):
                what = f"{node.func.id}() on the module {_root(node.args[0]).id}"
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                root = nb.aliases.get(node.value.id)
                if root in ("sys", "os") and (root, node.attr) not in ALLOWED_MODULE_ATTRS:
                    what = f"{root}.{node.attr}"
            if what:
                line = getattr(node, "lineno", "?")
                return f"`{what}` (code cell {number} of the submitted code, line {line})"
    return None
