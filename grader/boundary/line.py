"""A direct line to the kernel's agent: one socket for every request of a judging, instead of a cell each.

Sent as a cell, a request costs a Jupyter round trip (execute request, IPython's cell machinery,
busy/idle and display messages, nbclient's event loop): ~4 ms on an idle machine, ~25 ms on a
loaded one, paid hundreds of times per notebook. So, once the agent is installed, the grader runs
one cell that stays running, `AGENT.listen(name, token)`; the agent opens a socket of its own
and answers frame by frame (kernel_agent.send/receive) until the grader closes it.

- Where: a kernel on ipc sockets (every sandboxed kernel) listens at `<its ipc path>-<name>`,
  which the grader reaches exactly as it reaches the kernel's own sockets (`km.ip`, through the
  sandbox's root); the path is never taken from the kernel. An unsandboxed kernel on TCP listens
  on a loopback port and says which. The first connection that presents the token is the grader's.
- Same trust as a cell: requests go in as cloudpickles made here, answers come back as the same
  JSON, size-checked before they are read, and decoded only into plain values and tensors.
- Output: whatever the kernel prints while it answers is read from its iopub channel and dropped
  as it arrives, as the cell path drops it (a student's function printing a gigabyte cannot fill
  the grader's memory).
- Time: a request that is not answered within the cell timeout interrupts the kernel, as nbgrader
  does for a cell; the line is then closed and the next request opens a new one.
- Fallback: if the agent cannot listen (a kernel without IPKernelApp), requests go as cells.
"""

from __future__ import annotations

import json
import secrets
import socket
import time

import zmq
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import DeadKernelError

from grader.boundary.kernel_agent import MIME, receive, send

AGENT = "__import__('sys').modules['_transformer_course_agent'].AGENT"


class LineError(Exception):
    """The line gave no answer; the message says why, for the student."""


class AgentLine:
    """One open line (see the module docstring); `client` is the nbclient executor of the kernel."""

    def __init__(self, client, msg_id: str, line: socket.socket, iopub: zmq.Socket):
        self.client, self.msg_id, self.line, self.iopub = client, msg_id, line, iopub

    @classmethod
    def open(cls, client, log) -> "AgentLine | None":
        """Start the agent's `listen` cell and connect to it; None (with a log line) if it cannot listen."""
        name, token = f"agent-{secrets.token_hex(4)}", secrets.token_hex(16)
        iopub = zmq.Socket.shadow(client.kc.iopub_channel.socket.underlying)
        msg_id = client.kc.execute(f"{AGENT}.listen({name!r}, {token!r})", store_history=False, allow_stdin=False)
        where = _announced(client, iopub, msg_id, time.monotonic() + 30)
        if where is None:
            log.debug("the agent could not listen on a socket; requests go as cells")
            return None
        line = None
        try:
            if client.km.transport == "ipc":
                line = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                address = f"{client.km.ip}-{name}"
            else:
                line = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                address = ("127.0.0.1", int(where["port"]))
            line.settimeout(30)
            line.connect(address)
            send(line, token.encode())
        except (OSError, KeyError, TypeError, ValueError) as error:
            log.debug("could not connect to the agent's socket (%s); requests go as cells", error)
            if line is not None:
                line.close()
            _interrupt(client)  # ends the waiting listen cell
            _finish(client, msg_id)
            return None
        return cls(client, msg_id, line, iopub)

    def ask(self, request: bytes, limit: int) -> str:
        """The agent's answer to `request`; LineError (the line is then closed) when there is none."""
        timeout = self.client.timeout or 600
        deadline = time.monotonic() + timeout
        try:
            self.line.settimeout(timeout)
            send(self.line, request)
            poller = zmq.Poller()
            poller.register(self.iopub, zmq.POLLIN)
            poller.register(self.line.fileno(), zmq.POLLIN)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._stop(interrupt=True)
                    raise LineError(f"your code was still running after the time limit of {timeout} s when the grader "
                                    "called it, and was interrupted")
                ready = dict(poller.poll(left * 1000))
                if self.iopub in ready:
                    _drain(self.iopub)
                if self.line.fileno() in ready:
                    break
            self.line.settimeout(max(deadline - time.monotonic(), 1.0))
            answer = receive(self.line, limit)
        except ValueError:
            self._stop(interrupt=True)
            raise LineError(f"your code returned more than {limit // 2**20} MB of data; results this large are not graded")
        except OSError as error:  # also ConnectionError, socket.timeout
            self._stop(interrupt=True)
            raise LineError(f"your kernel stopped answering the grader ({error}); it may have died, hung or been altered")
        if answer is None:
            self._stop(interrupt=False)
            raise LineError("your kernel closed the grader's line; it may have died or been altered")
        try:
            return answer.decode()
        except UnicodeDecodeError:
            self._stop(interrupt=True)
            raise LineError("your kernel's answer could not be read (not text)") from None

    def close(self) -> None:
        """Hang up: the agent's `listen` returns and its cell ends."""
        self._stop(interrupt=False)

    def _stop(self, interrupt: bool) -> None:
        if self.line is None:
            return
        self.line.close()
        self.line = None
        if interrupt:
            _interrupt(self.client)
        _finish(self.client, self.msg_id)


def _announced(client, iopub: zmq.Socket, msg_id: str, deadline: float) -> dict | None:
    """Where the agent listens, from its display message; None if its cell ended (or went silent) first."""
    session = client.kc.session
    while time.monotonic() < deadline:
        if not iopub.poll((deadline - time.monotonic()) * 1000):
            break
        frames = iopub.recv_multipart(copy=True)
        try:
            _, frames = session.feed_identities(frames)
            msg = session.deserialize(frames, content=True)
        except Exception:  # not a message of this session (signature, format): ignore it
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "display_data" and MIME in content.get("data", {}):
            try:
                answer = json.loads(content["data"][MIME])
                return answer["ok"] if isinstance(answer.get("ok"), dict) else None
            except (ValueError, TypeError, AttributeError):
                return None
        if kind == "error" or (kind == "status" and content.get("execution_state") == "idle"):
            return None
    return None


def _drain(iopub: zmq.Socket, most: int = 256) -> None:
    """Drop what is waiting on iopub (output of the student's code while it answers), at most `most`
    messages at a time, so that a kernel printing without end cannot keep the grader from its answer."""
    for _ in range(most):
        try:
            iopub.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return


def _finish(client, msg_id: str) -> None:
    """Wait for the end of the agent's `listen` cell (it must end before another cell can run);
    nbclient interrupts it after the cell timeout and gives up."""
    if client.wait_for_reply(msg_id) is None:
        raise DeadKernelError("your code did not stop when the grader interrupted it")


@run_sync
async def _interrupt(client) -> None:
    await ensure_async(client.km.interrupt_kernel())
