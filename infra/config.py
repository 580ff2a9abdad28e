"""The deployment's settings, read from CDK context (``cdk.json``, or ``cdk deploy -c key=value``).

Every key is ``ragline:<name>``; :data:`DEFAULTS` holds the defaults, and ``cdk.json`` repeats them so
that they are visible (a test keeps the two equal). Values given with ``-c`` on the command line arrive as
strings, so every reader below also accepts a string: ``true``/``false``, a number, a JSON list or a
comma-separated list, a JSON object.

Example:
    cdk deploy -c ragline:serverless=true -c ragline:groups=admin,everyone,finance
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from constructs import Node

PREFIX = "ragline:"
#: The range the reconcile function's settings accept for RAGLINE_SYNC_MAX_DELETE_SHARE (ragline.settings).
SYNC_MAX_DELETE_SHARE_RANGE = (0.01, 1.0)

DEFAULTS: dict[str, Any] = {
    # The CloudFormation stack; also the base of the names policies must know in advance (lowercased).
    "stack_name": "Ragline",
    # Vector store: a managed OpenSearch domain (false) or an OpenSearch Serverless collection (true).
    "serverless": False,
    # Unit tests set it: the layer is the plain source folder instead of the pip-built layer.
    "skip_bundling": False,
    # Run the cdk-nag AwsSolutions checks on every synth (a violation fails the synth).
    "nag": True,
    # Bedrock models: the ids become foundation-model ARNs in the function policies.
    "embed_model": "amazon.titan-embed-text-v2:0",
    "embed_dimensions": 1024,
    # Other embedding models the functions may call: those ragline reindex builds a new index with
    # (docs/operations.md). Deploy with the new one listed before `ragline reindex start`.
    "reindex_models": [],
    "generator_model": "anthropic.claude-3-haiku-20240307-v1:0",
    # Who writes the answers: "bedrock" (generator_model) or "openai", an OpenAI-compatible chat model at
    # openai_base_url (https) named openai_model, with its API key in the Secrets Manager secret
    # openai_api_key_secret (a name or a complete ARN; "" makes one to put the key in after deploying).
    "generator": "bedrock",
    "openai_base_url": "",
    "openai_model": "",
    "openai_api_key_secret": "",
    # A Bedrock reranking model (e.g. cohere.rerank-v3-5:0) turns on hybrid+rerank retrieval; "" for none.
    "rerank_model": "",
    # Cognito groups are the roles of the callers; the admin group sees every document's status.
    "groups": ["admin", "everyone"],
    "admin_group": "admin",
    # Documents' roles when they name none: prefix policy and default roles (empty: none).
    "prefix_roles": {},
    "default_roles": [],
    # The managed domain: OpenSearch 2.19 or later (see MIN_ENGINE_VERSION). One data node has no zone
    # awareness and its index no replica; more nodes spread over 2 zones (an even count) or 3 (a multiple of 3).
    "instance_type": "t3.small.search",
    "data_nodes": 1,
    "volume_gib": 10,
    "engine_version": "OpenSearch_2.19",
    # The Serverless collection: standby replicas double the OCUs (and the cost).
    "standby_replicas": False,
    "index": "ragline-chunks",
    # The ingest function's concurrency (reserved, and the SQS poller's maximum); 0 reserves none.
    "ingest_concurrency": 4,
    # API stage throttling (requests per second, burst).
    "throttle_rate": 20,
    "throttle_burst": 40,
    "log_retention_days": 30,
    # An e-mail address subscribed to the alarm topic ("" for none).
    "alarm_email": "",
    # The hosted sign-in page's address, https://<prefix>.auth.<region>.amazoncognito.com, unique in the
    # Region across all of AWS; "" derives one from the stack (ragline-<the start of the stack's id>).
    "auth_domain_prefix": "",
    # An existing S3 bucket to adopt as the documents bucket ("" creates one). The stack adds its
    # notifications and a TLS-only statement to it and never deletes it (docs/deploy.md).
    "bucket": "",
    # The scheduled reconcile of bucket, registry and index, every this many hours; 0 runs none.
    "sync_interval_hours": 24,
    # The largest share of the indexed documents one reconcile may remove (the mass-deletion guard).
    "sync_max_delete_share": 0.2,
}


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    return int(value)


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    return float(value)


def _list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else text.split(",")
    return tuple(str(item).strip() for item in value if str(item).strip())


def _mapping(value: Any) -> dict[str, tuple[str, ...]]:
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return {str(prefix): _list(roles) for prefix, roles in value.items()}


# Who writes the answers on AWS: a model on Bedrock, or one behind an OpenAI-compatible API.
GENERATORS = ("bedrock", "openai")

# The oldest OpenSearch the adapter runs on: faiss filtering inside the k-NN search, with the filter rewritten
# the same way on every shard, is right from 2.19 (docs/deploy.md, "OpenSearch version and collection type").
MIN_ENGINE_VERSION = (2, 19)
_ENGINE_VERSION = re.compile(r"^OpenSearch_(\d+)\.(\d+)$")
# gp3 volumes start at 10 GiB on OpenSearch Service.
MIN_VOLUME_GIB = 10

# The values CloudWatch Logs accepts for a retention.
RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

# Stricter than Cognito (which allows commas and brackets): API Gateway's REST authorizer hands a caller's
# groups to the function as one string, "a,b", so a group named "contractors,admin" would read as two.
# The same pattern as the roles a document may carry (ragline.access.ROLE_PATTERN).
_GROUP_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

# What Cognito accepts as a domain prefix: lower-case letters, digits and inner hyphens, and none of its
# reserved words.
_DOMAIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_RESERVED_IN_DOMAIN_PREFIX = ("aws", "amazon", "cognito")

# S3's general purpose bucket names: 3 to 63 lower-case letters, digits, dots and hyphens, a letter or digit
# at both ends, no two dots in a row, not an IP address, and none of the prefixes and suffixes S3 reserves.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


@dataclass(frozen=True)
class Config:
    stack_name: str
    serverless: bool
    skip_bundling: bool
    nag: bool
    embed_model: str
    embed_dimensions: int
    reindex_models: tuple[str, ...]
    generator_model: str
    generator: str
    openai_base_url: str
    openai_model: str
    openai_api_key_secret: str
    rerank_model: str
    groups: tuple[str, ...]
    admin_group: str
    prefix_roles: Mapping[str, tuple[str, ...]]
    default_roles: tuple[str, ...]
    instance_type: str
    data_nodes: int
    volume_gib: int
    engine_version: str
    standby_replicas: bool
    index: str
    ingest_concurrency: int
    throttle_rate: int
    throttle_burst: int
    log_retention_days: int
    alarm_email: str
    auth_domain_prefix: str
    bucket: str
    sync_interval_hours: int
    sync_max_delete_share: float

    @classmethod
    def from_context(cls, get: Any) -> Config:
        """``get(key)`` returns the context value of ``ragline:<key>``, or None when it is not set."""

        def value(key: str) -> Any:
            found = get(PREFIX + key)
            return DEFAULTS[key] if found is None else found

        config = cls(
            stack_name=str(value("stack_name")),
            serverless=_bool(value("serverless")),
            skip_bundling=_bool(value("skip_bundling")),
            nag=_bool(value("nag")),
            embed_model=str(value("embed_model")),
            embed_dimensions=_int(value("embed_dimensions")),
            reindex_models=_list(value("reindex_models")),
            generator_model=str(value("generator_model")),
            generator=str(value("generator")).strip(),
            openai_base_url=str(value("openai_base_url")).strip(),
            openai_model=str(value("openai_model")).strip(),
            openai_api_key_secret=str(value("openai_api_key_secret")).strip(),
            rerank_model=str(value("rerank_model")).strip(),
            groups=_list(value("groups")),
            admin_group=str(value("admin_group")),
            prefix_roles=_mapping(value("prefix_roles")),
            default_roles=_list(value("default_roles")),
            instance_type=str(value("instance_type")),
            data_nodes=_int(value("data_nodes")),
            volume_gib=_int(value("volume_gib")),
            engine_version=str(value("engine_version")),
            standby_replicas=_bool(value("standby_replicas")),
            index=str(value("index")),
            ingest_concurrency=_int(value("ingest_concurrency")),
            throttle_rate=_int(value("throttle_rate")),
            throttle_burst=_int(value("throttle_burst")),
            log_retention_days=_int(value("log_retention_days")),
            alarm_email=str(value("alarm_email")).strip(),
            auth_domain_prefix=str(value("auth_domain_prefix")).strip(),
            bucket=str(value("bucket")).strip(),
            sync_interval_hours=_int(value("sync_interval_hours")),
            sync_max_delete_share=_float(value("sync_max_delete_share")),
        )
        config.validate()
        return config

    @classmethod
    def of(cls, node: Node) -> Config:
        return cls.from_context(node.try_get_context)

    def validate(self) -> None:
        if not self.groups:
            raise ValueError("ragline:groups names no group")
        for group in self.groups:
            if not _GROUP_NAME.match(group):
                raise ValueError(
                    f"ragline:groups: {group!r} is not a valid group name (1 to 64 letters, digits or _ . : -; "
                    "no commas, spaces or brackets, which would split it in the authorizer's claims)"
                )
        if self.admin_group not in self.groups:
            raise ValueError(f"ragline:admin_group {self.admin_group!r} is not one of ragline:groups {self.groups}")
        if self.ingest_concurrency == 1 or self.ingest_concurrency < 0:
            # The SQS event source's maximum concurrency is at least 2; 0 means "no reservation".
            raise ValueError("ragline:ingest_concurrency must be 0 (no reservation) or at least 2")
        self._validate_domain()
        self._validate_generator()
        if self.log_retention_days not in RETENTION_DAYS:
            raise ValueError(f"ragline:log_retention_days must be one of {RETENTION_DAYS}")
        if self.throttle_rate < 1 or self.throttle_burst < 1:
            raise ValueError("ragline:throttle_rate and ragline:throttle_burst must be positive")
        self._validate_domain_prefix()
        self._validate_bucket()
        self._validate_sync()

    @property
    def availability_zones(self) -> int:
        """The zones the domain's data nodes spread over: 1 for one node, else 3 when they divide by 3, else 2."""
        if self.data_nodes == 1:
            return 1
        return 3 if self.data_nodes % 3 == 0 else 2

    @property
    def index_replicas(self) -> int:
        """The index's replicas: none on one node (a replica could go nowhere: a yellow cluster), else one."""
        return 0 if self.data_nodes == 1 else 1

    def _validate_domain(self) -> None:
        """What OpenSearch Service would refuse at deploy time, or the adapter could not run on, refused now."""
        if self.data_nodes < 1:
            raise ValueError("ragline:data_nodes must be at least 1")
        if self.data_nodes > 1 and self.data_nodes % 2 and self.data_nodes % 3:
            raise ValueError(
                f"ragline:data_nodes {self.data_nodes} does not divide over the availability zones: with zone "
                "awareness OpenSearch Service needs an even count over 2 zones or a multiple of 3 over 3 (use "
                f"{self.data_nodes - 1} or {self.data_nodes + 1})"
            )
        match = _ENGINE_VERSION.match(self.engine_version)
        if not match:
            raise ValueError(f"ragline:engine_version {self.engine_version!r} is not OpenSearch_<major>.<minor>")
        if (int(match[1]), int(match[2])) < MIN_ENGINE_VERSION:
            raise ValueError(
                f"ragline:engine_version {self.engine_version!r} is older than OpenSearch_2.19, which the adapter "
                "needs (faiss filters inside the k-NN search, rewritten consistently on every shard)"
            )
        if not self.instance_type.endswith(".search"):
            raise ValueError(
                f"ragline:instance_type {self.instance_type!r} is not an OpenSearch Service type (*.search)"
            )
        if self.volume_gib < MIN_VOLUME_GIB:
            raise ValueError(f"ragline:volume_gib must be at least {MIN_VOLUME_GIB} (the smallest gp3 volume)")

    def _validate_generator(self) -> None:
        """An OpenAI-compatible server is reached over the internet (the query function is in no VPC), with
        the API key and the passages a caller may read: HTTPS only."""
        if self.generator not in GENERATORS:
            raise ValueError(f"ragline:generator {self.generator!r} is not one of {', '.join(GENERATORS)}")
        if self.generator != "openai":
            return
        url = urlsplit(self.openai_base_url)
        if url.scheme != "https" or not url.hostname or "@" in url.netloc or url.query or url.fragment:
            raise ValueError(
                "ragline:generator 'openai' needs ragline:openai_base_url, https://host[/path] (no user, password "
                "or query): the query function sends it the API key and passages over the internet"
            )
        if not self.openai_model:
            raise ValueError("ragline:generator 'openai' needs ragline:openai_model, the model's name on that server")

    def _validate_domain_prefix(self) -> None:
        prefix = self.auth_domain_prefix
        if not prefix:
            return
        if not _DOMAIN_PREFIX.match(prefix):
            raise ValueError(
                f"ragline:auth_domain_prefix {prefix!r} is not a Cognito domain prefix (1 to 63 lower-case "
                "letters, digits and hyphens, not starting or ending with a hyphen)"
            )
        reserved = [word for word in _RESERVED_IN_DOMAIN_PREFIX if word in prefix]
        if reserved:
            raise ValueError(f"ragline:auth_domain_prefix {prefix!r} contains {reserved[0]!r}, which Cognito reserves")

    def _validate_bucket(self) -> None:
        name = self.bucket
        if not name:
            return
        reserved = name.startswith(_RESERVED_BUCKET_PREFIXES) or name.endswith(_RESERVED_BUCKET_SUFFIXES)
        if not _BUCKET_NAME.match(name) or ".." in name or _IP_ADDRESS.match(name) or reserved:
            raise ValueError(
                f"ragline:bucket {name!r} is not an S3 bucket name (3 to 63 lower-case letters, digits, dots and "
                "hyphens, a letter or digit at both ends, no '..', not an IP address, no prefix or suffix S3 "
                "reserves such as xn-- or -s3alias)"
            )

    def _validate_sync(self) -> None:
        if self.sync_interval_hours < 0:
            raise ValueError("ragline:sync_interval_hours must be 0 (no scheduled reconcile) or a number of hours")
        # The reconcile function's own bounds of RAGLINE_SYNC_MAX_DELETE_SHARE: a share it refuses would fail
        # its every cold start (tests/infra/test_config.py holds the two to the same range).
        low, high = SYNC_MAX_DELETE_SHARE_RANGE
        if not low <= self.sync_max_delete_share <= high:
            raise ValueError(
                f"ragline:sync_max_delete_share must be in [{low}, {high}], a share of the indexed documents, not "
                f"{self.sync_max_delete_share!r}"
            )
