"""The trusted side of the boundary: student objects as proxies, values by bytes only.

`RemoteKernel` talks to the kernel's agent (grader/sandboxed/kernel_agent.py) through a `run(code) -> answer`
function (in grading: nbclient on the kernel's own Jupyter channels). A student function or
class is a `Remote`: calling it sends the arguments into the kernel (cloudpickle, trusted to
untrusted) and gets the result back as JSON + raw tensor bytes, decoded into plain values and
exact `torch.Tensor`s. Objects that are not plain data (a student's module, a bound method, a
parameter) stay in the kernel and come back as further `Remote` handles.

The hidden checks are written against ordinary Python objects; with these proxies the same check
code runs here, in the grader's process, and never executes a line of student code:
- `with torch.no_grad():` on this side reaches the call (it is sent as an option);
- tensors, modules, optimizers and generators passed as arguments get back what the call did to
  them (in-place changes, new parameters, gradients, optimizer state, generator state), so a
  check sees the same effects as if it had called the function itself;
- `stand_ins(...)` replaces the notebook's own earlier helpers while a call runs (grading one
  exercise alone), and `forbidding(...)` asks the kernel to record calls of ready-made
  implementations (a kernel-side signal: a recorded call sends the notebook to review; the
  reading of the submitted text, `course_check/reading.py`, is what decides).
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import contextvars
import json
import os
import re
import sys
import types
from collections.abc import Callable

import cloudpickle
import torch

from grader.sandboxed import AGENT_NAME, FOLDER as SANDBOXED, PACKAGE_INSIDE
from grader.sandboxed.codec import MIME, REF, decode

# What install_code ships into the kernel, in this order (the agent imports the codec): the kernel
# cannot see grader/, so the files travel as source and become modules of PACKAGE_INSIDE there.
SHIPPED = {f"{PACKAGE_INSIDE}.{name}": (SANDBOXED / f"{name}.py").read_text() for name in ("codec", "kernel_agent")}
MAX_ANSWER_BYTES = 256 * 2**20  # a larger answer is refused, not parsed

_isinstance = builtins.isinstance
_options: contextvars.ContextVar[dict] = contextvars.ContextVar("remote_call_options", default={})
_submission: contextvars.ContextVar[list[str]] = contextvars.ContextVar("submitted_code", default=[])


class KernelAnswerError(AssertionError):
    """The kernel gave no usable answer (it died, hung, or its agent was tampered with)."""


def install_code() -> str:
    """Code that loads the agent into the kernel as a module of its own, after the codec it imports
    (both in a package PACKAGE_INSIDE, so the agent's `from .codec import ...` finds it there)."""
    code = ("import sys as _s, types as _t\n"
            f"_m = _t.ModuleType({PACKAGE_INSIDE!r})\n"
            "_m.__path__ = []\n"
            f"_s.modules[{PACKAGE_INSIDE!r}] = _m\n")
    for name, source in SHIPPED.items():
        code += (f"_m = _t.ModuleType({name!r})\n"
                 f"_m.__package__ = {PACKAGE_INSIDE!r}\n"
                 f"exec(compile({source!r}, {name!r}, 'exec'), _m.__dict__)\n"
                 f"_s.modules[{name!r}] = _m\n")
    agent = f"_s.modules[{AGENT_NAME!r}]"
    return code + f"{agent}.AGENT = {agent}.Agent(get_ipython().user_ns)\ndel _s, _t, _m\n"


BY_VALUE = ("grader.checks", "grader.boundary", "grader.sandboxed", "course_check")


_modules_seen = 0  # len(sys.modules) at the last scan: a new check module can only add to it


def _pickle_by_value() -> None:
    """Check helpers (stand-ins, small models, scenarios, and the boundary helpers they use) travel
    into the kernel by value: a sandboxed kernel has no `grader` to import them from, and its own
    copy of `course_check` is the student's to change; by value they also carry the hidden probes."""
    global _modules_seen
    if len(sys.modules) == _modules_seen:  # every request passes here: scan only after an import
        return
    for name, module in list(sys.modules.items()):
        if module is not None and name.startswith(BY_VALUE) and not getattr(module, "_by_value", False):
            cloudpickle.register_pickle_by_value(module)
            module._by_value = True
    _modules_seen = len(sys.modules)


def pickled(value) -> bytes:
    """`value` as the kernel will unpickle it: nothing in it may need `grader` there."""
    _pickle_by_value()
    return cloudpickle.dumps(value)


class RemoteKernel:
    """One grading kernel, seen from the trusted side."""

    def __init__(self, run: Callable[[str], list[dict]], open_line: Callable[[], object] | None = None):
        self._run = run  # code -> the outputs it produced (nbformat output dicts)
        # () -> a direct line to the installed agent (line.AgentLine), or None: requests then go as
        # cells through `run`. Opened at the first request, again after a line was lost.
        self._open_line = open_line
        self._line = None
        self.installed = False
        self._proxies: dict[int, Remote] = {}
        self._shipped: dict[int, tuple[object, int]] = {}  # id(check function or class) -> (it, kernel handle)
        # Counts the requests that may run the student's code (and so change its objects); a module's
        # registered attributes, which travel with its handle, are read locally only within the
        # generation they were described in.
        self.generation = 0
        self.student_texts: list[str] = []  # messages of the student's exceptions: never in a verdict (`redact`)

    def install(self) -> None:
        self._expect_nothing(self._run(install_code()))
        self.installed = True

    @staticmethod
    def _expect_nothing(outputs) -> None:
        for out in outputs:
            if out.get("output_type") == "error":
                raise KernelAnswerError(f"the grading helper could not be loaded in your kernel ({out.get('ename')})")

    def request(self, op: str, *args):
        if op not in ("lookup", "getattr", "keep"):
            self.generation += 1
        text = self._ask(pickled((op, args if op == "keep" else self._refs(args))))
        try:
            answer = json.loads(text)
            if type(answer) is not dict:
                raise ValueError("not an object")
            if "error" not in answer:
                return decode(answer["ok"], self._proxy)
        except (ValueError, KeyError, TypeError) as err:
            raise KernelAnswerError(f"your kernel's answer could not be read ({type(err).__name__})") from None
        self.student_texts.append(str(answer.get("message", "")))
        raise _exception(answer)

    def _ask(self, payload: bytes) -> str:
        """The agent's answer (JSON text) to one request: over the line if one is open, else in a cell."""
        if self._line is None and self._open_line is not None:
            self._line = self._open_line()
            if self._line is None:  # the agent cannot listen: cells from now on
                self._open_line = None
        if self._line is not None:
            try:
                return self._line.ask(payload, MAX_ANSWER_BYTES)
            except ConnectionError as error:  # line.LineError: no answer, and the line is closed
                self._line = None
                raise KernelAnswerError(str(error)) from None
        outputs = self._run(f"__import__('sys').modules[{AGENT_NAME!r}].AGENT.serve({base64.b64encode(payload).decode()!r})")
        answers = [o for o in outputs if o.get("output_type") == "display_data" and MIME in o.get("data", {})]
        if not answers:
            errors = [str(o.get("ename"))[:60] for o in outputs if o.get("output_type") == "error"]
            why = f" ({errors[0]})" if errors else ""
            raise KernelAnswerError(f"your kernel gave no answer to the grader{why}; it may have died, hung or been altered")
        text = answers[-1]["data"][MIME]
        if len(text) > MAX_ANSWER_BYTES:
            raise KernelAnswerError(f"your code returned {len(text) / 2**20:.0f} MB of data; results this large are not graded")
        return text

    def close(self) -> None:
        """Hang up the line, if one is open (the kernel can then run cells again). Every verdict is
        in by now: a kernel that died or hangs at this point changes none of them."""
        if self._line is not None:
            line, self._line = self._line, None
            with contextlib.suppress(Exception):
                line.close()

    def _proxy(self, desc: dict) -> "Remote":
        """One proxy per kernel object, so `is` and `id()` mean the same on both sides; it always
        holds the object's latest description."""
        hid = int(desc["id"])
        desc["gen"] = self.generation
        proxy = self._proxies.get(hid)
        if proxy is None:
            proxy = self._proxies[hid] = Remote.of(self, desc)
        else:
            if "lookup" in proxy._desc:
                desc.setdefault("lookup", proxy._desc["lookup"])
            object.__setattr__(proxy, "_desc", desc)
        return proxy

    def lookup(self, name: str) -> "Remote":
        """The student's top-level object `name`; plain data comes back by value."""
        value = self.request("lookup", name)
        if _isinstance(value, Remote):
            value._desc["lookup"] = name  # the name the grader asked for, not what the kernel says
        return value

    def call(self, target, args: tuple, kwargs: dict, backward: dict | None = None, writeback: bool = True):
        """Call `target` (a student object, or a check's scenario) in the kernel; with `writeback`,
        the arguments get back what the call did to them (`_write_back`)."""
        options = dict(_options.get())
        on_forbidden = options.pop("on_forbidden", None)
        options["writeback"] = writeback
        options["grad"] = torch.is_grad_enabled()
        options["backward"] = backward if backward is not None else options.get("backward")
        options["grads"] = [(i, {n: p.grad for n, p in a.named_parameters() if p.grad is not None})
                            for i, a in enumerate(args) if _isinstance(a, torch.nn.Module)]
        answer = self.request("call", target, args, kwargs, options)
        for before, after in zip(args, answer.get("args", [])):
            _write_back(before, after)
        for name, after in answer.get("kwargs", {}).items():
            _write_back(kwargs.get(name), after)
        calls = answer.get("calls") or []
        if calls and on_forbidden is not None:
            on_forbidden(str(calls[0]))
        return answer["result"]


    def _refs(self, value):
        """Replace proxies, and the checks' own top-level functions and classes, by (REF, id) so the
        kernel finds its own objects. A check function or class (a stand-in, a scenario) is sent
        once and named by handle afterwards: pickling one by value costs milliseconds, and the
        same stand-ins travel with call after call."""
        if _isinstance(value, Remote):
            return (REF, value._desc["id"])
        if type(value) in (list, tuple):
            return type(value)(self._refs(v) for v in value)
        if type(value) is dict:
            return {k: self._refs(v) for k, v in value.items()}
        if _is_check_definition(value):
            if id(value) not in self._shipped:
                self._shipped[id(value)] = (value, self.request("keep", value)._desc["id"])  # kept alive: ids stay unique
            return (REF, self._shipped[id(value)][1])
        return value


def _is_check_definition(value) -> bool:
    """A function or class defined at the top level of a module that travels by value (BY_VALUE)."""
    if not _isinstance(value, (types.FunctionType, type)):
        return False
    module = getattr(value, "__module__", None) or ""
    return (module.startswith(BY_VALUE) and sys.modules.get(module) is not None
            and getattr(sys.modules[module], value.__name__, None) is value)


_BUILTIN_ERRORS = {name: getattr(builtins, name) for name in dir(builtins)
                   if _isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), Exception)}


def _exception(answer: dict) -> Exception:
    """The student's exception, rebuilt: builtin classes keep their class (so `except ValueError`
    in a check works), any other class becomes `Exception` (its name is the student's text). The
    message stays available to the checks (does it name the argument?), behind `MARK`, so that
    `redact` finds every part of it a verdict quotes and keeps it out."""
    name = str(answer.get("error", "Exception"))
    message = MARK + str(answer.get("message", ""))
    error = _BUILTIN_ERRORS.get(name, Exception)
    try:
        return error(message)
    except Exception:
        return Exception(message)


HIDDEN_TEXT = "[its message, not shown: it may carry the grader's hidden inputs]"


# Starts every student exception message the grader holds: a verdict that quotes any prefix of one
# (whole, cut short as the checks cut them, or escaped as `repr` writes them) quotes the mark.
MARK = "\u2063"  # INVISIBLE SEPARATOR; `repr` writes it as the six characters \u2063
_MARKS = re.compile(re.escape(MARK) + "|" + re.escape(repr(MARK)[1:-1]))


def redact(verdict: str, texts: list[str]) -> str:
    """`verdict` without any part of the student's exception messages `texts` that it quotes: at
    each mark, the longest stretch that one of them (or its `repr`) begins with."""
    forms = {MARK + text for text in texts} | {repr(MARK + text)[1:-1] for text in texts}
    parts, start = [], 0
    while found := _MARKS.search(verdict, start):
        at = found.start()
        quoted = max((len(os.path.commonprefix([verdict[at:at + len(form)], form])) for form in forms), default=0)
        parts += [verdict[start:at], HIDDEN_TEXT]
        start = max(at + quoted, found.end())
    return "".join(parts) + verdict[start:]


def _write_back(before, after) -> None:
    """Apply to a trusted argument what the call did to the kernel's copy of it."""
    if after is None or before is None or _isinstance(before, Remote):
        return
    with torch.no_grad():
        if _isinstance(before, torch.Tensor) and "tensor" in after:
            new = after["tensor"]
            if _isinstance(new, torch.Tensor):
                if new.shape == before.shape and new.dtype == before.dtype:
                    if not torch.equal(new, before.detach()):
                        before.copy_(new)
                else:
                    before.set_(new.to(before.dtype).clone())
            if before.requires_grad and _isinstance(after.get("grad"), torch.Tensor):
                before.grad = after["grad"]
        elif _isinstance(before, torch.nn.Module) and "state" in after:
            before.load_state_dict(after["state"])
            for name, p in before.named_parameters():
                grad = after.get("grads", {}).get(name)
                p.grad = grad if _isinstance(grad, torch.Tensor) else None
            for name, value in (after.get("attrs") or {}).items():  # e.g. a probe model's record of its calls
                if type(getattr(before, name, None)) is type(value):
                    setattr(before, name, value)
        elif _isinstance(before, torch.optim.Optimizer) and "optimizer" in after:
            before.load_state_dict(after["optimizer"])
        elif _isinstance(before, torch.Generator) and "generator" in after:
            before.set_state(after["generator"])


class Remote:
    """A student object that lives in the kernel."""

    __slots__ = ("_kernel", "_desc")

    @staticmethod
    def of(kernel: RemoteKernel, desc: dict) -> "Remote":
        return (RemoteTensor if desc.get("kind") == "tensor" else Remote)(kernel, desc)

    def __init__(self, kernel: RemoteKernel, desc: dict):
        object.__setattr__(self, "_kernel", kernel)
        object.__setattr__(self, "_desc", desc)

    @property
    def remote_kind(self) -> str:
        return self._desc.get("kind", "object")

    @property
    def remote_mro(self) -> list[str]:
        return list(self._desc.get("mro", []))

    @property
    def remote_type(self) -> str:
        return str(self._desc.get("type", "?"))

    def __call__(self, *args, **kwargs):
        return self._kernel.call(self, args, kwargs)

    def call_backward(self, args: tuple, weights: torch.Tensor, index: int | None = None):
        """Call, then backpropagate sum(output * weights) in the kernel; arguments get their .grad."""
        return self._kernel.call(self, args, {}, backward={"weights": weights, "index": index})

    def __getattr__(self, name: str):
        if name == "__name__":  # not a class-level property: the class must pickle by value (see `pickled`)
            return str(self._desc.get("name", "object"))
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        attrs = self._desc.get("attrs")
        if attrs is not None and name in attrs and self._desc.get("gen") == self._kernel.generation:
            return decode(attrs[name], self._kernel._proxy)  # a module's layer or parameter, described with it
        return self._kernel.request("getattr", self, name)

    def __setattr__(self, name: str, value) -> None:
        self._kernel.request("setattr", self, name, value)

    def __getitem__(self, key):
        return self._kernel.request("getitem", self, key)

    def __iter__(self):
        return iter(self._kernel.request("list", self))

    def __len__(self) -> int:
        n = self._kernel.request("len", self)
        if type(n) is not int:
            raise TypeError("len() of a student object did not return an int")
        return n

    def __repr__(self) -> str:
        return f"<{self.remote_type} {self.__name__!r} in the student's kernel>"


class RemoteTensor(Remote):
    """A tensor that stays in the kernel (a parameter of a student's module)."""

    __slots__ = ()

    @property
    def shape(self) -> torch.Size:
        return torch.Size(self._desc.get("shape", []))

    @property
    def dtype(self) -> torch.dtype:
        return getattr(torch, self._desc.get("dtype", "float32"))

    def value(self) -> torch.Tensor:
        return self._kernel.request("getattr", self, "data")

    # `module.bias += 1.0` on a parameter in the kernel: an in-place op there, then the assignment.
    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)


# ---------------------------------------------------------------------------------------------
# Helpers the checks use to treat proxies like the objects they stand for.
# ---------------------------------------------------------------------------------------------
def qualname(klass) -> str:
    return f"{klass.__module__}.{klass.__qualname__}"


def is_remote(obj) -> bool:
    return _isinstance(obj, Remote)


def isinstance_(obj, classes) -> bool:
    """`isinstance` that also answers for student objects in the kernel (by their class names)."""
    if not _isinstance(obj, Remote):
        return _isinstance(obj, classes)
    classes = classes if _isinstance(classes, tuple) else (classes,)
    for klass in classes:
        if klass is type and obj.remote_kind == "class":
            return True
        if obj.remote_kind != "class" and qualname(klass) in obj.remote_mro:
            return True
    return False


def issubclass_(cls, classes) -> bool:
    if not _isinstance(cls, Remote):
        return builtins.issubclass(cls, classes)
    classes = classes if _isinstance(classes, tuple) else (classes,)
    return cls.remote_kind == "class" and any(qualname(k) in cls.remote_mro for k in classes)


def in_kernel(scenario: Callable, *args, **kwargs):
    """Run the grader's own `scenario(*args)` where the student's objects among `args` live.

    For work that must happen beside the student's objects: make a library object there (the
    embedding whose Parameter a tied projection receives), copy weights into a module, run many
    training steps in one request. The scenario (a function of the checks, sent by value) returns
    objects (as handles) or values; a verdict never rests on a fact the kernel reports about itself
    ("is it the same Parameter"): the checks judge values against what they compute (the logits
    after the tied weight changed, the gradient that reached it). With local objects (in-process
    tests) it simply calls `scenario(*args)`.
    """
    kernel = next((a._kernel for a in [*args, *kwargs.values()] if _isinstance(a, Remote)), None)
    if kernel is None:
        return scenario(*args, **kwargs)
    with call_options(backward=None):  # stand-ins and forbidden calls apply to the scenario as to a call
        return kernel.call(scenario, args, kwargs, writeback=False)


@contextlib.contextmanager
def backward_in_kernel(weights: torch.Tensor | None = None, index: int | None = None):
    """Calls inside the block backpropagate sum(output * weights) (or output.sum()) where they ran;
    tensor, module and optimizer arguments then carry the gradients back (see `_write_back`)."""
    with call_options(backward={"weights": weights, "index": index}):
        yield


def local(value):
    """A tensor held in the kernel, fetched by value; anything else unchanged."""
    return value.value() if _isinstance(value, RemoteTensor) else value


@contextlib.contextmanager
def submission(code_cells: list[str]):
    """The submitted notebook's code, for the checks' reading of it (course_check/reading.py)."""
    token = _submission.set(list(code_cells))
    try:
        yield
    finally:
        _submission.reset(token)


def submitted_code() -> list[str]:
    return _submission.get()


@contextlib.contextmanager
def call_options(**options):
    """Options for every call made to the kernel inside the block (stand-ins, forbidden calls)."""
    merged = dict(_options.get())
    for key, value in options.items():
        if key == "stand_ins":
            merged["stand_ins"] = {**merged.get("stand_ins", {}), **value}
        else:
            merged[key] = value
    token = _options.set(merged)
    try:
        yield
    finally:
        _options.reset(token)
