"""Connecting to OpenSearch: a client for a URL, and the requests about one index, retried.

:func:`connect` reads the authentication off the URL: SigV4 for Amazon OpenSearch Service (``es``) and
Serverless (``aoss``) endpoints, HTTP basic auth for ``https://user:password@host``, none otherwise.
:class:`IndexClient` sends every request about one index through a :class:`~ragline.retry.RetryPolicy`,
trying again what :func:`is_retryable` calls transient.

Retries have one owner, the policy: the client :func:`connect` makes has opensearch-py's own transport
retries off (``max_retries=0``, ``retry_on_timeout=False``), so a timeout is one attempt, not four.
:data:`QUERY_BUDGET` and :data:`INGEST_BUDGET` pair the client's per-request timeout with a policy whose
attempts all end inside the function that sends them (docs/deploy.md, "Time budgets").

``opensearchpy`` is imported inside the functions that need it, so importing this module does not.

    >>> is_serverless_url("https://abc123.eu-west-1.aoss.amazonaws.com")
    True
    >>> is_serverless_url("https://search-docs-xyz.us-east-2.es.amazonaws.com")
    False
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import SplitResult, unquote, urlsplit

from ragline.retry import RetryPolicy
from ragline.settings import OPENSEARCH_SERVICES

if TYPE_CHECKING:  # pragma: no cover
    from opensearchpy import OpenSearch

T = TypeVar("T")

_AWS_HOST = re.compile(r"\.amazonaws\.com(?:\.cn)?$")
_AWS_REGION = re.compile(r"\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.(?:aoss|es)\.amazonaws\.com(?:\.cn)?$")


@dataclass(frozen=True)
class Budget:
    """How long one request may take (``timeout``, the client's) and how it is retried (``retry``)."""

    timeout: float
    retry: RetryPolicy


#: The query function (30 s, behind API Gateway's 29 s) sends up to three requests (the k-NN search, then
#: BM25's counts and its search), counted as if one after the other: each gets 3 s an attempt and at most
#: 6.5 s in all (two timed-out attempts fit), so all end inside 20 s, with room for the embedding and the
#: answer.
QUERY_BUDGET = Budget(
    timeout=3.0, retry=RetryPolicy(attempts=3, base_delay=0.2, max_delay=1.0, budget=6.5, attempt_seconds=3.0)
)
#: The ingest function (2 minutes) writes bulk batches: 10 s an attempt (two timed-out attempts fit), at most
#: 30 s for any one request,
#: the ingest function's default reserve (``RAGLINE_INGEST_RESERVE_SECONDS``): it starts no record with less
#: left, so the record's first request ends inside the function's timeout.
INGEST_BUDGET = Budget(
    timeout=10.0, retry=RetryPolicy(attempts=6, base_delay=0.5, max_delay=8.0, budget=30.0, attempt_seconds=10.0)
)


def is_serverless_url(url: str) -> bool:
    """Whether ``url`` is an Amazon OpenSearch Serverless collection endpoint (``*.aoss.amazonaws.com``)."""
    return _is_serverless_host(urlsplit(url).hostname or "")


def _is_serverless_host(host: str) -> bool:
    return bool(_AWS_HOST.search(host)) and ".aoss." in f".{host}"


def connect(
    url: str,
    *,
    region: str | None = None,
    service: str | None = None,
    credentials: Any = None,
    timeout: float = 30.0,
    **client_options: Any,
) -> OpenSearch:
    """An ``opensearchpy.OpenSearch`` client for ``url``, authenticated by what the URL says.

    - ``service`` given (``"es"`` for a managed domain, ``"aoss"`` for Serverless), or no credentials in
      the URL and an ``*.amazonaws.com`` host: requests are signed with SigV4 using ``credentials`` or
      else boto3's default chain (the Lambda role). The service and region are read from the host when
      not given (``*.aoss.amazonaws.com`` is ``aoss``, otherwise ``es``).
    - ``https://user:password@host``: HTTP basic auth (the password never reaches the client's host list).
    - otherwise no authentication (a local cluster).

    The connection class is urllib3's, which botocore already depends on; ``client_options`` go to
    ``OpenSearch`` (for example ``verify_certs=False`` for a local cluster's self-signed certificate).
    ``timeout`` bounds each request; the transport never retries (see the module's docstring).
    """
    from opensearchpy import OpenSearch, Urllib3HttpConnection

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"an OpenSearch URL looks like https://host[:port], got {_redact(url)!r}")
    use_ssl = parts.scheme == "https"
    http_auth = _auth(parts, service, region, credentials)
    entry: dict[str, Any] = {"host": parts.hostname, "port": parts.port or (443 if use_ssl else 80)}
    if parts.path.strip("/"):
        entry["url_prefix"] = parts.path.rstrip("/")
    client_options.setdefault("verify_certs", use_ssl)
    return OpenSearch(
        hosts=[entry],
        http_auth=http_auth,
        use_ssl=use_ssl,
        connection_class=Urllib3HttpConnection,
        timeout=timeout,
        max_retries=0,
        retry_on_timeout=False,
        **client_options,
    )


def _auth(parts: SplitResult, service: str | None, region: str | None, credentials: Any) -> Any:
    """The ``http_auth`` of the client: a SigV4 signer, a (user, password) pair, or None."""
    host = parts.hostname or ""
    if service is None and parts.username is None and _AWS_HOST.search(host):
        service = "aoss" if _is_serverless_host(host) else "es"
    if service is not None:
        return _sigv4(parts, service, region, credentials)
    if parts.username is not None:
        return (unquote(parts.username), unquote(parts.password or ""))
    return None


def _sigv4(parts: SplitResult, service: str, region: str | None, credentials: Any) -> Any:
    """A SigV4 signer for ``service``; region and credentials default to boto3's (the Lambda role's)."""
    from opensearchpy import Urllib3AWSV4SignerAuth

    if service not in OPENSEARCH_SERVICES:
        raise ValueError(f"service must be 'es' (managed domain) or 'aoss' (Serverless), got {service!r}")
    if parts.scheme != "https":
        raise ValueError("SigV4-signed OpenSearch endpoints need https")
    host = parts.hostname or ""
    region = region or _region_of(host)
    if credentials is None or region is None:
        import boto3

        session = boto3.Session()
        region = region or session.region_name
        credentials = credentials or session.get_credentials()
    if not region:
        raise ValueError(f"no AWS region for {host}: pass region= or set AWS_REGION")
    if credentials is None:
        raise ValueError("no AWS credentials found to sign OpenSearch requests")
    return Urllib3AWSV4SignerAuth(credentials, region, service)


def _region_of(host: str) -> str | None:
    match = _AWS_REGION.search(host)
    return match.group(1) if match else None


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


def is_retryable(error: BaseException) -> bool:
    """A dropped connection or timeout, or an HTTP 409 (a by-query conflict), 429 or 5xx from OpenSearch."""
    from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
    from opensearchpy.exceptions import SSLError, TransportError

    if isinstance(error, SSLError):
        return False
    if isinstance(error, OpenSearchConnectionError):
        return True
    if isinstance(error, TransportError):
        status = error.status_code
        return isinstance(status, int) and (status in (409, 429) or status >= 500)
    return False


@dataclass(frozen=True)
class IndexClient:
    """The requests about one index, each sent through ``retry``; what they return is OpenSearch's answer.

    A request that fails with what :func:`is_retryable` calls transient is sent again; when the attempts
    run out, :class:`~ragline.errors.TransientError` names the request and the index. Any other error
    propagates unchanged.
    """

    client: OpenSearch
    index: str
    retry: RetryPolicy

    def send(self, request: Callable[[], T], description: str) -> T:
        return self.retry.call(request, is_retryable, description=f"OpenSearch {description} on {self.index!r}")

    def search(self, body: dict[str, Any], description: str = "search") -> dict[str, Any]:
        return self.send(lambda: self.client.search(index=self.index, body=body), description)

    def msearch(self, body: list[dict[str, Any]], description: str) -> dict[str, Any]:
        return self.send(lambda: self.client.msearch(index=self.index, body=body), description)

    def count(self, body: dict[str, Any], description: str) -> dict[str, Any]:
        return self.send(lambda: self.client.count(index=self.index, body=body), description)

    def bulk(self, body: list[dict[str, Any]], description: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.send(lambda: self.client.bulk(body=body, index=self.index, **params), description)

    def delete_by_query(self, query: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        return self.send(
            lambda: self.client.delete_by_query(index=self.index, body={"query": query}, **params), "delete by query"
        )

    def update_by_query(self, body: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        return self.send(lambda: self.client.update_by_query(index=self.index, body=body, **params), "update by query")

    def get_mapping(self) -> dict[str, Any]:
        return self.send(lambda: self.client.indices.get_mapping(index=self.index), "get index mapping")

    def create_index(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.send(lambda: self.client.indices.create(index=self.index, body=body), "create index")

    def delete_index(self) -> dict[str, Any]:
        return self.send(lambda: self.client.indices.delete(index=self.index), "delete index")
