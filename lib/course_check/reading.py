"""Reading a notebook's text the way its kernel runs it: what each exercise reaches.

The grader trusts two things only: the submitted text, read completely, and values it computes
itself (ARCHITECTURE.md). This module is the reading. It runs in the grader (on the submitted
notebook) and in the student's kernel (on the cells run so far: the visible checks, Validate and
`python -m course_check` warn in the same words), and needs nothing but the standard library and
IPython.

- Every cell is first turned into the Python its kernel runs, by IPython's own input transformer;
  the bodies of magics that run Python (`%time`, `%%capture`, `%timeit`, ...) are read as code,
  and magics that run code the text does not show (`%run`, `%%script python`, an unknown magic)
  make every exercise *unreadable*.
- `Reading.unreadable(name)`: can the grader tell what the exercise `name` runs? Every top-level
  name it reaches must resolve to a binding the reader understands (`def`, `class`, an import of
  an installed module, a plain assignment). Anything else -- a name bound in a `for`/`with`/`match`
  target or by `:=` at top level, or through `global` from a function; a module-level object that
  the notebook mutates (`table["f"] = ...`, `Cls.forward = ...`, `setattr(...)`); attributes by
  computed name on modules (`getattr(F, name)`); `__dict__`, `__defaults__`, `__closure__`, ...;
  `eval`, `exec`, `globals()`, `runpy`, computed imports -- makes it unreadable. So does code that
  reaches into the grading machinery anywhere in the notebook (`sys.modules` through any chain,
  frames, `gc`'s object lists, `ctypes`, threads, processes and timers that outlive their cell,
  patching library functions).
- `Reading.delegation(name, subject, reference)`: does the exercise hand its subject to a
  ready-made implementation? A subject is a name pattern (`SUBJECTS`): every entry point of
  torch, torch.nn.functional, torch._C, torch.ops.aten, ... whose name says softmax (or norm, or
  attention) is the same operation, however it is reached; so is the course's own reference of
  the component, and any part of `course_check` (its oracles are the answers).

Ordinary Python is never a finding: os, sys.path, inspect, pickle, threading locks, weakref,
`print(globals())`, IPython.display however imported, cudnn flags, `eval` as a parameter name.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib.machinery
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field

# What the name of an operation says it is: the same operation as the exercise's subject. Matched
# against every part of a resolved dotted path but its root (`torch.ops.aten._softmax.default`).
SUBJECTS: dict[str, str | None] = {
    # The softmax, and ready-made operations that compute it: distributions parametrised by logits
    # (`Categorical(logits=x).probs`, `logits_to_probs`) and the cross-entropy (exp(-CE) per class).
    "softmax": r"softmax|softmin|logits_to_probs|Categorical|Multinomial|cross_entropy|CrossEntropy",
    "norm": r"(layer|group|rms|instance|batch|local_response)_?norm",
    # `nn.TransformerDecoderLayer` and the like run attention (and the whole block) ready-made.
    "attention": r"attention|attn|sdpa|scaled_dot_product|transformer",
    "embedding": r"embedding",
    # A causal mask ready-made: `nn.Transformer.generate_square_subsequent_mask`, torch.nn.attention.bias.
    "causal": r"subsequent_mask|causal_(lower|upper)|CausalBias|CausalVariant",
    # A hand-written backward pass: autograd's own differentiation is the ready-made answer
    # (`torch.autograd.grad`, `Tensor.backward`, `.grad`, `torch.func.vjp`, `aten._softmax_backward_data`).
    "backward": r"^(grad|backward|vjp|jvp|vhp|hvp|jacobian|hessian|jacrev|jacfwd)$|(?<!save_for)_backward",
    "sampling": None,
    "none": None,
}
# The course's reference of a component under its other names in transformer_reference (the module
# next to the function, a generalisation): reaching any of them hands the exercise to the course.
# Earlier components stay allowed (multi-head attention may call scaled_dot_product_attention).
SAME_COMPONENT: dict[str, tuple[str, ...]] = {
    "softmax": ("softmax_with_temperature",),  # at temperature 1
    "layer_norm": ("LayerNorm",),
    "add_and_norm": ("ResidualNorm",),
    "sinusoidal_positional_encoding": ("PositionalEncoding",),
    "embedding_lookup": ("TokenEmbedding", "one_hot_embedding"),
    "one_hot_embedding": ("TokenEmbedding", "embedding_lookup"),
}
REVIEW = "Needs your instructor's review:"  # how a flagged verdict starts (report and review read it)

# Python that runs at run time out of the reader's sight, when an exercise reaches it.
DYNAMIC_BUILTINS = {"eval", "exec", "compile", "globals", "locals", "breakpoint"}
OPAQUE_ATTRS = {"__dict__", "__defaults__", "__kwdefaults__", "__globals__", "__closure__", "__code__",
                "__wrapped__", "__self__", "__func__", "__builtins__", "__getattribute__", "__mro__",
                "__bases__", "__subclasses__", "__reduce__", "__reduce_ex__", "__setattr__", "__import__", "__getattr__",
                "getclosurevars"}
# pickle: `pickle.loads(b"...")` rebuilds any object, torch.softmax included, from bytes the reader cannot read.
OPAQUE_MODULES = {"runpy", "importlib", "imp", "pkgutil", "zipimport", "code", "codeop", "marshal", "pickle", "_pickle",
                  "shelve"}
UNPICKLERS = {"torch.load", "torch.serialization.load", "numpy.load", "torch.package.PackageImporter"}
# What an object says about itself, which the grader reads (a module's structure, a class's bases):
# an exercise's class that redefines any of these is read by a person.
SELF_REPORTING = {"__class__", "mro", "__instancecheck__", "__subclasscheck__", "__getattribute__", "__getattr__",
                  "__dir__", "parameters", "named_parameters", "buffers", "named_buffers", "children",
                  "named_children", "modules", "named_modules", "state_dict", "_apply", "__init_subclass__"}
# Methods a class defines because torch calls them (nn.Module, autograd.Function): the name is torch's.
PROTOCOL_METHODS = {"forward", "backward", "setup_context", "jvp", "vjp", "vmap"}
MUTATING_METHODS = {"append", "extend", "insert", "update", "setdefault", "add", "pop", "popitem", "clear",
                    "remove", "discard", "__setitem__", "__setattr__", "__delitem__"}

# Reaching into the grading machinery: (module, attribute) pairs, None for every attribute.
MACHINERY = {
    ("sys", "modules"), ("sys", "meta_path"), ("sys", "path_hooks"), ("sys", "path_importer_cache"),
    ("sys", "settrace"), ("sys", "setprofile"), ("sys", "_getframe"), ("sys", "_current_frames"),
    ("sys", "addaudithook"), ("sys", "monitoring"),
    ("gc", "get_objects"), ("gc", "get_referrers"), ("gc", "get_referents"), ("gc", "callbacks"),
    ("ctypes", None), ("_ctypes", None), ("cffi", None), ("_thread", None),
    ("threading", "Thread"), ("threading", "Timer"), ("threading", "settrace"), ("threading", "setprofile"),
    ("threading", "_start_new_thread"), ("threading", "settrace_all_threads"), ("threading", "setprofile_all_threads"),
    ("concurrent", "futures"), ("multiprocessing", "Process"), ("multiprocessing", "Pool"),
    ("multiprocessing", "get_context"), ("subprocess", "Popen"),
    ("os", "fork"), ("os", "forkpty"), ("os", "kill"), ("os", "killpg"), ("os", "_exit"), ("os", "spawnl"),
    ("os", "spawnv"), ("os", "posix_spawn"), ("os", "execv"), ("os", "execl"), ("os", "execvp"),
    ("signal", "signal"), ("signal", "setitimer"), ("signal", "alarm"), ("signal", "pthread_kill"),
    ("asyncio", "create_task"), ("asyncio", "ensure_future"), ("asyncio", "get_event_loop"),
    ("asyncio", "get_running_loop"), ("asyncio", "run_coroutine_threadsafe"),
    ("inspect", "currentframe"), ("inspect", "stack"), ("inspect", "trace"), ("inspect", "getouterframes"),
    ("inspect", "getinnerframes"), ("builtins", None), ("ipykernel", None), ("traitlets", None),
}
MACHINERY_MODULES = {module for module, _ in MACHINERY} | {"sys", "os", "inspect", "importlib"}
# What `eval("1 + 2")` may contain and still be plain data.
LITERAL_NODES = (ast.Expression, ast.Constant, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Tuple, ast.List,
                 ast.Dict, ast.Set, ast.operator, ast.unaryop, ast.boolop, ast.cmpop, ast.Load)
MACHINERY_NAMES = {"get_ipython", "InteractiveShell", "interactiveshell", "getipython"}
FRAME_ATTRS = {"f_back", "f_globals", "f_locals", "f_builtins", "f_code", "tb_frame", "gi_frame", "cr_frame",
               "ag_frame", "f_trace"}
AGENT_MARK = "_transformer_course"  # the kernel agent's module name starts so (grader/sandboxed/__init__.py)

# Magics: the bodies of these are Python the kernel runs in the notebook's namespace.
CODE_MAGICS = {"time", "timeit", "capture", "prun"}
# These run no Python of the notebook's namespace (or only show things).
QUIET_MAGICS = {"matplotlib", "config", "env", "cd", "pwd", "ls", "who", "whos", "who_ls", "history", "precision",
                "xmode", "pinfo", "pinfo2", "pdoc", "psource", "pdef", "autoreload",
                "pip", "conda", "html", "markdown", "latex", "javascript", "js", "svg", "writefile", "bash", "sh",
                "system", "sx", "magic", "lsmagic", "page", "reset_selective", "colors", "doctest_mode",
                "notebook", "bookmark", "dhist", "dirs", "popd", "pushd", "alias", "unalias", "automagic",
                "autocall", "pprint", "quickref", "tb", "debug", "pdb", "save", "store", "killbgscripts"}
# Magics that load an extension (`load_ipython_extension(shell)` runs): fine for an installed one
# (`%load_ext autoreload`), code out of the text's sight for one the notebook wrote itself. `%aimport`
# imports without a visible binding: an unknown magic, so unreadable.
EXTENSION_MAGICS = {"load_ext", "reload_ext"}
SYSTEM_CALLS = {"system", "getoutput"}  # `!ls`, `x = !ls`: a shell, which cannot touch the namespace


@dataclass(frozen=True)
class Finding:
    """Something the reading found: `kind` is "delegation", "unreadable" or "machinery"."""

    kind: str
    what: str
    where: str

    def message(self, exercise: str) -> str:
        return self._message(exercise) + (
            " (In N: a cell this kernel ran; if you have changed that cell since, restart the kernel and run all.)"
            if self.where.startswith("In ") else "")

    def _message(self, exercise: str) -> str:
        if self.kind == "delegation":
            return (f"`{exercise}` calls {self.what}, which does this exercise for you, so the exercise scores 0. "
                    "Write the computation yourself from basic operations (torch.matmul, torch.softmax, "
                    "indexing, ... are fine unless they are the exercise's own subject).")
        if self.kind == "machinery":
            return (f"{REVIEW} this notebook reaches into the machinery that runs and grades it ({self.what}, "
                    f"{self.where}), so the grader cannot trust what `{exercise}` does. It scores 0 until your "
                    "instructor has looked at it; remove that code if you do not need it.")
        return (f"{REVIEW} the grader cannot read what `{exercise}` runs: {self.what} ({self.where}). It scores 0 "
                "until your instructor has looked at it; written with plain definitions, imports and "
                "assignments, it is graded automatically.")


@dataclass
class _Binding:
    node: ast.AST  # the def, class, import or statement that binds the name (or the opaque construct)
    where: str
    opaque: str | None = None  # why the reader cannot follow it


def python_of(cell: str) -> str:
    """The Python a kernel runs for `cell` (IPython's own transformation of magics and `!`)."""
    return _transformer().transform_cell(cell)


@functools.lru_cache(maxsize=1)
def _transformer():
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


@functools.lru_cache(maxsize=512)
def _installed(module: str) -> bool:
    """Whether `module`'s top package is installed where the reading runs (the grader's environment):
    a built-in module or one on the path, not counting the working folder, where a notebook can write
    a module of its own (`%%writefile grader.py`) that the kernel would import."""
    top = module.split(".")[0]
    if not top or top == "__main__":
        return False
    if top in sys.builtin_module_names:
        return True
    here = os.path.realpath(os.getcwd())
    path = [p for p in sys.path if p and os.path.realpath(p) != here]
    try:
        return importlib.machinery.PathFinder.find_spec(top, path) is not None
    except (ImportError, ValueError):
        return False


def _constant(node: ast.AST | None) -> str | None:
    """A string known from the text: a constant, glued constants or an f-string of constants."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _constant(node.left), _constant(node.right)
        if left is not None and right is not None and len(left) + len(right) < 400:
            return left + right
    if isinstance(node, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in node.values):
        return "".join(str(v.value) for v in node.values)
    return None


def _magic_call(node: ast.AST) -> tuple[str, str, str | None] | None:
    """(kind, name, body) of `get_ipython().run_line_magic(name, line)` and friends, as transformed."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    owner = node.func.value
    if not (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "get_ipython"
            and not owner.args):
        return None
    args = [_constant(a) for a in node.args]
    if node.func.attr == "run_line_magic" and len(args) >= 2 and None not in args[:2]:
        return "line", args[0], args[1]
    if node.func.attr == "run_cell_magic" and len(args) >= 3 and None not in args[:3]:
        return "cell", args[0], args[1] + "\n" + args[2]
    if node.func.attr in SYSTEM_CALLS and args and args[0] is not None:
        return "system", node.func.attr, None
    return None


def _magic_code(kind: str, name: str, body: str) -> str | None:
    """The Python inside a code magic: `%timeit -n 3 f(x)` -> "f(x)"; `%%capture out` -> the cell."""
    if kind == "line":
        return re.sub(r"^(\s*-\w+(\s+(?!-)\S+)?)*\s*", "", body) if name in ("time", "timeit", "prun") else ""
    head, _, cell = body.partition("\n")
    if name in ("timeit", "prun"):
        head = re.sub(r"^(\s*-\w+(\s+(?!-)\S+)?)*\s*", "", head)
        return head + "\n" + cell
    return cell


def _scopes(tree: ast.AST):
    """(function node, its local names, its local aliases) for every function and lambda in `tree`."""
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield fn


def _locals_of(fn: ast.AST) -> tuple[set[str], set[str]]:
    """(local names, names declared `global`) of a function: parameters, assigned names, imports."""
    names: set[str] = set()
    declared: set[str] = set()
    args = fn.args
    names.update(a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])
    names.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
    body = fn.body if isinstance(fn.body, list) else [fn.body]
    for stmt in body:
        for sub in ast.walk(stmt):
            names |= _names_bound_by(sub)
            if isinstance(sub, ast.arg):
                names.add(sub.arg)
            elif isinstance(sub, ast.Global):
                declared.update(sub.names)
            elif isinstance(sub, ast.Nonlocal):
                names.difference_update(sub.names)
    return names - declared, declared


class Reading:
    """The reading of one notebook's code cells (see the module docstring)."""

    def __init__(self, cells: list[str], label: str = "code cell"):
        self.label = label
        self.bindings: dict[str, list[_Binding]] = {}
        self.aliases: dict[str, str] = {}  # a top-level name -> the dotted library path it stands for
        self.star_imports: list[str] = []
        self.written_modules: set[str] = set()  # `%%writefile helpers.py`: modules the notebook writes itself
        self.mutated: dict[str, str] = {}  # a top-level name -> where the notebook changes it
        self.defined_attrs: set[str] = set()  # attribute and method names the notebook itself defines
        self.everything: Finding | None = None  # what makes every exercise unreadable
        self.machinery: Finding | None = None
        self.trees: list[tuple[int, ast.Module]] = []
        self._parents: dict[int, ast.AST] = {}
        # Each cell is read once, and scanned once per set of imports its names resolve to (`_read_cell`,
        # `_scanned_cell`): a kernel's checks read its growing history again and again; a grading
        # process finds the released notebook's cells read already (grader/grading_preload.py).
        parts = [(number, cell, _read_cell(label, number, cell)) for number, cell in enumerate(cells, start=1)]
        for _, _, part in parts:
            self._merge(part)
        for number, cell, part in parts:
            if part.trees:
                names = _names_in(part.trees[0][1])
                self._merge(_scanned_cell(label, number, cell, tuple(sorted(
                    (name, path) for name, path in self.aliases.items() if name in names))))
        # The exercises: what the test cells check (`checks.<check>(<exercise>)`); each is read on its own.
        self.exercises = frozenset(re.findall(r"^checks\.\w+\((\w+)\)", "\n".join(cells), re.M))

    def _merge(self, part: Reading) -> None:
        """Add what one cell's reading (or scan) found, in the order the cells run."""
        for name, bindings in part.bindings.items():
            self.bindings.setdefault(name, []).extend(bindings)
        self.aliases.update(part.aliases)
        self.star_imports += part.star_imports
        self.written_modules |= part.written_modules
        for name, where in part.mutated.items():
            self.mutated.setdefault(name, where)
        self.defined_attrs |= part.defined_attrs
        self.everything = self.everything or part.everything
        self.machinery = self.machinery or part.machinery
        self.trees += part.trees
        self._parents.update(part._parents)

    # -- the text --------------------------------------------------------------------------
    def where(self, number: int, node: ast.AST) -> str:
        return f"{self.label} {number}, line {getattr(node, 'lineno', '?')}"

    def _read(self, number: int, cell: str) -> None:
        try:
            tree = ast.parse(python_of(cell))
        except SyntaxError:
            return  # the kernel cannot run it either
        except Exception:  # the transformer itself failed: the text cannot be read as the kernel reads it
            self._everything("unreadable", "a cell IPython's transformer could not read", f"{self.label} {number}")
            return
        tree = self._expand_magics(number, tree, depth=0)
        self.trees.append((number, tree))
        for stmt in tree.body:
            self._bind(number, stmt)

    def _expand_magics(self, number: int, tree: ast.Module, depth: int) -> ast.Module:
        """Replace each code magic's call by the statements of its body; note magics that hide code."""
        body = []
        for stmt in tree.body:
            magic = _magic_call(stmt.value) if isinstance(stmt, ast.Expr) else None
            if magic is None and isinstance(stmt, ast.Assign):  # `x = !ls`, `t = %timeit -o f()`
                magic = _magic_call(stmt.value)
                if magic is not None:
                    stmt.value = ast.copy_location(ast.Constant(None), stmt.value)  # bound to what the magic gives
                    body.append(stmt)
            if magic is None:
                body.append(stmt)
                continue
            kind, name, text = magic
            if name in ("writefile", "file") and kind == "cell":  # a module of the notebook's own
                target = [w for w in text.partition("\n")[0].split() if not w.startswith("-")]
                if target and target[0].endswith(".py"):
                    self.written_modules.add(os.path.basename(target[0])[:-3])
                continue
            if name in EXTENSION_MAGICS and kind == "line":  # an extension gets the shell itself
                unknown = [m for m in text.split() if not m.startswith("-") and m not in ("autoreload", "storemagic")
                           and not _installed(m)]  # those two are IPython's own (IPython.extensions)
                if unknown:
                    self._everything("unreadable", f"`%{name} {unknown[0]}` loads code the notebook's text does not show",
                                     self.where(number, stmt))
                continue
            if kind == "system" or name in QUIET_MAGICS:
                continue
            if name in CODE_MAGICS and depth < 3:
                try:
                    inner = ast.parse(python_of(_magic_code(kind, name, text)))
                except SyntaxError:
                    continue
                for sub in ast.walk(inner):  # line numbers of the magic's cell
                    if hasattr(sub, "lineno"):
                        sub.lineno += stmt.lineno - 1
                body.extend(self._expand_magics(number, inner, depth + 1).body)
                continue
            sign = "%%" if kind == "cell" else "%"
            self._everything("unreadable", f"`{sign}{name}` runs code the notebook's text does not show",
                             self.where(number, stmt))
        tree.body = body
        return tree

    def _everything(self, kind: str, what: str, where: str) -> None:
        finding = Finding(kind, what, where)
        if kind == "machinery":
            self.machinery = self.machinery or finding
        else:
            self.everything = self.everything or finding

    def _bind(self, number: int, stmt: ast.stmt) -> None:
        where = self.where(number, stmt)
        add = lambda name, opaque=None: self.bindings.setdefault(name, []).append(_Binding(stmt, where, opaque))
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            add(stmt.name)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                local = alias.asname or alias.name.split(".")[0]
                self.aliases[local] = alias.name if alias.asname else local
                add(local)
        elif isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if alias.name == "*":
                    self.star_imports.append(stmt.module or "")
                    continue
                local = alias.asname or alias.name
                self.aliases[local] = f"{stmt.module or ''}.{alias.name}".lstrip(".")
                add(local)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, (ast.Name, ast.Tuple, ast.List, ast.Starred)):
                    for node in ast.walk(target):
                        if isinstance(node, ast.Name):
                            add(node.id)
            self._walrus(number, stmt)
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
            targets = [stmt.target] if isinstance(stmt, (ast.For, ast.AsyncFor)) else [i.optional_vars for i in stmt.items]
            for target in filter(None, targets):
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        add(node.id, f"`{node.id}` is bound by a `{type(stmt).__name__.lower().removeprefix('async')}` "
                                     "statement at the top level")
            self._walrus(number, stmt, body=False)
            for inner in [*stmt.body, *getattr(stmt, "orelse", [])]:
                self._bind(number, inner)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                for node in ast.walk(case.pattern):
                    name = getattr(node, "name", None) or getattr(node, "rest", None)
                    if isinstance(name, str):
                        add(name, f"`{name}` is bound by a `match` pattern at the top level")
                for inner in case.body:
                    self._bind(number, inner)
        elif isinstance(stmt, (ast.If, ast.While, ast.Try)):
            self._walrus(number, stmt, body=False)
            handlers = [h for h in getattr(stmt, "handlers", [])]
            for handler in handlers:
                if handler.name:
                    add(handler.name, f"`{handler.name}` is bound by an `except` clause at the top level")
            for inner in [*stmt.body, *getattr(stmt, "orelse", []), *getattr(stmt, "finalbody", []),
                          *[s for h in handlers for s in h.body]]:
                self._bind(number, inner)
        else:
            self._walrus(number, stmt)

    def _walrus(self, number: int, stmt: ast.stmt, body: bool = True) -> None:
        """`(x := ...)` outside any function binds a top-level name where the reader does not follow it."""
        parts = [stmt] if body else [v for k, v in ast.iter_fields(stmt) if k in ("test", "iter", "items", "subject")]
        parts = [p for part in parts for p in (part if isinstance(part, list) else [part])]
        for part in parts:
            for node in _walk_outside_functions(part):
                if isinstance(node, ast.NamedExpr):
                    self.bindings.setdefault(node.target.id, []).append(
                        _Binding(node, self.where(number, node), f"`{node.target.id}` is bound by `:=` at the top level"))

    # -- what the whole notebook does --------------------------------------------------------
    def _scan(self, number: int, tree: ast.Module) -> None:
        """Mutations of top-level names, names bound through `global`, the notebook's own attribute
        names, and reaching into the machinery, wherever in the notebook they are."""
        local_of = {}
        for fn in _scopes(tree):
            _, declared = _locals_of(fn)
            local_of[id(fn)] = _local_aliases(fn, self)
            for sub in ast.walk(fn):
                for bound in _names_bound_by(sub) & declared:
                    self.bindings.setdefault(bound, []).append(_Binding(
                        sub, self.where(number, sub), f"`{bound}` is bound through `global` inside a function"))
        for node, scope in _walk_with_scope(tree, local_of):
            for child in ast.iter_child_nodes(node):
                self._parents[id(child)] = node
            # A method (a def in a class body) is an attribute the notebook defines; a top-level
            # `def softmax` is not: `x.softmax(dim)` on a tensor is still torch's. Nor is a method that
            # implements torch's protocol (`backward` of an autograd.Function): `y.backward(g)` is autograd.
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and isinstance(
                    self._parents.get(id(node)), ast.ClassDef) and node.name not in PROTOCOL_METHODS:
                self.defined_attrs.add(node.name)
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                self.defined_attrs.add(node.attr)
            if isinstance(node, ast.keyword) and node.arg:
                self.defined_attrs.add(node.arg)
            what = self._reaches_machinery(node, scope)
            if what:
                self._everything("machinery", what, self.where(number, node))
            hidden = self._runs_hidden_code(node, scope)
            if hidden:
                self._everything("unreadable", hidden, self.where(number, node))
            self._note_mutation(number, node, scope)

    def _note_mutation(self, number: int, node: ast.AST, scope) -> None:
        """Note where the notebook changes a top-level object (`table["f"] = ...`, `Cls.forward = ...`,
        `items.append(...)`, `setattr(obj, ...)`) or replaces a library's function."""
        targets, replaces = [], True  # `replaces`: an assignment, not a method call
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            stored = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in stored:
                for part in ast.walk(target) if isinstance(target, (ast.Tuple, ast.List)) else [target]:
                    if isinstance(part, (ast.Attribute, ast.Subscript)):
                        targets.append(part)
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in MUTATING_METHODS:
                targets, replaces = [func.value], False
            elif isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and func.id not in scope and node.args:
                name = _constant(node.args[1]) if len(node.args) > 1 else None
                targets = [ast.Attribute(value=node.args[0], attr=name) if name else node.args[0]]
        where = self.where(number, node)
        for target in targets:
            root, chain = target, []
            while isinstance(root, (ast.Attribute, ast.Subscript, ast.Call)):
                if isinstance(root, ast.Call):
                    if isinstance(root.func, ast.Name) and root.func.id in ("globals", "locals", "vars"):
                        self._everything("unreadable", f"`{root.func.id}()` is changed, which binds names the text "
                                                       "does not show", where)
                    root = root.func
                else:
                    chain.append(getattr(root, "attr", None))
                    root = root.value
            if not isinstance(root, ast.Name) or (root.id in scope and not _alias_in(scope, root.id)):
                continue
            if root.id in self.aliases or _alias_in(scope, root.id):
                # A library's data (a flag, a print option) is the notebook's to set; replacing one of its
                # functions or classes, or its namespace, changes what every call runs.
                path = self._dotted(target, scope) if isinstance(target, ast.Attribute) else None
                if "__dict__" in chain or (replaces and isinstance(target, ast.Attribute) and (not path or _is_code(path))):
                    self._everything("unreadable", f"the notebook replaces {path or 'a library attribute'}", where)
                continue
            self.mutated.setdefault(root.id, where)

    def _reaches_machinery(self, node: ast.AST, scope) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and AGENT_MARK in node.value:
            return "the grader's agent"
        if isinstance(node, ast.Attribute) and node.attr in FRAME_ATTRS:
            return f"`.{node.attr}` (a running frame)"
        if isinstance(node, ast.Name) and node.id in ("get_ipython", "__builtins__") and node.id not in scope:
            return f"`{node.id}`"  # magics were read above; the shell object itself is the machinery
        if isinstance(node, ast.Attribute) and node.attr == "__subclasses__":
            return "`.__subclasses__()` (every class in the kernel, the grader's own included)"
        looked_up = self._namespace_of(node, scope)  # `vars(sys)`, `sys.__dict__`, `getattr(sys, name)`
        if looked_up and looked_up.split(".")[0] in MACHINERY_MODULES:
            return f"the namespace of `{looked_up}`, looked up by computed name"
        paths = []
        if isinstance(node, (ast.Attribute, ast.Name)) and isinstance(getattr(node, "ctx", None), ast.Load):
            if not isinstance(self._parents.get(id(node)), ast.Attribute):  # the longest chain only
                paths.append(self._dotted(node, scope))
        elif isinstance(node, ast.Import):
            paths += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            paths += [f"{node.module or ''}.{a.name}".lstrip(".") for a in node.names]
        elif isinstance(node, ast.Call):
            paths.append(self._call_path(node, scope))
        for path in filter(None, paths):
            if _machinery_path(path):
                return f"`{path}`"
        return None

    def _namespace_of(self, node: ast.AST, scope) -> str | None:
        """The module whose namespace `node` looks into by computed name: `vars(M)`, `M.__dict__`,
        `getattr(M, name)` with a name that is not a constant."""
        if isinstance(node, ast.Attribute) and node.attr == "__dict__":
            return self._dotted(node.value, scope)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in scope and node.args:
            if node.func.id == "vars" or (node.func.id == "getattr" and len(node.args) > 1 and _constant(node.args[1]) is None):
                return self._dotted(node.args[0], scope)
        return None

    def _runs_hidden_code(self, node: ast.AST, scope) -> str | None:
        """`exec(...)`, `eval(...)`, `compile(...)` of anything but a literal: code the text does not show
        (it may bind any name, start anything), wherever in the notebook it is."""
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("exec", "eval", "compile")):
            return None
        if node.func.id in scope or node.func.id in self.bindings:
            return None  # the notebook's own function of that name
        source = _constant(node.args[0]) if node.args else None
        try:
            literal = source is not None and all(isinstance(n, LITERAL_NODES) for n in ast.walk(ast.parse(source, mode="eval")))
        except SyntaxError:
            literal = False
        return None if literal else f"`{node.func.id}()` runs code the notebook's text does not show"

    # -- resolving names ------------------------------------------------------------------------
    def _dotted(self, node: ast.AST, scope: set[str] | dict = frozenset()) -> str | None:
        """`F.softmax` -> "torch.nn.functional.softmax" when the root is a library name, else None."""
        parts = []
        while True:
            if isinstance(node, ast.Attribute):
                if node.attr is None:
                    return None
                parts.append(node.attr)
                node = node.value
            elif isinstance(node, ast.Call) and self._call_path(node, scope):
                parts.append(self._call_path(node, scope))
                break
            elif isinstance(node, ast.Name):
                local = scope.get(node.id) if isinstance(scope, dict) else None
                if local:
                    parts.append(local)
                elif node.id in scope:
                    return None
                elif node.id in self.aliases:
                    parts.append(self.aliases[node.id])
                else:
                    return None
                break
            else:
                return None
        return ".".join(reversed(parts))

    def _call_path(self, node: ast.Call, scope) -> str | None:
        """The module a call with constant arguments stands for: `importlib.import_module("sys")`,
        `__import__("sys")`, `getattr(F, "softmax")`."""
        func = node.func
        first = _constant(node.args[0]) if node.args else None
        if isinstance(func, ast.Name) and func.id not in scope:
            if func.id == "__import__" and first:
                return first.split(".")[0]
            if func.id == "getattr" and len(node.args) >= 2 and _constant(node.args[1]):
                base = self._dotted(node.args[0], scope)
                return f"{base}.{_constant(node.args[1])}" if base else None
        dotted = self._dotted(func, scope) if isinstance(func, ast.Attribute) else None
        if dotted == "importlib.import_module" and first:
            return first
        return None

    # -- one exercise ---------------------------------------------------------------------------
    def unreadable(self, name: str, others: frozenset[str] = frozenset()) -> Finding | None:
        """Why the grader cannot tell what the exercise `name` runs, or None (module docstring).

        `others` are the notebook's other exercises: they are graded on their own, and while `name`
        is graded the checks stand in for them, so the reading stops there."""
        if self.machinery:
            return self.machinery
        if self.everything:
            return self.everything
        if name not in self.bindings and not self._star(name):
            unknown = [m for m in self.star_imports if not _installed(m)]
            if unknown:
                return Finding("unreadable", f"`from {unknown[0]} import *` may define `{name}`", "the whole notebook")
            return None  # not defined at all: the kernel says so (NameError), as for a blank notebook
        return self._walk_exercise(name, None, None, (), frozenset(others) - {name})[0]

    def delegation(self, name: str, subject: str, reference: str | None, forbidden=()) -> Finding | None:
        """The ready-made implementation of `subject` that the exercise `name` reaches, or None; or, kind
        "unreadable", a call by the subject's name on an object the reader cannot tell is the notebook's."""
        return self._walk_exercise(name, subject, reference, tuple(forbidden))[1]

    def _star(self, name: str) -> str | None:
        for module in self.star_imports:
            if _has(module, name):
                return f"{module}.{name}"
        return None

    @functools.lru_cache(maxsize=256)
    def _walk_exercise(self, name: str, subject: str | None, reference: str | None, forbidden=(),
                       others: frozenset[str] = frozenset()):
        """(first unreadable finding, first delegation finding -- or, without one, the first doubt about a
        subject-named method) of everything `name` reaches."""
        pattern = re.compile(SUBJECTS.get(subject) or r"(?!)", re.I)
        # "doubt": the subject's name on an object the reader cannot place (a person reviews it)
        state = {"unreadable": None, "delegation": None, "doubt": None}
        seen: set[str] = set()

        def note(kind, what, where):
            state[kind] = state[kind] or Finding("delegation" if kind == "delegation" else "unreadable", what, where)

        def named_like_subject(attr: str, owner: ast.AST, scope, what: str, where: str) -> None:
            """`owner.<attr>` (a method, or `getattr(owner, "<attr>")`) where `attr` says the subject: torch's
            unless the notebook defines that name; the student's only on the notebook's own object."""
            if attr not in self.defined_attrs:
                note("delegation", what, where)
            elif not self._own_object(owner, scope):
                note("doubt", f"`.{attr}` is called on an object the reader cannot tell is the notebook's own "
                              f"(the notebook defines a `{attr}`, torch has one too)", where)

        def path_refused(path: str, where: str) -> None:
            parts = path.split(".")
            if parts[0] == "course_check":
                note("delegation", f"the course's own checks ({path}), whose oracles are the answers", where)
            elif parts[0] == "transformer_reference":
                if reference and (parts[-1] == reference or parts[-1] in SAME_COMPONENT.get(reference, ())):
                    note("delegation", f"the course's reference {path}", where)
            elif path in forbidden or any(pattern.search(p) for p in parts[1:]):
                note("delegation", path, where)
            elif parts[0] in OPAQUE_MODULES or path in UNPICKLERS:
                note("unreadable", f"`{path}` loads or runs code at run time", where)
            elif not _installed(parts[0]) or parts[0] in self.written_modules:
                note("unreadable", f"the module `{parts[0]}` is not one the grader can read (is it written by the "
                                   "notebook, or missing?)", where)

        def follow(top: str) -> None:
            if top in seen or top in others:
                return
            seen.add(top)
            star = self._star(top) if top not in self.bindings else None
            if star:
                path_refused(star, "a `from ... import *`")
                return
            for binding in self.bindings.get(top, []):
                if binding.opaque:
                    note("unreadable", binding.opaque, binding.where)
                    continue
                if top in self.aliases and isinstance(binding.node, (ast.Import, ast.ImportFrom)):
                    path_refused(self.aliases[top], binding.where)
                    continue
                read(binding.node, binding.where)

        def read(node: ast.AST, where: str) -> None:
            local_of = {id(fn): _local_aliases(fn, self) for fn in _scopes(node)}
            for fn in _scopes(node):
                instance = self._instance_parameter(fn)
                if instance:
                    local_of[id(fn)][_INSTANCE] = instance
            for sub, scope in _walk_with_scope(node, local_of):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                    if sub.id in scope:
                        continue
                    if sub.id in self.mutated and not self._only_changed(sub):
                        note("unreadable", f"the notebook changes `{sub.id}` after defining it, and `{name}` reads "
                                           "it", self.mutated[sub.id])
                    if sub.id in self.bindings or self._star(sub.id):
                        follow(sub.id)
                    elif sub.id in DYNAMIC_BUILTINS:
                        note("unreadable", f"`{sub.id}()` runs or reaches code at run time", where)
                    elif sub.id == "__import__":
                        parent = self._parents.get(id(sub))
                        if not (isinstance(parent, ast.Call) and self._call_path(parent, scope)):
                            note("unreadable", "`__import__` with a computed name", where)
                    elif sub.id == "vars":
                        note("unreadable", "`vars()` reaches an object's namespace", where)
                elif isinstance(sub, ast.Attribute):
                    if sub.attr in OPAQUE_ATTRS:
                        note("unreadable", f"`.{sub.attr}` reaches code or data the text does not show", where)
                        continue
                    if isinstance(self._parents.get(id(sub)), ast.Attribute):
                        continue  # the longest chain is read
                    path = self._dotted(sub, scope)
                    if path:
                        path_refused(path, where)
                        continue
                    chain, named = sub, []
                    while isinstance(chain, ast.Attribute):  # `x.softmax(...)`: an object's own method
                        named += [chain.attr] if pattern.search(chain.attr) else []
                        chain = chain.value
                    for attr in named:
                        named_like_subject(attr, chain, scope, f"the method `.{attr}` (a ready-made {subject})", where)
                elif isinstance(sub, ast.Call):
                    path = self._call_path(sub, scope)
                    if path:
                        path_refused(path, where)
                        continue
                    called = self._dotted(sub.func, scope) or ""
                    by_name = [text for text in map(_constant, [*sub.args, *(k.value for k in sub.keywords)])
                               if text and pattern.search(text)]
                    if called.split(".")[0] == "torch" and by_name:  # torch._C._jit_get_operation("aten::_softmax")
                        note("delegation", f"`{called}({by_name[0]!r})`: the operation looked up by name", where)
                    func = sub.func
                    if isinstance(func, ast.Name) and func.id not in scope and func.id in ("getattr", "delattr", "setattr"):
                        text = _constant(sub.args[1]) if len(sub.args) > 1 else None
                        if text is not None:
                            if func.id == "getattr" and pattern.search(text):
                                named_like_subject(text, sub.args[0], scope, f"`{text}`, looked up by name", where)
                        elif sub.args and not _is_instance(sub.args[0], scope):
                            note("unreadable", f"`{func.id}()` with a computed name on an object other than the "
                                               "method's own instance (`self`)", where)
                    elif isinstance(func, ast.Attribute) and func.attr in ("attrgetter", "methodcaller"):
                        note("unreadable", f"`{func.attr}` looks attributes up by computed name", where)
                elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                    for alias in sub.names:
                        full = alias.name if isinstance(sub, ast.Import) else f"{sub.module or ''}.{alias.name}".lstrip(".")
                        path_refused(full.removesuffix(".*"), where)
                elif isinstance(sub, ast.ClassDef):
                    redefined = sorted(_names_bound_in_class(sub) & SELF_REPORTING)
                    if redefined or any(k.arg == "metaclass" for k in sub.keywords):
                        what = f"redefines `{redefined[0]}`" if redefined else "has a metaclass"
                        note("unreadable", f"the class `{sub.name}` {what}, through which the grader reads what an "
                                           "object is and holds", where)

        if name in self.mutated:
            note("unreadable", f"the notebook changes `{name}` after defining it", self.mutated[name])
        follow(name)
        return state["unreadable"], state["delegation"] or state["doubt"]

    def _instance_parameter(self, fn: ast.AST) -> str | None:
        """The name of a method's instance parameter (`self`), if `fn` is a method that never rebinds it:
        attributes looked up on it by computed name are the student's own (`getattr(self, f"expert{i}")`),
        where on any other object (a tensor argument, a module) they may be a library's."""
        if not isinstance(self._parents.get(id(fn)), ast.ClassDef) or not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return None
        if any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in fn.decorator_list):
            return None
        first = [*fn.args.posonlyargs, *fn.args.args][:1]
        if not first:
            return None
        name = first[0].arg
        rebound = any(isinstance(sub, ast.Name) and sub.id == name and not isinstance(sub.ctx, ast.Load)
                      or isinstance(sub, (ast.Global, ast.Nonlocal)) and name in sub.names
                      or isinstance(sub, ast.arg) and sub.arg == name and sub is not first[0]
                      for sub in ast.walk(fn))
        return None if rebound else name

    def _own_object(self, node: ast.AST, scope) -> bool:
        """Whether an attribute chain starts at the notebook's own object: a method's `self`, or a class
        the notebook defines (and binds no other way)."""
        if _is_instance(node, scope):
            return True
        bindings = self.bindings.get(node.id, []) if isinstance(node, ast.Name) and node.id not in scope else []
        return bool(bindings) and all(isinstance(b.node, ast.ClassDef) for b in bindings)

    def _only_changed(self, node: ast.Name) -> bool:
        """Whether this use of a name only changes the object (`losses.append(x)`, `counts[k] += 1`),
        so nothing the notebook put in it runs here."""
        parent = self._parents.get(id(node))
        if isinstance(parent, (ast.Subscript, ast.Attribute)) and isinstance(parent.ctx, (ast.Store, ast.Del)):
            return True
        call = self._parents.get(id(parent))
        return (isinstance(parent, ast.Attribute) and parent.attr in MUTATING_METHODS
                and isinstance(call, ast.Call) and call.func is parent)


def _walk_outside_functions(node: ast.AST):
    """Nodes under `node`, not entering functions, lambdas or comprehensions (their own scopes)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for child in ast.iter_child_nodes(current):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
                                      ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                stack.append(child)


def _walk_with_scope(node: ast.AST, local_of: dict):
    """Every node under `node` with the local names of the innermost function around it (a set, or
    a dict of local name -> the library path it aliases; the top level has none)."""
    stack = [(node, frozenset())]
    while stack:
        current, scope = stack.pop()
        yield current, scope
        if id(current) in local_of:
            scope = local_of[id(current)]
        for child in ast.iter_child_nodes(current):
            stack.append((child, scope))


def _local_aliases(fn: ast.AST, reading: Reading) -> dict:
    """A function's local names; those bound to a library path (`import torch.nn.functional as F`,
    `m = torch.nn` inside it) map to it, the others to None."""
    own, _ = _locals_of(fn)
    scope = dict.fromkeys(own)
    body = fn.body if isinstance(fn.body, list) else [fn.body]
    for stmt in body:
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Import):
                for a in sub.names:
                    scope[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(sub, ast.ImportFrom):
                for a in sub.names:
                    scope[a.asname or a.name] = f"{sub.module or ''}.{a.name}".lstrip(".")
            elif isinstance(sub, ast.Assign) and len(sub.targets) == 1 and isinstance(sub.targets[0], ast.Name):
                path = reading._dotted(sub.value, {})
                if path and scope.get(sub.targets[0].id) is None:
                    scope[sub.targets[0].id] = path
    return scope


def _alias_in(scope, name: str) -> bool:
    """Whether a function-local `name` stands for a library path (`import torch as t` inside it)."""
    return isinstance(scope, dict) and bool(scope.get(name))


_INSTANCE = "\0instance"  # in a method's scope (see `Reading._instance_parameter`): the name of `self`


def _is_instance(node: ast.AST, scope) -> bool:
    """`self` of the method the node is in (not an attribute of it, which may hold a library module)."""
    return isinstance(node, ast.Name) and isinstance(scope, dict) and scope.get(_INSTANCE) == node.id


def _machinery_path(path: str) -> bool:
    """`sys.modules`, `os.sys.<anything>`, `threading.Thread`, `ctypes...`: the grading machinery."""
    parts = path.split(".")
    if (parts[0], None) in MACHINERY or MACHINERY_NAMES.intersection(parts):
        return True
    if "sys" in parts[1:]:  # the interpreter's `sys`, reached through another module
        return True
    return any((module, attr) in MACHINERY for module, attr in zip(parts, parts[1:]))


@functools.lru_cache(maxsize=512)
def _has(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), name) if _installed(module) else False
    except Exception:
        return False


@functools.lru_cache(maxsize=512)
def _is_code(path: str) -> bool:
    """Whether the library attribute at `path` is a function, class or module (not a flag or a number)."""
    import inspect

    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except Exception:
            continue
        try:
            for attr in parts[cut:]:
                value = getattr(value, attr)
        except AttributeError:
            return True  # a new attribute on a library: a plug the reader cannot follow
        return callable(value) or inspect.ismodule(value)
    return True


@functools.lru_cache(maxsize=4096)
def _read_cell(label: str, number: int, cell: str) -> Reading:
    """One cell's parse, bindings and magics (shared, read-only, by every reading it is part of)."""
    part = Reading([], label)
    part._read(number, cell)
    return part


@functools.lru_cache(maxsize=4096)
def _scanned_cell(label: str, number: int, cell: str, aliases: tuple[tuple[str, str], ...]) -> Reading:
    """One cell's scan (`Reading._scan`), given the library paths its names stand for."""
    part = Reading([], label)
    part.aliases = dict(aliases)
    part._scan(number, _read_cell(label, number, cell).trees[0][1])
    part.aliases = {}
    return part


def _names_bound_in_class(node: ast.ClassDef) -> set[str]:
    return {name for stmt in node.body for name in _names_bound_by(stmt)} | {
        name for stmt in node.body if isinstance(stmt, (ast.Assign, ast.AnnAssign))
        for target in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
        for name in _names_bound_by(target)}


def _names_bound_by(node: ast.AST) -> set[str]:
    """The names `node` itself binds in its scope (`x = `, `def x`, `class x`, `import x`)."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return {node.id}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {a.asname or a.name.split(".")[0] for a in node.names}
    if isinstance(node, ast.ExceptHandler) and node.name:
        return {node.name}
    return set()


def _names_in(tree: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


@functools.lru_cache(maxsize=8)
def read(cells: tuple[str, ...], label: str = "code cell") -> Reading:
    """The reading of a notebook's code cells (parsed once per submission; every check asks)."""
    return Reading(list(cells), label)


def kernel_reading() -> Reading | None:
    """In a student's kernel: the reading of the cells run so far, or None outside IPython."""
    try:
        from IPython import get_ipython as shell
    except ImportError:
        return None
    ip = shell()
    if ip is None:
        return None
    history = list(getattr(ip.history_manager, "input_hist_raw", None) or ip.user_ns.get("_ih", []))[1:]
    return read(tuple(history), "In")
