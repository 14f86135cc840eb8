"""Run the ``bbx`` command in its own process with stderr on a real pseudo-terminal (where
progress is drawn) and stdout on a pipe (what a script reads)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

BBX = str(Path(sys.executable).with_name("bbx"))


def run_on_terminal(*args: str, timeout: float = 300) -> tuple[int, str, list[str]]:
    """(exit code, stdout, the lines drawn on the terminal: each redraw its own line)."""
    master, slave = pty.openpty()
    drawn: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                return
            if not data:
                return
            drawn.append(data)

    reader = threading.Thread(target=read_terminal)
    with subprocess.Popen(
        [BBX, *args],
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=os.environ.copy(),
    ) as proc:
        os.close(slave)
        reader.start()
        stdout, _ = proc.communicate(timeout=timeout)
    reader.join(timeout=10)
    os.close(master)
    text = b"".join(drawn).decode().replace("\x1b[K", "")
    lines = [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line]
    return proc.returncode, stdout.decode(), lines
