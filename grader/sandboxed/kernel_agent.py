"""The kernel side of the trust boundary. Runs INSIDE the (sandboxed) grading kernel.

The trusted grader sends this file's source into the kernel once, after the student's notebook
has run (`grader/boundary/remote.install_code`, with codec.py, which it imports), and then one
request per operation (`serve(<base64>)`). A request is a cloudpickle of `(op, args)` made by the
trusted side; the answer is published as a display message of type `MIME` holding JSON: plain
values, and tensors as dtype + shape + raw bytes (codec.py). No pickle ever travels from the
kernel to the grader, so nothing the student controls is executed there.

Everything here is untrusted once it runs: a submission can patch it. That is fine, because the
grader treats every answer as data and decides every grade itself. This file therefore contains
no answers and no hidden logic, only plumbing. It imports nothing from `grader` (the kernel
cannot see that package), only the codec beside it; in the kernel the two are the modules
`AGENT_NAME` and its sibling `codec` (grader/sandboxed/__init__.py). The trusted side imports it
only in tests and tools/inprocess.py, which run the agent in-process.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import sys
import types

from .codec import MIME, REF, encode, receive, send


# ---------------------------------------------------------------------------------------------
# The agent: a table of kept objects and the operations the trusted side may ask for.
# ---------------------------------------------------------------------------------------------
def _qualname(klass) -> str:
    return f"{getattr(klass, '__module__', '?')}.{getattr(klass, '__qualname__', getattr(klass, '__name__', '?'))}"


def _kind(obj) -> str:
    import torch

    if isinstance(obj, type):
        return "class"
    if isinstance(obj, torch.Tensor):
        return "tensor"
    if isinstance(obj, torch.nn.Module):
        return "module"
    if callable(obj):
        return "function"
    return "object"


class Agent:
    """Keeps objects the grader refers to by handle and performs one operation per request."""

    def __init__(self, namespace: dict):
        self.namespace = namespace
        self.kept: list = []  # every object handed out stays alive, so ids are never reused
        self.ids: dict[int, int] = {}
        self.describing: set[int] = set()  # modules whose structure is being described (a cycle stops here)

    # -- handles ---------------------------------------------------------------------------
    def keep(self, obj) -> dict:
        """Keep `obj` (once: the same object always has the same handle, so identity survives)."""
        if id(obj) not in self.ids:
            self.kept.append(obj)
            self.ids[id(obj)] = len(self.kept) - 1
        description = {"$": "handle", "id": self.ids[id(obj)], "kind": _kind(obj), "type": _qualname(type(obj)),
                       "name": str(getattr(obj, "__name__", type(obj).__name__))}
        if isinstance(obj, type):
            description["mro"] = [_qualname(k) for k in obj.__mro__]
        else:
            description["mro"] = [_qualname(k) for k in type(obj).__mro__]
        if description["kind"] == "tensor":
            description["shape"] = [int(s) for s in obj.shape]
            description["dtype"] = str(obj.dtype).removeprefix("torch.")
        if description["kind"] == "module" and id(obj) not in self.describing:
            self.describing.add(id(obj))
            try:
                description["attrs"] = {name: encode(value, self.keep) for name, value in _registered(obj).items()}
            finally:
                self.describing.discard(id(obj))
        return description

    def obj(self, ref):
        """A request argument: a handle reference becomes the kept object, anything else passes."""
        if type(ref) is tuple and len(ref) == 2 and ref[0] == REF:
            return self.kept[ref[1]]
        if type(ref) in (list, tuple):
            return type(ref)(self.obj(r) for r in ref)
        if type(ref) is dict:
            return {k: self.obj(v) for k, v in ref.items()}
        return ref

    # -- operations --------------------------------------------------------------------------
    def op_lookup(self, name: str):
        if name not in self.namespace:
            raise NameError(f"name '{name}' is not defined")
        return self.namespace[name]

    def op_keep(self, value):
        return value  # a function or class of the grader's checks: kept, and named by handle from now on

    def op_getattr(self, target, name: str):
        return getattr(target, name)

    def op_setattr(self, target, name: str, value):
        setattr(target, name, value)

    def op_getitem(self, target, key):
        return target[key]

    def op_list(self, target):
        return list(target)

    def op_len(self, target):
        return len(target)

    def op_call(self, target, args, kwargs, options):
        import torch

        stand_ins = options.get("stand_ins") or {}
        forbid = options.get("forbid")
        writeback = options.get("writeback", True)
        grads = options.get("grads") or []
        for module_index, named in grads:  # gradients the grader had set on module arguments (pickle drops them)
            module = args[module_index]
            params = dict(module.named_parameters())
            for name, grad in named.items():
                params[name].grad = grad
        backward = options.get("backward")
        with self.swapped(target, stand_ins), recording(forbid) as calls, torch.set_grad_enabled(options.get("grad", True)):
            result = target(*args, **kwargs)
            if backward is not None:
                out = result[backward["index"]] if backward.get("index") is not None else result
                weights = backward.get("weights")
                if isinstance(out, torch.Tensor) and out.requires_grad:  # else the grader reports the missing gradient
                    (out.sum() if weights is None else (out * weights).sum()).backward()
        answer = {"result": result, "calls": list(calls)}
        if writeback:
            answer["args"] = [_after(a) for a in args]
            answer["kwargs"] = {k: _after(v) for k, v in kwargs.items()}
        return answer

    @contextlib.contextmanager
    def swapped(self, target, stand_ins: dict):
        """Replace the notebook's own helpers named in `stand_ins` while `target` runs. Each stand-in
        is a fresh one-shot wrapper: code that keeps it and calls it later (a correct answer
        harvested for another exercise) gets an error, not the answer."""
        swapped = {}
        live = [True]
        for name, stand_in in stand_ins.items():
            current = self.namespace.get(name)
            if isinstance(current, types.FunctionType) and current.__module__ == "__main__":
                swapped[name] = current
                self.namespace[name] = _one_shot(stand_in, live)
        try:
            yield
        finally:
            live[0] = False
            self.namespace.update(swapped)

    # -- transport ---------------------------------------------------------------------------
    def answer(self, request: bytes) -> bytes:
        """One request (a cloudpickle of `(op, args)`) -> its answer, JSON."""
        import cloudpickle

        try:
            op, args = cloudpickle.loads(request)
            answer = {"ok": encode(getattr(self, "op_" + op)(*self.obj(list(args))), self.keep)}
        except BaseException as err:  # the student's code failed: report it as data
            if isinstance(err, (KeyboardInterrupt, SystemExit)):
                raise
            answer = {"error": type(err).__name__, "message": str(err)[:2000],
                      "not_implemented": isinstance(err, NotImplementedError),
                      "assertion": isinstance(err, AssertionError)}
        return json.dumps(answer).encode()

    def serve(self, request: str) -> None:
        """One request in a cell of its own; the answer is published as a display message."""
        from IPython.display import publish_display_data

        publish_display_data({MIME: self.answer(base64.b64decode(request)).decode()})

    def listen(self, name: str, token: str) -> None:
        """Answer requests on a socket of the agent's own until the grader closes it (a round trip
        costs microseconds, where a cell per request costs milliseconds of Jupyter messaging).

        The socket is `<the kernel's ipc path>-<name>` for a kernel on ipc sockets (the grader reaches
        it as it reaches the kernel's own), else a loopback TCP port. Where it is, is published as a
        display message; the first connection that sends `token` is the grader's.
        """
        import os
        import socket

        from IPython.display import publish_display_data
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        if app.transport == "ipc":
            path = f"{app.ip}-{name}"
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.bind(path)
            where = {"path": path}
        else:
            path = None
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.bind(("127.0.0.1", 0))
            where = {"port": server.getsockname()[1]}
        try:
            server.listen(4)
            server.settimeout(60)
            publish_display_data({MIME: json.dumps({"ok": where})})
            while True:
                line, _ = server.accept()
                line.settimeout(10)
                if receive(line) == token.encode():
                    break
                line.close()
        finally:
            server.close()
            if path is not None:
                os.unlink(path)
        line.settimeout(None)
        with line:
            while True:
                request = receive(line)
                if request is None:  # the grader is done
                    return
                send(line, self.answer(request))


def _registered(module) -> dict:
    """The module's registered submodules and parameters that `module.<name>` returns (nothing in
    its class or instance dictionary shadows them). They travel with the module's handle, so the
    grader reads a module's structure (layers, their weights' shapes) without a request per
    attribute; buffers stay behind (they can be large)."""
    import torch

    klass = type(module)
    if klass.__getattr__ is not torch.nn.Module.__getattr__ or klass.__getattribute__ is not object.__getattribute__:
        return {}
    found = {}
    for table in (vars(module).get("_parameters", {}), vars(module).get("_modules", {})):
        for name, value in table.items():
            if type(name) is str and name not in vars(module) and not any(name in vars(k) for k in klass.__mro__):
                found[name] = value
    return found


def _after(value):
    """What a call did to an argument: tensors, module parameters (+grads), optimizer and generator state."""
    import torch

    if isinstance(value, torch.Tensor) and not isinstance(value, torch.nn.Parameter):
        return {"tensor": value.detach().clone(), "grad": value.grad}
    if isinstance(value, torch.nn.Module):
        plain = {k: v for k, v in vars(value).items()
                 if not k.startswith("_") and type(v) in (int, float, bool, str, list, tuple)}
        return {"state": value.state_dict(), "grads": {n: p.grad for n, p in value.named_parameters()}, "attrs": plain}
    if isinstance(value, torch.optim.Optimizer):
        return {"optimizer": value.state_dict()}
    if isinstance(value, torch.Generator):
        return {"generator": value.get_state()}
    return None


def resolve(dotted: str):
    """The object at a dotted path: `torch.nn.functional.softmax`, or a class attribute `torch.Tensor.softmax`."""
    module_name, _, attr = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except ImportError:  # a class attribute such as torch.Tensor.softmax
        owner, _, name = module_name.rpartition(".")
        return getattr(getattr(importlib.import_module(owner), name), attr)


def _one_shot(stand_in, live: list):
    """`stand_in` callable only while `live[0]` holds (see Agent.swapped)."""

    def stand_in_for_this_call(*args, **kwargs):
        if not live[0]:
            raise RuntimeError("a correct stand-in the grader lent for one call was kept and called later")
        return stand_in(*args, **kwargs)

    return stand_in_for_this_call


@contextlib.contextmanager
def recording(forbid):
    """While the block runs, record calls of the forbidden objects (a kernel-side signal: a
    recorded call sends the notebook to review; the grader's reading of the source decides)."""
    calls: list[str] = []
    if not forbid:
        yield calls
        return
    import torch

    patches = []

    def recorder(path, original):
        def wrapped(*args, **kwargs):
            calls.append(path)
            return original(*args, **kwargs)

        return wrapped

    owners = [torch, torch.nn.functional, torch.special, torch.Tensor]
    owners += [m for n, m in list(sys.modules.items()) if m is not None and (n == "transformer_reference" or n.startswith("transformer_reference."))]
    for path in forbid:
        with contextlib.suppress(Exception):
            target = resolve(path)
            if isinstance(target, type):
                forward = target.__dict__.get("forward")
                if forward is not None:
                    patches.append((target, "forward", forward))
                    setattr(target, "forward", recorder(path, forward))
                continue
            for owner in owners:
                for name, value in list(vars(owner).items()):
                    if value is target:
                        patches.append((owner, name, value))
                        with contextlib.suppress(AttributeError, TypeError):
                            setattr(owner, name, recorder(path, value))
    try:
        yield calls
    finally:
        for owner, name, value in reversed(patches):
            with contextlib.suppress(AttributeError, TypeError):
                setattr(owner, name, value)
