"""A bench's fake Bot API server in a subprocess of its own (so its event loop never competes
with haven's), driven over stdin and stdout: the bench script runs itself with
``serve-fake``, which prints the port, then one line per command, then a JSON summary."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from typing import Any


class FakeServer:
    """The fake server subprocess of ``script``, seen from the bench."""

    def __init__(self, script: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, script, "serve-fake"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        line = self.ask_line()
        if not line.strip().isdigit():
            self.kill()
            raise RuntimeError("the fake Bot API server did not start")
        self.base = f"http://127.0.0.1:{int(line)}"

    def ask_line(self, command: str | None = None) -> str:
        """Send ``command`` (if any) and read the server's next line."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        return self.proc.stdout.readline()

    async def ask(self, command: str) -> float:
        return float(await asyncio.to_thread(self.ask_line, command))

    def finish(self) -> dict[str, Any]:
        """Stop the server and return what it accepted."""
        out, _ = self.proc.communicate("stop\n", timeout=60)
        return dict(json.loads(out.strip().splitlines()[-1]))

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
