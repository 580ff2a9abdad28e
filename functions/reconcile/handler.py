"""Reconcile function: the bucket, the registry and the index compared, and each drift queued for ingest.

Run on a schedule, once at deployment (the backfill of an adopted bucket), and by ``ragline sync`` on the
local stack. The event says what to compare and whether to act; a scheduled or deploy-time event carries
only its ``source``:

    {"source": "schedule" | "deploy" | "cli", "prefix": "hr/", "dry_run": false, "allow_mass_delete": false,
     "start_after": ""}

One invocation compares at most :data:`KEYS_PER_INVOCATION` keys of the listing (a window: its memory and
time stay bounded whatever the bucket's size), then invokes itself, asynchronously, for the next window
from where it stopped (``start_after``); ``ragline sync`` runs the windows one after another instead.

The repairs go through the ingest queue as S3-shaped records (:mod:`ragline.sync`), so this function
writes nothing but messages: it reads the bucket, the registry and the index. The drift is published as
CloudWatch metrics (embedded metric format, namespace ``ragline``): ``DriftFound`` and one
``Drift<Kind>`` each, ``Enqueued``, and ``DeletionsWithheld``, which is above zero when the mass-deletion
guard kept removals back (an alarm watches it).

The settings are read at import: a bad one, or no ``RAGLINE_INGEST_QUEUE_URL``, fails the cold start.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ragline.errors import ConfigurationError
from ragline.factory import (
    build_index_catalog,
    build_objects,
    build_queue,
    build_registry,
    build_store,
    configured_target,
    embedding_dimension,
)
from ragline.indexes import current_indexes
from ragline.ports import IndexCatalog, VectorStore
from ragline.settings import Settings
from ragline.sync import DriftReport, Sync, SyncConfig

logger = Logger(service="ragline-reconcile")
metrics = Metrics(namespace="ragline", service="reconcile")
settings = Settings.from_env()
if not settings.ingest_queue_url:
    raise ConfigurationError("RAGLINE_INGEST_QUEUE_URL is not set: the reconcile function has nowhere to send repairs")
KEYS_SHOWN = 100  # keys of each drift in the log line and the response; the counts are always whole
# About two minutes of listing, scanning and queuing, and a few hundred MB, per window (docs/operations.md).
KEYS_PER_INVOCATION = 200_000


@dataclass(frozen=True)
class SyncRequest:
    """What one invocation asks; anything else in the event is refused, so a typo is not a full sync."""

    source: str = "schedule"
    prefix: str = ""
    dry_run: bool = False
    allow_mass_delete: bool = False
    start_after: str = ""

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> SyncRequest:
        unknown = sorted(set(event) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown fields in the reconcile event: {', '.join(unknown)}")
        request = cls(**event)
        for name in ("source", "prefix", "start_after"):
            if not isinstance(getattr(request, name), str):
                raise ValueError(f"{name} must be a string")
        for name in ("dry_run", "allow_mass_delete"):
            if not isinstance(getattr(request, name), bool):
                raise ValueError(f"{name} must be true or false")
        return request


@functools.cache
def parts() -> tuple[Any, ...]:
    """The adapters, built on first use and kept for the life of the execution environment."""
    return build_objects(settings), build_registry(settings), build_index_catalog(settings), build_queue(settings)


@functools.cache
def lambda_client() -> Any:
    import boto3

    return boto3.client("lambda", region_name=settings.region)


@functools.cache
def store_of(index: str, dimension: int) -> VectorStore:
    """One index, opened once: a sync compares the bucket with the index readers see, which a reindex's
    switch changes (docs/operations.md)."""
    return build_store(settings, dimension, index=index)


def live_store(catalog: IndexCatalog) -> VectorStore:
    live = current_indexes(catalog, configured_target(settings, embedding_dimension(settings))).live
    return store_of(live.index, live.dimension)


def publish(report: DriftReport) -> None:
    metrics.add_metric(name="DriftFound", unit=MetricUnit.Count, value=report.total)
    for drift, count in report.counts().items():
        metrics.add_metric(name=f"Drift{drift.capitalize()}", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name="Enqueued", unit=MetricUnit.Count, value=report.enqueued)
    metrics.add_metric(name="DeletionsWithheld", unit=MetricUnit.Count, value=len(report.withheld))


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = SyncRequest.from_event(event or {})
    objects, registry, catalog, queue = parts()
    store = live_store(catalog)
    config = SyncConfig.from_settings(settings, allow_mass_delete=request.allow_mass_delete)
    sync = Sync(objects, registry, store, queue, config)
    report = sync.run(
        settings.bucket,
        request.prefix,
        request.dry_run,
        start_after=request.start_after,
        max_objects=KEYS_PER_INVOCATION,
    )
    publish(report)
    if report.resume_after is not None and request.source != "cli":
        next_window = {**dataclasses.asdict(request), "start_after": report.resume_after}
        lambda_client().invoke(
            FunctionName=context.invoked_function_arn, InvocationType="Event", Payload=json.dumps(next_window)
        )
    summary = report.as_json(keys_shown=KEYS_SHOWN)
    if report.withheld:
        logger.error("mass-deletion guard: removals withheld", extra={"source": request.source, **summary})
    else:
        logger.info("sync done", extra={"source": request.source, **summary})
    return summary
