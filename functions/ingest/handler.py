"""Ingest function: an SQS batch of S3 notifications -> documents indexed or deleted.

Each SQS message is one S3 event notification. A message whose processing raises (a transient error, or a
malformed message) is reported as a batch item failure, so SQS redelivers it and, after the queue's limit,
moves it to the dead-letter queue. A document that cannot be parsed is not an error here: it is recorded
as ``failed`` in the registry, and the message succeeds. Once the function's remaining time runs short, the
records not yet started are left for redelivery rather than cut off half done.

The settings are read at import, in Lambda's init phase: a bad one fails the cold start with a
``ConfigurationError`` in the logs, before any message is taken (docs/architecture.md, "Configuration").
"""

from __future__ import annotations

import functools
import json

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from ragline.errors import TransientError
from ragline.factory import (
    build_embedder,
    build_index_router,
    build_objects,
    build_queue,
    build_registry,
    build_store,
)
from ragline.ingest import IngestConfig, Ingestor, ObjectEvent
from ragline.settings import Settings

logger = Logger(service="ragline-ingest")
settings = Settings.from_env()
# Report failures item by item even when the whole batch fails, rather than failing the invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@functools.cache
def ingestor() -> Ingestor:
    """Built on first use and kept for the life of the execution environment."""
    embedder = build_embedder(settings)
    store = build_store(settings, embedder.dimension, create_index=True)
    return Ingestor(
        objects=build_objects(settings),
        registry=build_registry(settings),
        store=store,
        embedder=embedder,
        config=IngestConfig.from_settings(settings),
        # Every change goes to each index the catalog names (the live one, one being rebuilt).
        indexes=build_index_router(settings, store, embedder, create_index=True),
        # On OpenSearch Serverless each change is settled later, through this function's own queue.
        settles=build_queue(settings) if store.refresh_lag_seconds else None,
    )


class OutOfTime(TransientError):
    """Too little of the invocation is left to start another record: it goes back to the queue."""


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    remaining_ms = lambda_context.get_remaining_time_in_millis()
    if remaining_ms < ingestor().config.ingest_reserve_seconds * 1000:
        raise OutOfTime(f"{remaining_ms} ms left: the record is left for redelivery")
    notification = json.loads(record.body)
    if notification.get("Event") == "s3:TestEvent":
        return  # S3 sends one when the notification is configured
    for s3_record in notification["Records"]:
        event = ObjectEvent.from_s3_record(s3_record)
        # The message id names the lease: a redelivery of this message takes back what a killed attempt held.
        outcome = ingestor().handle(event, owner=record.message_id, remaining_ms=remaining_ms)
        logger.info("applied S3 event", extra={"kind": event.kind, "key": event.key, "outcome": outcome})


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
