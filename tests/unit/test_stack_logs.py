"""Where ``ragline up`` logs: the functions' Powertools lines and the stack's own go to HOME/ragline.log as
JSON lines, never to stdout; with ``--verbose`` to stderr as well. Each case runs in a fresh interpreter:
the logging configuration is process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

# What the stack's process does: configure the logs first, then the functions log (as their handlers do).
SCRIPT = """
import logging, sys
from pathlib import Path
from aws_lambda_powertools import Logger
from ragline.local.logs import log_to_file
log_to_file(Path(sys.argv[1]), verbose=sys.argv[2] == "verbose")
Logger(service="ragline-query").info("answered", extra={"doc_id": "d1"})
logging.getLogger("ragline.local.worker").warning("1 message(s) failed and will be redelivered")
"""


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_the_logs_go_to_the_homes_file_and_stderr_only_when_verbose(tmp_path, verbose):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "shared"), os.environ.get("PYTHONPATH", "")])}
    env.pop("POWERTOOLS_LOG_LEVEL", None)
    mode = "verbose" if verbose else "quiet"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), mode], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    lines = [json.loads(line) for line in (tmp_path / "ragline.log").read_text().splitlines()]
    assert [(line["service"], line["message"]) for line in lines] == [
        ("ragline-query", "answered"),
        ("ragline-up", "1 message(s) failed and will be redelivered"),
    ]
    assert lines[0]["doc_id"] == "d1"
    on_terminal = [json.loads(line)["message"] for line in result.stderr.splitlines()]
    assert on_terminal == ([line["message"] for line in lines] if verbose else [])
