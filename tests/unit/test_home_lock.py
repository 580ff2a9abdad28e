"""One stack per home: the pid file's lock refuses a second holder, a crashed holder's lock is taken over,
and ``stop_stack`` stops the holder and waits for it to exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ragline.local.lock import PID_FILE, HomeLock, StackAlreadyRunning, running_pid, stop_stack
from tests.conftest import REPO

# A process that holds the home's lock as `ragline up` does, until SIGTERM (or SIGKILL) ends it.
HOLDER = """
import signal, sys, time
from pathlib import Path
from ragline.local.lock import HomeLock
lock = HomeLock(Path(sys.argv[1]))
lock.acquire()
signal.signal(signal.SIGTERM, lambda *_: (lock.release(), sys.exit(0)))
print("locked", flush=True)
while True:
    time.sleep(0.05)
"""


@pytest.fixture
def holder(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "shared"), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "locked\n"
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def test_a_home_nobody_started_a_stack_on_has_no_running_pid(tmp_path):
    assert running_pid(tmp_path) is None
    assert stop_stack(tmp_path) is None


def test_a_second_holder_is_refused_with_the_running_pid(tmp_path, holder):
    assert running_pid(tmp_path) == holder.pid
    with pytest.raises(StackAlreadyRunning) as refused:
        HomeLock(tmp_path).acquire()
    assert refused.value.pid == holder.pid
    assert str(refused.value) == (
        f"a stack is already running on {tmp_path} (pid {holder.pid}); stop it with: ragline down --home {tmp_path}"
    )


def test_the_lock_of_a_crashed_holder_is_taken_over(tmp_path, holder):
    holder.send_signal(signal.SIGKILL)  # no chance to release anything
    holder.wait(timeout=10)
    assert (tmp_path / PID_FILE).read_text().strip() == str(holder.pid)  # stale, but nobody holds it
    assert running_pid(tmp_path) is None

    lock = HomeLock(tmp_path)
    lock.acquire()
    assert running_pid(tmp_path) == os.getpid()
    lock.release()
    assert running_pid(tmp_path) is None


def test_one_process_cannot_hold_a_home_twice(tmp_path):
    first = HomeLock(tmp_path)
    first.acquire()
    with pytest.raises(StackAlreadyRunning):
        HomeLock(tmp_path).acquire()
    first.release()


def test_stop_stack_terminates_the_holder_and_waits_until_it_has_exited(tmp_path, holder):
    started = time.monotonic()
    assert stop_stack(tmp_path, timeout=20) == holder.pid
    assert holder.poll() == 0  # exited (SIGTERM's handler), not killed
    assert running_pid(tmp_path) is None
    assert time.monotonic() - started < 20
