"""Where ``ragline up`` logs: JSON lines to ``DIR/ragline.log``, and to the terminal too with ``--verbose``.

The functions log through Powertools, which writes to stdout by default, as CloudWatch wants it. A shell
running ``ragline up`` wants only the banner there, so the functions' loggers are configured here first,
writing to the log file: Powertools shares one logger per service, so the functions' own
``Logger(service=...)`` then reuses this configuration instead of making a stdout handler of its own.

Example:
    >>> path = log_to_file(Path(".ragline"), verbose=False)  # doctest: +SKIP
    >>> path.name  # doctest: +SKIP
    'ragline.log'
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TextIO

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

LOG_FILE = "ragline.log"
#: The Powertools services of functions/ingest/handler.py and functions/query/handler.py.
FUNCTION_SERVICES = ("ragline-ingest", "ragline-query")
#: The service name of the stack's own log lines (the worker, provisioning).
STACK_SERVICE = "ragline-up"


def _handler(stream: TextIO, formatter: logging.Formatter) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    return handler


def log_to_file(home: Path, verbose: bool = False) -> Path:
    """Send the stack's logs to ``home/ragline.log`` (appended), and to stderr as well when ``verbose``.

    Call it before the stack loads the functions. Returns the log file's path."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOG_FILE
    log_file = path.open("a", encoding="utf-8", buffering=1)  # line-buffered: `tail -f` sees every line
    streams: list[TextIO] = [log_file, sys.stderr] if verbose else [log_file]
    for service in FUNCTION_SERVICES:
        logger = Logger(service=service, logger_handler=logging.StreamHandler(log_file))
        logging.getLogger(service).propagate = False  # else the stack's own handlers write each line again
        for stream in streams[1:]:
            logger.addHandler(_handler(stream, logger.registered_formatter))  # one formatter: the same keys
    # ragline's own modules log through the standard library: the same file, as JSON lines too.
    formatter = LambdaPowertoolsFormatter(service=STACK_SERVICE)
    root = logging.getLogger()
    for stream in streams:
        root.addHandler(_handler(stream, formatter))
    logging.getLogger("ragline").setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO").upper())
    return path
