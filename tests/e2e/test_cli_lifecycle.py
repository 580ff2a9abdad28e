"""End to end: `ragline up` keeps its home to itself, logs to a file, and `ragline down` stops it.

A stack of this module's own, on moto: a second `up` on its home is refused and leaves its files alone; the
terminal gets the banner only, the log file the JSON lines; `down` stops it, and afterwards every command
says in one line that no stack runs there.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from ragline.local.client import StackClient
from tests.e2e.test_local_stack import ENDPOINT_VARIABLES, RAGLINE, cli

pytestmark = pytest.mark.e2e


def test_up_refuses_a_second_stack_logs_to_its_file_and_down_stops_it(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "RAGLINE_HOME": str(home), "POWERTOOLS_LOG_LEVEL": "INFO"}
    for name in (*ENDPOINT_VARIABLES, "LOCALSTACK_URL", "RAGLINE_BUCKET", "RAGLINE_REGISTRY_TABLE"):
        env.pop(name, None)
    process = subprocess.Popen([RAGLINE, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not (home / "endpoints.json").exists():
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.2)
        endpoints = (home / "endpoints.json").read_text()

        second = cli(home, "up")
        assert second.returncode == 2
        assert second.stderr == (
            f"ragline: a stack is already running on {home} (pid {process.pid}); "
            f"stop it with: ragline down --home {home}\n"
        )
        assert (home / "endpoints.json").read_text() == endpoints  # the running stack's files are untouched
        assert StackClient(home).call("GET", "/health") == (200, {"status": "ok"})

        (tmp_path / "memo.md").write_text("# Memo\n\nThe cafeteria reopens on Monday.\n")
        ingested = cli(home, "ingest", str(tmp_path / "memo.md"), "--roles", "staff")
        assert ingested.returncode == 0, ingested.stderr
        assert "  memo.md\n" in ingested.stderr  # the keys it wrote
        unreadable = cli(home, "ingest", str(tmp_path / "memo.md"), "--no-wait")
        assert unreadable.stderr.startswith("warning: memo.md gets no roles, so nobody can see it")

        down = cli(home, "down")
        assert (down.returncode, down.stdout) == (0, f"stopped the stack on {home} (pid {process.pid})\n")
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
    out, err = process.communicate(timeout=10)

    assert out.splitlines()[0].startswith("ragline is up: API ") and len(out.splitlines()) == 3, out
    assert err == ""
    lines = (home / "ragline.log").read_text().splitlines()
    assert lines and all(json.loads(line)["service"].startswith("ragline-") for line in lines)
    assert any(json.loads(line)["service"] == "ragline-ingest" for line in lines)
    assert not (home / "endpoints.json").exists()
    assert cli(home, "down").stdout == f"no stack is running on {home}\n"
    asked = cli(home, "ask", "When does the cafeteria reopen?", "--user", "u", "--groups", "staff")
    assert (asked.returncode, asked.stderr) == (
        2,
        f"ragline: no local stack on {home}; start it with: ragline up --home {home}\n",
    )
