"""Loading the Lambda handlers from ``functions/`` and calling them as the Lambda runtime would."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

Handler = Callable[[dict, Any], dict]


def functions_dir() -> Path:
    """``functions/`` of the checkout ragline runs from (an editable install), or ``RAGLINE_FUNCTIONS_DIR``."""
    configured = os.environ.get("RAGLINE_FUNCTIONS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "functions"


def load_function(name: str) -> ModuleType:
    """Import ``functions/<name>/handler.py`` under the module name ``<name>_handler``."""
    path = functions_dir() / name / "handler.py"
    if not path.is_file():
        raise FileNotFoundError(
            f"no Lambda handler at {path}; set RAGLINE_FUNCTIONS_DIR to the repository's functions/"
        )
    spec = importlib.util.spec_from_file_location(f"{name}_handler", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import would: dataclasses look their module up there
    try:
        spec.loader.exec_module(module)  # the init phase: a bad setting raises ConfigurationError here
    except BaseException:
        del sys.modules[spec.name]  # as a failed import does: no half-initialised module is left behind
        raise
    return module


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read. The remaining time
    counts down from ``timeout_seconds`` as on Lambda (which would then stop the function)."""

    function_name: str
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_seconds: float = 300.0
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


class LocalFunction:
    """One Lambda execution environment: it handles one event at a time, as Lambda does."""

    def __init__(self, name: str, timeout_seconds: float = 300.0) -> None:
        self.name = name
        self.timeout_seconds = timeout_seconds
        self.module = load_function(name)
        self._handler: Handler = self.module.lambda_handler
        self._lock = threading.Lock()

    def invoke(self, event: dict) -> dict:
        with self._lock:
            context = LambdaContext(function_name=f"ragline-{self.name}", timeout_seconds=self.timeout_seconds)
            return self._handler(event, context)
