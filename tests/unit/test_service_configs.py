"""The small configs the use cases take: each field read from its setting, the defaults the settings'."""

from __future__ import annotations

from typing import Any

import pytest

from ragline.documents import DocumentsConfig
from ragline.ingest import IngestConfig
from ragline.query import RetrievalConfig
from ragline.settings import Settings


@pytest.mark.parametrize("config", [RetrievalConfig, IngestConfig, DocumentsConfig])
def test_the_defaults_are_the_settings_defaults(config: type[RetrievalConfig | IngestConfig | DocumentsConfig]) -> None:
    assert config.from_settings(Settings()) == config()


def test_retrieval_reads_its_settings() -> None:
    settings = Settings(
        retrieval_mode="bm25",
        candidates=7,
        fusion="rrf",
        dense_weight=0.5,
        lexical_weight=2.0,
        shortlist=9,
        mmr_lambda=0.1,
    )
    assert RetrievalConfig.from_settings(settings) == RetrievalConfig(
        mode="bm25", candidates=7, fusion="rrf", dense_weight=0.5, lexical_weight=2.0, shortlist=9, mmr_lambda=0.1
    )


def test_ingest_reads_its_settings() -> None:
    values: dict[str, Any] = {
        "max_object_bytes": 10,
        "max_chunks": 3,
        "chunking": "fixed",
        "chunk_tokens": 50,
        "chunk_overlap": 5,
        "parent_tokens": 100,
        "prefix_roles": {"public/": ("everyone",)},
        "default_roles": ("staff",),
        "ingest_reserve_seconds": 12,
    }
    assert IngestConfig.from_settings(Settings(**values)) == IngestConfig(**values)


def test_ingest_refuses_what_the_settings_refuse() -> None:
    with pytest.raises(ValueError, match="RAGLINE_CHUNK_OVERLAP"):
        IngestConfig(chunk_tokens=20, chunk_overlap=20)
    with pytest.raises(ValueError, match="RAGLINE_MAX_CHUNKS"):
        IngestConfig(max_chunks=0)


def test_the_documents_api_reads_its_settings() -> None:
    settings = Settings(bucket="docs", max_object_bytes=10, prefix_roles={"hr/": ("hr",)}, default_roles=("staff",))
    assert DocumentsConfig.from_settings(settings) == DocumentsConfig(
        bucket="docs", max_object_bytes=10, prefix_roles={"hr/": ("hr",)}, default_roles=("staff",)
    )
