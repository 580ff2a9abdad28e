"""``DIR/ragline.pid``: one running stack per home.

``ragline up`` holds an exclusive ``fcntl.flock`` on the pid file for as long as its stack runs, and writes
its pid into it. The kernel drops the lock when the process ends, however it ends, so a stack that crashed
leaves a pid file nobody holds: the next ``ragline up`` simply takes it over. A second ``ragline up`` on a
home whose stack is alive finds the file locked and refuses before it touches any of that stack's files.

Example:
    >>> lock = HomeLock(Path(".ragline"))  # doctest: +SKIP
    >>> lock.acquire()  # doctest: +SKIP
    >>> running_pid(Path(".ragline")) == os.getpid()  # doctest: +SKIP
    True
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from pathlib import Path

PID_FILE = "ragline.pid"


class StackAlreadyRunning(RuntimeError):
    """Another process holds the home's lock: its stack is alive."""

    def __init__(self, home: Path, pid: int | None) -> None:
        self.home = home
        self.pid = pid
        running = f"pid {pid}" if pid else "pid unknown"
        super().__init__(f"a stack is already running on {home} ({running}); stop it with: ragline down --home {home}")


def _read_pid(path: Path) -> int | None:
    # The holder writes its pid right after taking the lock: a reader may come in between, so look twice.
    for _ in range(20):
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return None
        if text.isdigit():
            return int(text)
        time.sleep(0.05)
    return None


class HomeLock:
    """The exclusive lock on ``home/ragline.pid``; held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, home: Path) -> None:
        self.path = home / PID_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write this process's pid; raises :class:`StackAlreadyRunning` when it is held."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StackAlreadyRunning(self.path.parent, _read_pid(self.path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Drop the lock. The file stays: removing it could race with the next stack's ``acquire``."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.ftruncate(fd, 0)
            os.close(fd)  # closing releases the flock


def running_pid(home: Path) -> int | None:
    """The pid of the stack running on ``home``, or None when none runs there (a stale pid file included).

    A pid of 0 means a stack holds the lock but its pid could not be read."""
    path = home / PID_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(path) or 0
    finally:
        os.close(fd)  # also drops the shared lock, when it was taken
    return None


class StopTimedOut(RuntimeError):
    """The stack was asked to stop but still runs."""


def _exited(pid: int) -> bool:
    """Whether ``pid`` has exited: gone, or a zombie its parent has not reaped yet (Linux's /proc says)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, and someone else's
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state == "Z"


def stop_stack(home: Path, timeout: float = 40.0, poll: float = 0.1) -> int | None:
    """Ask the stack running on ``home`` to stop (SIGTERM) and wait until its process has exited.

    Returns its pid, or None when no stack runs there; raises :class:`StopTimedOut` after ``timeout``
    seconds. (``ragline up`` ends itself 30 s after a stop that hangs.)"""
    pid = running_pid(home)
    if pid is None:
        return None
    if pid == 0:
        raise StopTimedOut(f"a stack holds {home / PID_FILE} but its pid cannot be read")
    with contextlib.suppress(ProcessLookupError):  # it ended on its own just now
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    # First the lock, which the stack drops once stopped; then the process itself.
    while running_pid(home) is not None or not _exited(pid):
        if time.monotonic() > deadline:
            raise StopTimedOut(f"the stack on {home} (pid {pid}) is still running {timeout:g} s after SIGTERM")
        time.sleep(poll)
    return pid
