"""``ragline sync`` on the local stack: the reconcile function run as Lambda would run it, against the
stack's bucket, registry, index and ingest queue, so the local sync is the deployed one, not a copy."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ragline.local.endpoints import Endpoints
from ragline.local.lambda_runtime import LocalFunction
from ragline.local.logs import LOG_FILE
from ragline.local.stack import CREDENTIALS, INDEX_FILE

RECONCILE_TIMEOUT_SECONDS = 900.0  # the deployed function's


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def stack_environment(home: Path, endpoints: Endpoints) -> dict[str, str]:
    """What the reconcile function's environment is on the stack of ``home``: the stack's endpoints and
    resources, as ``cdk deploy`` sets them on AWS."""
    return {
        "AWS_ENDPOINT_URL": endpoints.s3_endpoint,
        "AWS_ENDPOINT_URL_S3": endpoints.s3_endpoint,
        "AWS_ENDPOINT_URL_SQS": endpoints.s3_endpoint,  # the stack serves S3 and SQS on one endpoint
        "AWS_ENDPOINT_URL_DYNAMODB": endpoints.dynamodb_endpoint or endpoints.s3_endpoint,
        **CREDENTIALS,
        "AWS_DEFAULT_REGION": endpoints.region,
        "RAGLINE_BUCKET": endpoints.bucket,
        "RAGLINE_REGISTRY_TABLE": endpoints.registry_table,
        "RAGLINE_EMBEDDER": endpoints.embedder,
        "RAGLINE_INDEX_PATH": str(home / INDEX_FILE),
        "RAGLINE_INGEST_QUEUE_URL": endpoints.queue_url,
    }


def sync(home: Path, prefix: str = "", dry_run: bool = False, allow_mass_delete: bool = False) -> dict[str, Any]:
    """Run the reconcile function once on the stack of ``home``; returns its report (``DriftReport.as_json``)."""
    endpoints = Endpoints.read(home)
    event: dict[str, Any] = {
        "source": "cli",
        "prefix": prefix,
        "dry_run": dry_run,
        "allow_mass_delete": allow_mass_delete,
    }
    # The function logs and publishes its metrics on stdout, as CloudWatch wants; here they join the stack's
    # log, and stdout is left to the CLI's report.
    log = (home / LOG_FILE).open("a", encoding="utf-8")
    with _environment(stack_environment(home, endpoints)), log, contextlib.redirect_stdout(log):
        function = LocalFunction("reconcile", timeout_seconds=RECONCILE_TIMEOUT_SECONDS)
        report = function.invoke(event)
        while report["resume_after"] is not None:  # the next window, as the deployed function invokes itself
            window = function.invoke({**event, "start_after": report["resume_after"]})
            report = merge_reports(report, window)
        return report


def merge_reports(first: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    """Two windows' reports as one: counts and keys added up, the second's position kept."""
    merged = {**then, "drift": {}, "counts": {}}
    for drift, count in first["counts"].items():
        merged["counts"][drift] = count + then["counts"][drift]
        merged["drift"][drift] = first["drift"][drift] + then["drift"][drift]
    for name in ("objects", "indexed", "enqueued"):
        merged[name] = first[name] + then[name]
    merged["withheld"] = first["withheld"] + then["withheld"]
    merged["guard_tripped"] = first["guard_tripped"] or then["guard_tripped"]
    return merged
