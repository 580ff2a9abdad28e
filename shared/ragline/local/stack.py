"""``ragline up``: the AWS services (moto server, or LocalStack), the ingest worker and the local API Gateway.

By default the stack starts moto server in-process for S3, SQS and DynamoDB. When the environment variable
``LOCALSTACK_URL`` is set (for example ``http://127.0.0.1:4566``), it uses that LocalStack instead: S3 and
SQS always, DynamoDB when that LocalStack serves it (else moto serves DynamoDB alone). The handlers reach
them through boto3's standard endpoint settings (``AWS_ENDPOINT_URL`` and the per-service
``AWS_ENDPOINT_URL_S3`` / ``_SQS`` / ``_DYNAMODB``), as they would reach AWS.

Example:
    >>> with DevStack(Path(".ragline")) as endpoints:  # doctest: +SKIP
    ...     print(endpoints.api_url)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from ragline.audit import AuditTrail
from ragline.factory import build_audit_log
from ragline.local.endpoints import Endpoints
from ragline.local.gateway import LocalApiGateway
from ragline.local.lambda_runtime import LocalFunction
from ragline.local.lock import HomeLock
from ragline.local.moto_sqs import install_constant_time_retention
from ragline.local.moto_transactions import install_item_rollback
from ragline.local.provision import DEFAULT_QUEUE, provision, teardown
from ragline.local.s3_events import install_sequencers
from ragline.local.tokens import TokenVerifier
from ragline.local.webapp_server import LocalWebApp
from ragline.local.worker import IngestWorker
from ragline.settings import Settings

logger = logging.getLogger(__name__)

INDEX_FILE = "index.sqlite3"
REINDEXED_FILES = "index-r*.sqlite3*"  # ragline reindex's new indexes (ragline.stores.sqlite.admin)
AUDIT_KEY_FILE = "audit.key"  # the HMAC key the audit trail hashes questions with, made on first use
LOCALSTACK_URL = "LOCALSTACK_URL"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # moto and LocalStack take any
# The variables the stack sets for the handlers; stop() gives them back their earlier values.
_STACK_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "RAGLINE_INDEX_PATH",
    "RAGLINE_BUCKET",
    "RAGLINE_REGISTRY_TABLE",
    "RAGLINE_AUDIT_TABLE",
    "RAGLINE_AUDIT_KEY_FILE",
)


class LocalStackUnavailable(RuntimeError):
    """``LOCALSTACK_URL`` is set, but no LocalStack that serves S3 and SQS answers there."""


def check_localstack(url: str, timeout: float = 10.0) -> dict[str, str]:
    """LocalStack's health report (service -> state); raises LocalStackUnavailable when S3 or SQS is off."""
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=timeout) as response:
            services: dict[str, str] = json.loads(response.read()).get("services", {})
    except urllib.error.HTTPError:
        return {}  # something answers, but not LocalStack's health route: the AWS calls will tell
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise LocalStackUnavailable(
            f"{LOCALSTACK_URL}={url} is not reachable ({reason}): start LocalStack (see docs/localstack.md) "
            f"or unset {LOCALSTACK_URL} to run on moto"
        ) from error
    off = [name for name in ("s3", "sqs") if services.get(name) in ("disabled", "error")]
    if off:
        raise LocalStackUnavailable(
            f"the LocalStack at {url} does not serve {' and '.join(off)} ({services.get(off[0])}): "
            f"start it with SERVICES=s3,sqs,dynamodb"
        )
    return services


def serves_dynamodb(url: str, region: str) -> bool:
    """Whether DynamoDB answers at ``url``. LocalStack's needs Java and DynamoDB Local: without them (or with
    DynamoDB left out of its SERVICES) it answers 5xx, and the stack serves DynamoDB from moto instead."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        # LocalStack installs DynamoDB Local on the first call, which can take a while.
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=300),
    )
    try:
        client.list_tables(Limit=1)
    except Exception as error:  # any failure: this endpoint cannot hold the registry
        reason = str(error).split(": ", 1)[-1][:160]
        logger.warning("DynamoDB is not available at %s (%s); moto serves DynamoDB", url, reason)
        return False
    return True


def resource_suffix(home: Path) -> str:
    """Stable for one stack home, different between homes: two stacks (or test runs) on one LocalStack
    never share a bucket, queue or table, and a stack restarted on the same home finds its own."""
    return hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:10]


class DevStack:
    """The local stack. On moto its AWS state lives in moto's memory, so each start begins empty (the index
    too). On LocalStack it also begins empty: its bucket, queues and table are removed and created again at
    start, and removed at stop.

    One stack runs on a home at a time: :meth:`start` first takes the home's lock (:mod:`ragline.local.lock`)
    and raises :class:`~ragline.local.lock.StackAlreadyRunning` while another stack holds it, before touching
    any file there; :meth:`stop` of a stack that never got the lock leaves the home alone."""

    def __init__(self, home: Path, port: int = 0, localstack_url: str | None = None) -> None:
        self.home = home
        self.port = port
        url = os.environ.get(LOCALSTACK_URL, "") if localstack_url is None else localstack_url
        self.localstack_url = url.strip().rstrip("/")
        self._moto: Any = None
        self._worker: IngestWorker | None = None
        self._gateway: LocalApiGateway | None = None
        self._saved_env: dict[str, str | None] | None = None
        self._teardown: tuple[Any, ...] | None = None
        self._lock = HomeLock(home)
        self._locked = False

    def _start_moto(self) -> str:
        from moto.server import ThreadedMotoServer  # local only: never on a Lambda's import path

        install_sequencers()  # S3's events carry sequencers; moto's must too
        install_item_rollback()  # an audit record costs what DynamoDB's would, not a copy of the table
        install_constant_time_retention()  # a receive costs what SQS's would, whatever the queue's depth
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's per-request lines
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        return f"http://{host}:{port}"

    def _set_env(self, values: dict[str, str]) -> None:
        if self._saved_env is None:
            self._saved_env = {name: os.environ.get(name) for name in _STACK_ENV}
        os.environ.update(values)

    def _restore_env(self) -> None:
        for name, value in (self._saved_env or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = None

    def start(self) -> Endpoints:
        self._lock.acquire()  # first: a stack already running here keeps its files
        self._locked = True
        # The index, and those ragline reindex built beside it (index-r1.sqlite3...): the catalog naming them
        # lived in moto, which starts empty.
        for pattern in (INDEX_FILE + "*", REINDEXED_FILES):
            for stale in self.home.glob(pattern):
                stale.unlink()
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        names: dict[str, str] = {}
        queue_name = DEFAULT_QUEUE
        if self.localstack_url:
            check_localstack(self.localstack_url)
            aws_endpoint = s3_endpoint = sqs_endpoint = self.localstack_url
            # A DynamoDB of one's own (DynamoDB Local, say) through boto3's standard variable; else
            # LocalStack's when it serves one, else moto's.
            dynamodb_endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or (
                self.localstack_url if serves_dynamodb(self.localstack_url, region) else self._start_moto()
            )
            # LocalStack outlives the stack: names of this home's own, unless set explicitly.
            suffix = resource_suffix(self.home)
            names = {
                name: os.environ.get(name) or f"{default}-{suffix}"
                for name, default in (
                    ("RAGLINE_BUCKET", Settings.bucket),
                    ("RAGLINE_REGISTRY_TABLE", Settings.registry_table),
                    ("RAGLINE_AUDIT_TABLE", Settings.audit_table),
                )
            }
            queue_name = f"{DEFAULT_QUEUE}-{suffix}"
        else:
            aws_endpoint = s3_endpoint = sqs_endpoint = dynamodb_endpoint = self._start_moto()

        # The handlers read their configuration from the environment, as on Lambda.
        self._set_env(
            {
                "AWS_ENDPOINT_URL": aws_endpoint,
                "AWS_ENDPOINT_URL_S3": s3_endpoint,
                "AWS_ENDPOINT_URL_SQS": sqs_endpoint,
                "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
                **CREDENTIALS,
                "AWS_DEFAULT_REGION": region,
                "RAGLINE_INDEX_PATH": str(self.home / INDEX_FILE),
                "RAGLINE_AUDIT_KEY_FILE": str(self.home / AUDIT_KEY_FILE),
                **names,
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        settings = Settings.from_env()
        session = boto3.session.Session(region_name=settings.region)
        s3, sqs, dynamodb = session.client("s3"), session.client("sqs"), session.client("dynamodb")
        if self.localstack_url:
            # Whatever an earlier run on this home left behind (one that was killed, say) goes first.
            ours = (settings.bucket, settings.registry_table, queue_name, settings.audit_table)
            teardown(s3, sqs, dynamodb, *ours)
            self._teardown = (s3, sqs, dynamodb, *ours)
        resources = provision(s3, sqs, dynamodb, settings, queue_name=queue_name)

        ingest = LocalFunction("ingest")
        query = LocalFunction("query")
        # Load the embedding model in both functions now, not on the first upload or question.
        ingest.module.ingestor().embedder.embed_documents(["warm-up"])
        query.module.services().query.embedder.embed_query("warm-up")
        self._worker = IngestWorker(sqs, resources.queue_url, resources.queue_arn, settings.region, ingest)
        self._worker.start()
        webapp = LocalWebApp(self.home, s3_endpoint)  # the web app at the API's own origin (docs/security.md)
        # The gateway keeps the audit records of the 401s it answers (no question reaches them, none is hashed).
        refusals = AuditTrail(build_audit_log(settings), "omit", None, settings.admin_group)
        self._gateway = LocalApiGateway(query, TokenVerifier(self.home), port=self.port, webapp=webapp, audit=refusals)
        self._gateway.start()

        endpoints = Endpoints(
            api_url=self._gateway.url,
            s3_endpoint=s3_endpoint,
            bucket=settings.bucket,
            region=settings.region,
            registry_table=settings.registry_table,
            queue_url=resources.queue_url,
            dead_letter_queue_url=resources.dead_letter_queue_url,
            embedder=settings.embedder,
            dynamodb_endpoint=dynamodb_endpoint,
        )
        endpoints.write(self.home)
        return endpoints

    def stop(self) -> None:
        if not self._locked:
            return  # another stack's home, or never started: nothing here is ours to remove
        Endpoints.remove(self.home)
        if self._gateway:
            self._gateway.stop()
        if self._worker:
            self._worker.stop()
        if self._teardown:
            try:  # leave the long-lived LocalStack as this stack found it
                teardown(*self._teardown)
            except Exception:
                logger.warning("could not remove this stack's resources from LocalStack", exc_info=True)
            self._teardown = None
        if self._moto:
            self._moto.stop()
        self._restore_env()
        self._lock.release()
        self._locked = False

    def __enter__(self) -> Endpoints:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
