"""Builds the adapters named by the settings. The only place that knows which adapter is which.

The names were checked when the settings were made (:mod:`ragline.settings`); the ``unknown`` errors below
are for a name added to a choice without an adapter here.

Heavy modules (onnxruntime, numpy, opensearch-py) are imported only when their adapter is chosen, so a
Lambda function pays only for what it uses.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from ragline.errors import ConfigurationError
from ragline.indexes import IndexRouter, IndexTarget, OpenTarget
from ragline.ports import (
    AuditLog,
    Embedder,
    EventQueue,
    Generator,
    IndexAdmin,
    IndexCatalog,
    ObjectStore,
    Registry,
    Reranker,
    VectorStore,
)
from ragline.settings import EMBEDDERS, GENERATORS, RERANKERS, STORES, Settings

if TYPE_CHECKING:  # ragline.reindex imports ingest's modules, which the query function does not load
    from ragline.reindex import Reindexer


def build_embedder(settings: Settings) -> Embedder:
    if settings.embedder == "hash":
        from ragline.embedders.hashing import HashEmbedder

        return HashEmbedder()
    if settings.embedder == "local":
        from ragline.embedders.local import LocalEmbedder

        return LocalEmbedder()
    if settings.embedder == "bedrock":
        from ragline.embedders.bedrock import BedrockEmbedder

        # One pooled connection per request in flight; botocore keeps 10 by default and drops the rest.
        pool = Config(max_pool_connections=max(10, settings.embed_concurrency))
        return BedrockEmbedder(
            boto3.client("bedrock-runtime", region_name=settings.region, config=pool),
            model_id=settings.embed_model,
            dimensions=settings.embed_dimensions,
            concurrency=settings.embed_concurrency,
        )
    raise ValueError(f"unknown RAGLINE_EMBEDDER {settings.embedder!r}; one of {', '.join(EMBEDDERS)}")


def embedding_dimension(settings: Settings) -> int:
    """The length of the configured embedder's vectors, without loading a local model (a reader of the
    index, such as a sync, needs the store's dimension but embeds nothing)."""
    if settings.embedder == "local":
        from ragline.embedders.local import LocalEmbedder

        return LocalEmbedder.dimension
    return build_embedder(settings).dimension


def build_store(settings: Settings, dimension: int, create_index: bool = False, index: str = "") -> VectorStore:
    """``create_index``: make the OpenSearch index if missing (the ingest function does; the query
    function needs no right to). ``index``: another index than the settings' (an :class:`IndexTarget`'s:
    an OpenSearch index name, or a SQLite file's path)."""
    if settings.store == "embedded":
        from ragline.stores.sqlite import SqliteStore

        return SqliteStore(index or settings.index_path, dimension)
    if settings.store == "opensearch":
        from ragline.stores.opensearch import OpenSearchStore, connect, is_serverless_url
        from ragline.stores.opensearch.connection import INGEST_BUDGET, QUERY_BUDGET

        # The ingest function creates the index; the query function, with its 29 s deadline, only searches.
        budget = INGEST_BUDGET if create_index else QUERY_BUDGET
        service = settings.opensearch_service
        client = connect(settings.opensearch_url, region=settings.region, service=service, timeout=budget.timeout)
        serverless = service == "aoss" if service else is_serverless_url(settings.opensearch_url)
        store = OpenSearchStore(
            client,
            index or settings.opensearch_index,
            dimension,
            serverless=serverless,
            engine=settings.opensearch_engine,
            replicas=settings.opensearch_replicas,
            retry=budget.retry,
        )
        if create_index:
            store.ensure_index()
        if serverless:
            from ragline.stores.registry_checked import RegistryCheckedStore

            # Its searches answer from before the last refresh: each hit is checked against the registry.
            return RegistryCheckedStore(store, build_registry(settings))
        return store
    raise ValueError(f"unknown RAGLINE_STORE {settings.store!r}; one of {', '.join(STORES)}")


def configured_target(settings: Settings, dimension: int) -> IndexTarget:
    """The index and model the settings name (vectors of ``dimension``): the live one while there is no
    index catalog."""
    index = settings.opensearch_index if settings.store == "opensearch" else settings.index_path
    model = settings.embed_model if settings.embedder == "bedrock" else ""
    return IndexTarget(index, settings.embedder, model, dimension)


def build_target_embedder(settings: Settings, target: IndexTarget) -> Embedder:
    """The embedder of a target: its adapter, model and dimension (checked against what the model gives)."""
    if target.embedder == "hash":
        from ragline.embedders.hashing import HashEmbedder

        return HashEmbedder(target.dimension)
    changes: dict[str, object] = {"embedder": target.embedder}
    if target.embedder == "bedrock":
        changes.update(embed_model=target.model, embed_dimensions=target.dimension)
    embedder = build_embedder(dataclasses.replace(settings, **changes))  # type: ignore[arg-type]
    if embedder.dimension != target.dimension:
        raise ValueError(f"{target.describe()}: the model gives {embedder.dimension} dimensions")
    return embedder


def build_index_catalog(settings: Settings) -> IndexCatalog:
    from ragline.registries.index_catalog import DynamoIndexCatalog

    table = boto3.resource("dynamodb", region_name=settings.region).Table(settings.registry_table)
    return DynamoIndexCatalog(table)


def build_index_router(
    settings: Settings, store: VectorStore, embedder: Embedder, create_index: bool = False
) -> IndexRouter:
    """The catalog's indexes, each opened on first use; the settings' own as ``store`` and ``embedder``."""
    configured = configured_target(settings, embedder.dimension)

    def open_target(target: IndexTarget) -> OpenTarget:
        target_store = build_store(settings, target.dimension, create_index=create_index, index=target.index)
        return OpenTarget(target, target_store, build_target_embedder(settings, target))

    return IndexRouter(build_index_catalog(settings), open_target, configured, OpenTarget(configured, store, embedder))


def build_index_admin(settings: Settings) -> IndexAdmin:
    """The store's physical indexes, for ``ragline reindex``: OpenSearch indexes behind the configured
    name as an alias, or SQLite files beside the configured one."""
    if settings.store == "embedded":
        from ragline.stores.sqlite.admin import SqliteIndexAdmin

        return SqliteIndexAdmin(settings.index_path)
    from ragline.stores.opensearch import OpenSearchStore, connect, is_serverless_url
    from ragline.stores.opensearch.admin import OpenSearchIndexAdmin
    from ragline.stores.opensearch.connection import INGEST_BUDGET

    service = settings.opensearch_service
    client = connect(settings.opensearch_url, region=settings.region, service=service, timeout=INGEST_BUDGET.timeout)
    serverless = service == "aoss" if service else is_serverless_url(settings.opensearch_url)

    def open_store(target: IndexTarget) -> OpenSearchStore:
        return OpenSearchStore(
            client,
            target.index,
            target.dimension,
            serverless=serverless,
            engine=settings.opensearch_engine,
            replicas=settings.opensearch_replicas,
            retry=INGEST_BUDGET.retry,
        )

    return OpenSearchIndexAdmin(client, settings.opensearch_index, open_store, INGEST_BUDGET.retry, serverless)


def model_target(settings: Settings, embedder: str, model: str = "", dimensions: int | None = None) -> IndexTarget:
    """The target of a model (its index still unnamed): ``model`` and ``dimensions`` default to the
    settings' for Bedrock, the hash embedder's own dimension for it, the local model's fixed one."""
    if embedder == "hash":
        from ragline.embedders.hashing import HashEmbedder

        return IndexTarget("", "hash", "", dimensions or HashEmbedder().dimension)
    if embedder == "bedrock":
        dimension = dimensions or settings.embed_dimensions
        target = IndexTarget("", "bedrock", model or settings.embed_model, dimension)
    else:
        local = build_embedder(dataclasses.replace(settings, embedder=embedder))  # type: ignore[arg-type]
        target = IndexTarget("", embedder, "", dimensions or local.dimension)
    build_target_embedder(settings, target)  # refuses a model and dimension that do not go together
    return target


def build_reindexer(settings: Settings, queue: EventQueue) -> Reindexer:
    """``ragline reindex``'s steps on the deployment the settings name; backfill records go to ``queue``."""
    from ragline.reindex import Reindexer

    return Reindexer(
        build_index_catalog(settings),
        build_registry(settings),
        build_index_admin(settings),
        queue,
        configured_target(settings, embedding_dimension(settings)),
        settings.bucket,
    )


def build_generator(settings: Settings, embedder: Embedder | None = None) -> Generator:
    """``embedder``: the one the query service embeds questions with, shared rather than loaded twice."""
    if settings.generator == "extractive":
        from ragline.generators.extractive import ExtractiveGenerator

        # Its weights were fitted on the local model's similarities; the hash embedder's are noise, and
        # Bedrock's would cost a call per sentence, so only the local model lends the extractive one a hand.
        return ExtractiveGenerator(embedder=embedder if settings.embedder == "local" else None)
    if settings.generator == "bedrock":
        from ragline.generators.bedrock import BedrockGenerator

        return BedrockGenerator(
            boto3.client("bedrock-runtime", region_name=settings.region),
            model_id=settings.generator_model,
            max_tokens=settings.max_answer_tokens,
        )
    if settings.generator == "openai":
        from ragline.generators.openai import OpenAIChatGenerator, api_key_from_secret

        api_key = settings.openai_api_key
        if settings.openai_api_key_secret:  # on AWS: read here, once per execution environment
            secrets = boto3.client("secretsmanager", region_name=settings.region)
            api_key = api_key_from_secret(secrets, settings.openai_api_key_secret)
        return OpenAIChatGenerator(
            settings.openai_base_url,
            settings.openai_model,
            api_key=api_key or None,
            max_tokens=settings.max_answer_tokens,
            timeout=settings.openai_timeout_seconds,
        )
    raise ValueError(f"unknown RAGLINE_GENERATOR {settings.generator!r}; one of {', '.join(GENERATORS)}")


def build_reranker(settings: Settings) -> Reranker | None:
    if settings.reranker == "none":
        return None
    if settings.reranker == "bedrock":
        from ragline.rerankers.bedrock import BedrockReranker

        return BedrockReranker(
            boto3.client("bedrock-agent-runtime", region_name=settings.region),
            model_id=settings.rerank_model,
            region=settings.region,
        )
    if settings.reranker == "proximity":
        from ragline.rerankers.proximity import ProximityReranker

        return ProximityReranker()
    raise ValueError(f"unknown RAGLINE_RERANKER {settings.reranker!r}; one of {', '.join(RERANKERS)}")


def build_registry(settings: Settings) -> Registry:
    from ragline.registries.dynamodb import DynamoRegistry

    table = boto3.resource("dynamodb", region_name=settings.region).Table(settings.registry_table)
    return DynamoRegistry(table)


def build_objects(settings: Settings) -> ObjectStore:
    from ragline.objectstores.s3 import S3ObjectStore

    return S3ObjectStore(boto3.client("s3", region_name=settings.region))


def build_queue(settings: Settings) -> EventQueue:
    """The ingest queue (``RAGLINE_INGEST_QUEUE_URL``), where a sync puts its repairs and ingest the settles
    of a document on OpenSearch Serverless."""
    from ragline.queues.sqs import SqsEventQueue

    if not settings.ingest_queue_url:
        raise ConfigurationError(
            "RAGLINE_INGEST_QUEUE_URL is not set: no ingest queue to put a sync's repairs or a delayed settle on"
        )
    return SqsEventQueue(boto3.client("sqs", region_name=settings.region), settings.ingest_queue_url)


def build_audit_log(settings: Settings) -> AuditLog:
    from ragline.auditlogs.dynamodb import DynamoAuditLog

    table = boto3.resource("dynamodb", region_name=settings.region).Table(settings.audit_table)
    return DynamoAuditLog(table, retention_days=settings.audit_retention_days)


def build_audit_key(settings: Settings) -> bytes | None:
    """The key questions are hashed with: from the secret when one is named, else from the key file; None
    when questions are not hashed."""
    from pathlib import Path

    from ragline.auditlogs.keys import key_from_file, key_from_secret

    if settings.audit_questions != "hash":
        return None
    if settings.audit_key_secret:
        client = boto3.client("secretsmanager", region_name=settings.region)
        return key_from_secret(client, settings.audit_key_secret)
    return key_from_file(Path(settings.audit_key_file))
