"""``ragline up``: moto server, the ingest worker and the local API Gateway, in one process.

Example:
    >>> with DevStack(Path(".ragline")) as endpoints:  # doctest: +SKIP
    ...     print(endpoints.api_url)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import boto3

from ragline.local.endpoints import Endpoints
from ragline.local.gateway import LocalApiGateway
from ragline.local.lambda_runtime import LocalFunction
from ragline.local.provision import provision
from ragline.local.tokens import TokenVerifier
from ragline.local.worker import IngestWorker
from ragline.settings import Settings

INDEX_FILE = "index.sqlite3"


class DevStack:
    """The local stack. Its AWS state lives in moto's memory, so each start begins empty (the index too)."""

    def __init__(self, home: Path, port: int = 0) -> None:
        self.home = home
        self.port = port
        self._moto = None
        self._worker: IngestWorker | None = None
        self._gateway: LocalApiGateway | None = None

    def start(self) -> Endpoints:
        from moto.server import ThreadedMotoServer  # local only: never on a Lambda's import path

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's per-request lines
        self.home.mkdir(parents=True, exist_ok=True)
        for stale in self.home.glob(INDEX_FILE + "*"):
            stale.unlink()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, moto_port = self._moto.get_host_and_port()
        s3_endpoint = f"http://{host}:{moto_port}"

        # The handlers read their configuration from the environment, as on Lambda.
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": s3_endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                "RAGLINE_INDEX_PATH": str(self.home / INDEX_FILE),
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        settings = Settings.from_env()
        session = boto3.session.Session(region_name=settings.region)
        sqs = session.client("sqs")
        resources = provision(session.client("s3"), sqs, session.client("dynamodb"), settings)

        ingest = LocalFunction("ingest")
        query = LocalFunction("query")
        # Load the embedding model in both functions now, not on the first upload or question.
        ingest.module.ingestor().embedder.embed_documents(["warm-up"])
        query.module.services().query.embedder.embed_query("warm-up")
        self._worker = IngestWorker(sqs, resources.queue_url, resources.queue_arn, settings.region, ingest)
        self._worker.start()
        self._gateway = LocalApiGateway(query, TokenVerifier(self.home), port=self.port)
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
        )
        endpoints.write(self.home)
        return endpoints

    def stop(self) -> None:
        Endpoints.remove(self.home)
        if self._gateway:
            self._gateway.stop()
        if self._worker:
            self._worker.stop()
        if self._moto:
            self._moto.stop()

    def __enter__(self) -> Endpoints:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
