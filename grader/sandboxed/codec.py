"""The wire codec: how values and messages cross the sandbox's boundary. Both sides import it.

Runs on both sides. Inside the sandbox it is imported by the kernel agent (kernel_agent.py, which
`grader/boundary/remote.install_code` ships into the kernel together with this module) and by the
warm parent (warm_parent.py, started with this folder copied beside it: grader/forked.py); on the
trusted side, grader/boundary/ (remote.py, line.py, verdicts.py) and grader/forked.py import it.
So it imports only the standard library at the top (numpy and torch only inside `encode`/`decode`),
and nothing from `grader`, which the sandbox cannot see.

- Values <-> JSON (`encode` in the kernel, `decode` on the trusted side): plain values, and tensors
  and arrays as dtype + shape + raw bytes; no pickle ever travels from the kernel to the grader.
- The agent's answers are published as display data of type `MIME`; `REF` marks a handle to an
  object the kernel keeps in a request.
- Two frame formats on sockets: `send`/`receive` (8 bytes of length, then bytes) on the grader's
  direct line to the agent (grader/boundary/line.py), and `send_frame`/`recv_frame` (4 bytes of
  length, then JSON, with the sender's PID) between the grader and the warm parent's processes.
"""

from __future__ import annotations

import base64
import json
import math
import socket
import struct

MIME = "application/x-transformer-course-answer+json"
REF = "\x00kept"  # (REF, id) in a request names an object the kernel keeps
TENSOR_DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
                 "complex64", "complex128")
_FRAME = struct.Struct("!I")


# ---------------------------------------------------------------------------------------------
# Values <-> JSON. `encode` runs in the kernel (and on the trusted side for tests); `decode`
# runs on the trusted side and only ever builds plain Python values, numpy scalars and exact
# torch.Tensor objects from bytes.
# ---------------------------------------------------------------------------------------------
def encode(value, keep) -> object:
    """JSON-able form of `value`; objects that are not plain data are kept in the kernel via
    `keep(obj) -> handle description` and travel as handles."""
    import numpy as np
    import torch

    if value is None or type(value) in (bool, str):
        return value
    if type(value) is int:
        return value if abs(value) < 2**53 else {"$": "int", "v": str(value)}
    if type(value) is float:
        return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
    if isinstance(value, torch.nn.Parameter):
        return keep(value)
    if isinstance(value, torch.Tensor):
        t = torch.Tensor.detach(value).cpu().contiguous()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.resolve_conj().resolve_neg().numpy().tobytes()
        return {"$": "tensor", "dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
                "requires_grad": bool(value.requires_grad), "type": type(value).__name__,
                "data": base64.b64encode(raw).decode()}
    if isinstance(value, (np.generic, np.ndarray)):
        arr = np.asarray(value)
        arr = np.ascontiguousarray(arr) if arr.ndim else arr
        return {"$": "numpy", "scalar": isinstance(value, np.generic), "dtype": arr.dtype.str, "shape": list(arr.shape),
                "data": base64.b64encode(arr.tobytes()).decode()}
    if isinstance(value, torch.dtype):
        return {"$": "dtype", "v": str(value).removeprefix("torch.")}
    if isinstance(value, torch.Size):
        return {"$": "size", "v": [int(v) for v in value]}
    if isinstance(value, torch.device):
        return {"$": "device", "v": str(value)}
    if isinstance(value, bool):  # numpy bools are handled above; a bool subclass cannot exist
        return bool(value)
    if isinstance(value, int) and not isinstance(value, bool):  # int subclasses: by value, as int
        return {"$": "int", "v": str(int(value)), "type": type(value).__name__}
    if isinstance(value, float):
        return {"$": "float", "v": repr(float(value)), "type": type(value).__name__}
    if isinstance(value, str):
        return {"$": "str", "v": str.__str__(value), "type": type(value).__name__}
    if type(value) in (list, tuple):
        return {"$": type(value).__name__, "v": [encode(v, keep) for v in value]}
    if isinstance(value, dict) and type(value).__module__ in ("builtins", "collections"):
        return {"$": "dict", "type": type(value).__name__,
                "k": [encode(k, keep) for k in value.keys()], "v": [encode(v, keep) for v in value.values()]}
    return keep(value)


def decode(data, handle=lambda description: description):
    """Rebuild a value from `encode`'s JSON form; handles become `handle(description)`."""
    import numpy as np
    import torch

    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:  # JSON arrays are only produced inside tagged objects
        raise ValueError("malformed answer: bare list")
    if type(data) is not dict:
        raise ValueError(f"malformed answer: {type(data).__name__}")
    tag = data.get("$")
    if tag == "tensor":
        dtype = data["dtype"]
        if dtype not in TENSOR_DTYPES:
            raise ValueError(f"unsupported tensor dtype {dtype!r}")
        shape = [int(s) for s in data["shape"]]
        raw = base64.b64decode(data["data"], validate=True)
        if dtype == "bfloat16":
            flat = torch.frombuffer(bytearray(raw), dtype=torch.int16).view(torch.bfloat16) if raw else torch.empty(0, dtype=torch.bfloat16)
        else:
            flat = torch.frombuffer(bytearray(raw), dtype=getattr(torch, dtype)) if raw else torch.empty(0, dtype=getattr(torch, dtype))
        tensor = flat.clone().reshape(shape)
        if data.get("requires_grad") and tensor.is_floating_point():
            tensor.requires_grad_(True)
        return tensor
    if tag == "numpy":
        if np.dtype(data["dtype"]).hasobject:
            raise ValueError("object arrays are not accepted")
        arr = np.frombuffer(base64.b64decode(data["data"], validate=True), dtype=np.dtype(data["dtype"])).copy()
        arr = arr.reshape([int(s) for s in data["shape"]])
        return arr[()] if data.get("scalar") else arr
    if tag == "int":
        return int(data["v"])
    if tag == "float":
        return float(data["v"])
    if tag == "str":
        return str(data["v"])
    if tag == "dtype":
        value = getattr(torch, data["v"], None)
        if not isinstance(value, torch.dtype):
            raise ValueError(f"unknown dtype {data['v']!r}")
        return value
    if tag == "size":
        return torch.Size([int(v) for v in data["v"]])
    if tag == "device":
        return torch.device(str(data["v"]))
    if tag in ("list", "tuple"):
        items = [decode(v, handle) for v in data["v"]]
        return items if tag == "list" else tuple(items)
    if tag == "dict":
        keys = [decode(k, handle) for k in data["k"]]
        values = [decode(v, handle) for v in data["v"]]
        from collections import OrderedDict

        return (OrderedDict if data.get("type") == "OrderedDict" else dict)(zip(keys, values))
    if tag == "handle":
        return handle(data)
    raise ValueError(f"malformed answer: unknown tag {tag!r}")


# ---------------------------------------------------------------------------------------------
# Frames on the grader's direct line to the kernel agent (grader/boundary/line.py).
# ---------------------------------------------------------------------------------------------
def send(line, data: bytes) -> None:
    """One frame on a socket: 8 bytes of length, then the data."""
    line.sendall(len(data).to_bytes(8, "big") + data)


def receive(line, limit: int | None = None) -> bytes | None:
    """One frame from a socket; None when it was closed before one began. ValueError for a frame
    longer than `limit` bytes (left unread)."""
    header = _exactly(line, 8, at_start=True)
    if header is None:
        return None
    size = int.from_bytes(header, "big")
    if limit is not None and size > limit:
        raise ValueError(f"a frame of {size} bytes")
    return _exactly(line, size)


def _exactly(line, size: int, at_start: bool = False) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = line.recv(min(size - len(data), 1 << 20))
        if not chunk:
            if at_start and not data:
                return None
            raise ConnectionError("the socket was closed in the middle of a frame")
        data += chunk
    return bytes(data)


# ---------------------------------------------------------------------------------------------
# Frames between the grader (grader/forked.py) and the warm parent's supervisor and init.
# ---------------------------------------------------------------------------------------------

def send_frame(sock: socket.socket, message: dict) -> None:
    body = json.dumps(message).encode()
    sock.sendall(_FRAME.pack(len(body)) + body)


def recv_frame(sock: socket.socket, limit: int = 2**30) -> tuple[dict | None, int | None]:
    """(message, sender's PID as the receiver's PID namespace sees it, if SO_PASSCRED is on);
    (None, None) at end of stream."""
    header, ancillary, _, _ = sock.recvmsg(_FRAME.size, socket.CMSG_SPACE(struct.calcsize("3i")))
    if not header:
        return None, None
    while len(header) < _FRAME.size:
        more = sock.recv(_FRAME.size - len(header))
        if not more:
            return None, None
        header += more
    size = _FRAME.unpack(header)[0]
    if size > limit:
        raise ValueError(f"a frame of {size} bytes is larger than {limit}")
    body = bytearray()
    while len(body) < size:
        more = sock.recv(min(size - len(body), 2**20))
        if not more:
            return None, None
        body += more
    pid = None
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("3i", data[:12])[0]
    return json.loads(body), pid
