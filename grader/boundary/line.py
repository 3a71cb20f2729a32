"""A direct line to the kernel's agent: one socket for every request of a judging, instead of a cell each.

Sent as a cell, a request costs a Jupyter round trip (execute request, IPython's cell machinery,
busy/idle and display messages, nbclient's event loop): ~4 ms on an idle machine, ~25 ms on a
loaded one, paid hundreds of times per notebook. So, once the agent is installed, the grader runs
one cell that stays running, `AGENT.listen(name, token)`; the agent opens a socket of its own
and answers frame by frame (the codec's send/receive, grader/sandboxed/codec.py) until the grader closes it.

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

import asyncio
import json
import secrets
import socket
import time
from queue import Empty

from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import DeadKernelError

from grader.sandboxed import AGENT_NAME
from grader.sandboxed.codec import MIME, receive, send

AGENT = f"__import__('sys').modules[{AGENT_NAME!r}].AGENT"


class LineError(ConnectionError):
    """The line gave no answer; the message says why, for the student. (remote.py, a layer below
    this module, catches it as the ConnectionError it is.)"""


class AgentLine:
    """One open line (see the module docstring); `client` is the nbclient executor of the kernel."""

    def __init__(self, client, msg_id: str, line: socket.socket):
        self.client, self.msg_id, self.line = client, msg_id, line

    @classmethod
    def open(cls, client, log) -> "AgentLine | None":
        """Start the agent's `listen` cell and connect to it; None (with a log line) if it cannot listen."""
        name, token = f"agent-{secrets.token_hex(4)}", secrets.token_hex(16)
        msg_id = client.kc.execute(f"{AGENT}.listen({name!r}, {token!r})", store_history=False, allow_stdin=False)
        where, why = _announced(client, msg_id, time.monotonic() + 30)
        if where is None:
            log.warning("the kernel's agent could not listen on a socket (%s); requests go as cells", why)
            _interrupt(client)  # in case its cell still runs: the cells must not queue behind it
            _finish(client, msg_id)
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
            log.warning("could not connect to the kernel agent's socket (%s); requests go as cells", error)
            if line is not None:
                line.close()
            _interrupt(client)  # ends the waiting listen cell
            _finish(client, msg_id)
            return None
        return cls(client, msg_id, line)

    def ask(self, request: bytes, limit: int) -> str:
        """The agent's answer to `request`; LineError (the line is then closed) when there is none."""
        timeout = self.client.timeout or 600
        deadline = time.monotonic() + timeout
        try:
            self.line.settimeout(timeout)
            send(self.line, request)
            if not _answered(self.client, self.line, deadline):
                self._stop(interrupt=True)
                raise LineError(f"your code was still running after the time limit of {timeout} s when the grader "
                                "called it, and was interrupted")
            self.line.settimeout(max(deadline - time.monotonic(), 1.0))
            answer = receive(self.line, limit)
        except LineError:
            raise
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


@run_sync
async def _announced(client, msg_id: str, deadline: float) -> tuple[dict | None, str]:
    """Where the agent listens, from its display message; (None, why) if its cell ended (or went
    silent) first. (The kernel client's own channel, in its own event loop, reads iopub: a second
    reader of the same socket would race it.)"""
    while True:
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise Empty
            msg = await client.kc.iopub_channel.get_msg(timeout=left)
        except Empty:
            return None, "no answer within 30 s"
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "display_data" and MIME in content.get("data", {}):
            try:
                answer = json.loads(content["data"][MIME])
                if isinstance(answer.get("ok"), dict):
                    return answer["ok"], ""
            except (ValueError, TypeError, AttributeError):
                pass
            return None, "an unreadable answer"
        if kind == "error":
            return None, f"{content.get('ename')}: {str(content.get('evalue'))[:200]}"
        if kind == "status" and content.get("execution_state") == "idle":
            return None, "its cell ended"


@run_sync
async def _answered(client, line: socket.socket, deadline: float) -> bool:
    """Wait until the answer starts to arrive on `line` (True) or the deadline passes (False),
    dropping the kernel's output as it arrives (a student's function printing a gigabyte cannot
    fill the grader's memory)."""
    loop = asyncio.get_running_loop()
    readable = loop.create_future()
    loop.add_reader(line.fileno(), lambda: readable.done() or readable.set_result(True))
    output = None
    try:
        while not readable.done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if output is None or output.done():
                output = asyncio.ensure_future(client.kc.iopub_channel.get_msg(timeout=left))
            await asyncio.wait({readable, output}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            if output.done() and not output.cancelled():
                output.exception()  # read and dropped (Empty when there was none)
        return True
    finally:
        loop.remove_reader(line.fileno())
        if output is not None and not output.done():
            output.cancel()


def _finish(client, msg_id: str) -> None:
    """Wait for the end of the agent's `listen` cell (it must end before another cell can run);
    nbclient interrupts it after the cell timeout and gives up."""
    if client.wait_for_reply(msg_id) is None:
        raise DeadKernelError("your code did not stop when the grader interrupted it")


@run_sync
async def _interrupt(client) -> None:
    await ensure_async(client.km.interrupt_kernel())
