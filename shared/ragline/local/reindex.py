"""``ragline reindex`` on the local stack: the command's core (:class:`ragline.reindex.Reindexer`) built on
the endpoints ``ragline up`` wrote, with the stack's index file beside which new ones are made."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import boto3

from ragline.factory import build_index_admin, configured_target, embedding_dimension
from ragline.local.endpoints import Endpoints
from ragline.local.stack import INDEX_FILE
from ragline.ports import IndexAdmin
from ragline.queues.sqs import SqsEventQueue
from ragline.registries.dynamodb import DynamoRegistry
from ragline.registries.index_catalog import DynamoIndexCatalog
from ragline.reindex import Reindexer
from ragline.settings import Settings


def stack_settings(home: Path, settings: Settings) -> Settings:
    """The settings of the stack running on ``home``: its bucket, table, embedder and index file."""
    endpoints = Endpoints.read(home)
    return dataclasses.replace(
        settings,
        bucket=endpoints.bucket,
        registry_table=endpoints.registry_table,
        region=endpoints.region,
        embedder=endpoints.embedder,  # type: ignore[arg-type]
        index_path=str(home / INDEX_FILE),
    )


def stack_reindexer(home: Path, settings: Settings) -> Reindexer:
    """The reindex steps on the stack running on ``home`` (``settings``: :func:`stack_settings`'s)."""
    from ragline.stores.sqlite.admin import SqliteIndexAdmin

    endpoints = Endpoints.read(home)
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=endpoints.region
    )
    dynamodb = session.resource("dynamodb", endpoint_url=endpoints.dynamodb_endpoint or endpoints.s3_endpoint)
    table = dynamodb.Table(endpoints.registry_table)
    sqs = session.client("sqs", endpoint_url=endpoints.s3_endpoint)  # the stack serves S3 and SQS on one endpoint
    admin: IndexAdmin = (
        SqliteIndexAdmin(settings.index_path) if settings.store == "embedded" else build_index_admin(settings)
    )
    return Reindexer(
        DynamoIndexCatalog(table),
        DynamoRegistry(table),
        admin,
        SqsEventQueue(sqs, endpoints.queue_url),
        configured_target(settings, embedding_dimension(settings)),
        settings.bucket,
    )
