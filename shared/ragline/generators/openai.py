"""Answers written by any chat model behind an OpenAI-compatible API: Ollama, llama.cpp's ``llama-server``,
vLLM, LM Studio, or OpenAI itself.

The prompt is the Bedrock generator's (:func:`ragline.generators.prompt.build_prompt`): the grounding rules
as the system message, the fenced sources and the question as one user message. One call is
``POST {base_url}/chat/completions`` with ``{"model", "messages": [system, user], "temperature",
"max_tokens"}``, the fields every one of those servers accepts, and ``Authorization: Bearer <key>`` only
when a key is set. The answer is ``choices[0].message.content``; its ``cited`` numbers are parsed from the
model's ``[n]`` markers, keeping only sources that were in the prompt.

With no sources the model is not called: the answer is :data:`~ragline.generators.prompt.NO_ANSWER`.
A 429, a 5xx, a refused or dropped connection and a timeout are tried again with backoff
(:class:`ragline.retry.RetryPolicy`, honouring ``Retry-After`` while it fits in the budget), then raised as
:class:`~ragline.errors.TransientError` naming the base URL. Any other answer (401, 404, a reply that is no
chat completion, an empty one) raises :class:`ChatEndpointError` at once: another try would not change it.
No message names the API key, and none quotes the server's error text, which may echo the request (the
documents' passages).

Only ``urllib3`` (botocore's own HTTP client) and the standard library are imported.

Example:
    >>> generator = OpenAIChatGenerator("http://127.0.0.1:11434/v1", "llama3.2")
    >>> generator.url
    'http://127.0.0.1:11434/v1/chat/completions'
    >>> generator.generate("How many days of leave?", hits).cited  # doctest: +SKIP
    [1]
"""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from ragline.errors import ConfigurationError, RaglineError, TransientError
from ragline.generators.prompt import (
    DEFAULT_MAX_PROMPT_TOKENS,
    NO_ANSWER,
    build_prompt,
    normalise_decline,
    parse_citations,
)
from ragline.models import Answer, SearchHit
from ragline.retry import RetryPolicy

#: How long one attempt may wait for the answer. A model writes the whole answer before a non-streamed reply
#: starts, so this is about the time to write ``max_tokens``; with the retries' margin below it ends inside
#: the query function's 30 s (docs/architecture.md). A model on a laptop's CPU may need more.
DEFAULT_TIMEOUT_SECONDS = 20.0
#: How long to wait for the connection itself: a server that is up accepts at once.
CONNECT_TIMEOUT_SECONDS = 3.0
#: Seconds beyond one attempt's timeout that the retries may add: room for quick 429s and restarts.
RETRY_MARGIN_SECONDS = 4.0

_THINKING = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)  # reasoning models (qwen3, deepseek-r1) write it
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class ChatEndpointError(RaglineError):
    """The endpoint answered, but not with an answer, and trying again would not change that (a refused
    key, an unknown model, a reply that is not a chat completion)."""


class _TryAgain(Exception):
    """A failure worth another attempt: ``reason`` says what happened, ``retry_after`` what the server asked."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def default_retry(timeout: float) -> RetryPolicy:
    """Four attempts within ``timeout`` plus :data:`RETRY_MARGIN_SECONDS`: after a timed-out attempt no other
    fits, after a 429 or a refused connection (a server restarting) a few do, within about 2 s.

    >>> policy = default_retry(20.0)
    >>> policy.attempts, policy.budget, policy.attempt_seconds
    (4, 24.0, 20.0)
    """
    return RetryPolicy(
        attempts=4, base_delay=0.25, max_delay=2.0, budget=timeout + RETRY_MARGIN_SECONDS, attempt_seconds=timeout
    )


def api_key_from_secret(secretsmanager: Any, secret_id: str) -> str:
    """The API key held by the Secrets Manager secret ``secret_id`` (its name or ARN): its text, trimmed."""
    key = str(secretsmanager.get_secret_value(SecretId=secret_id).get("SecretString") or "").strip()
    if not key:
        raise ConfigurationError(f"RAGLINE_OPENAI_API_KEY_SECRET: the secret {secret_id} holds no API key")
    return key


class OpenAIChatGenerator:
    """A :class:`~ragline.ports.Generator` calling ``POST {base_url}/chat/completions``.

    ``base_url`` is the server's OpenAI API, ending where ``/chat/completions`` follows (usually ``/v1``).
    ``input_tokens`` and ``output_tokens`` accumulate the ``usage`` the server reports, for cost accounting.
    The key is kept in the request headers only, never in ``repr`` or an error message.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
        max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = model
        self.name = f"openai:{model}"
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout = timeout
        self.retry = retry or default_retry(timeout)
        self.max_prompt_tokens = max_prompt_tokens
        self.input_tokens = 0
        self.output_tokens = 0
        self._has_key = bool(api_key)
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = urllib3.Timeout(connect=min(CONNECT_TIMEOUT_SECONDS, timeout), read=timeout)
        # Retries and redirects have one owner each: the policy, and nobody (a redirect is a wrong base URL).
        self._pool = urllib3.PoolManager(num_pools=1, maxsize=4, retries=False)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIChatGenerator({self.base_url!r}, {self.model!r})"

    def generate(self, question: str, sources: Sequence[SearchHit]) -> Answer:
        """Answer ``question`` from ``sources`` (cited 1-based, in the order given)."""
        if not sources:
            return Answer(NO_ANSWER, cited=[], model=self.model)
        prompt = build_prompt(question, sources, max_tokens=self.max_prompt_tokens)
        # The decline sentence counts however the model wraps it (quotes, markdown, a marker tacked on).
        text = normalise_decline(self.complete(prompt.system, prompt.user))
        cited = [] if text == NO_ANSWER else parse_citations(text, prompt.n_sources)
        return Answer(text, cited=cited, model=self.model)

    def complete(self, system: str, user: str) -> str:
        """One turn of chat, retried as :meth:`generate` is: ``system`` and one user message in, the reply's
        text out. This makes the generator a :class:`~ragline.ports.ChatModel`, which rewrites follow-up
        questions (:class:`ragline.rewriting.ModelQuestionRewriter`)."""
        request = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        completion = self._post(json.dumps(request).encode())
        self._count_usage(completion.get("usage"))
        return self._answer_text(completion)

    # -- one call, retried ------------------------------------------------------------------------------

    def _post(self, body: bytes) -> dict[str, Any]:
        started = self.retry.clock()
        retry = 0
        while True:
            try:
                return self._attempt(body)
            except _TryAgain as failure:
                pause = self._pause(retry, started, failure.retry_after)
                if pause is None:
                    raise TransientError(
                        f"the chat model at {self.base_url} is still failing after {retry + 1} attempts: "
                        f"{failure.reason}"
                    ) from failure
                self.retry.sleep(pause)
                retry += 1

    def _pause(self, retry: int, started: float, retry_after: float | None) -> float | None:
        """The policy's pause, or the server's ``Retry-After`` when longer, if another attempt still fits."""
        pause = self.retry.next_pause(retry, started)
        if pause is None or retry_after is None or retry_after <= pause:
            return pause
        budget = self.retry.budget
        if budget is not None and self.retry.clock() - started + retry_after + self.retry.attempt_seconds > budget:
            return None
        return retry_after

    def _attempt(self, body: bytes) -> dict[str, Any]:
        try:
            response = self._pool.urlopen(
                "POST", self.url, body=body, headers=self._headers, timeout=self._timeout, retries=False, redirect=False
            )
        except SSLError as error:
            raise ChatEndpointError(
                f"the chat model at {self.base_url}: the TLS connection failed ({error})"
            ) from error
        except HTTPError as error:
            raise _TryAgain(self._transport_failure(error)) from error
        status = response.status
        if status == 429 or 500 <= status <= 599:
            raise _TryAgain(f"HTTP {status}", retry_after=_retry_after(response.headers.get("Retry-After")))
        if status != 200:
            raise ChatEndpointError(self._refusal(status, response.data))
        try:
            completion = json.loads(response.data)
        except ValueError:
            completion = None
        if not isinstance(completion, dict):
            raise ChatEndpointError(f"the chat model at {self.base_url} answered 200 with something not JSON")
        return completion

    def _transport_failure(self, error: HTTPError) -> str:
        if isinstance(error, NewConnectionError):  # before ConnectTimeoutError, which urllib3 2 makes it extend
            return "no connection: refused, or the host is unknown (is the server running?)"
        if isinstance(error, ConnectTimeoutError):
            return f"no connection within {self._timeout.connect_timeout} s"
        if isinstance(error, ReadTimeoutError):
            return f"no answer within {self.timeout:g} s (RAGLINE_OPENAI_TIMEOUT_SECONDS)"
        if isinstance(error, ProtocolError):
            return "the connection was dropped"
        return type(error).__name__

    def _refusal(self, status: int, data: bytes) -> str:
        """What a non-retryable answer means, naming the settings to check; the server's ``error.code`` or
        ``error.type`` only when it is a plain identifier (its message may quote the request)."""
        where = f"the chat model at {self.base_url} answered HTTP {status}"
        code = _error_code(data)
        shown = f" ({code})" if code else ""
        if status in (401, 403):
            if self._has_key:
                return f"{where}{shown}: it refused the API key (RAGLINE_OPENAI_API_KEY or its secret)"
            return f"{where}{shown}: it needs an API key (RAGLINE_OPENAI_API_KEY, or RAGLINE_OPENAI_API_KEY_SECRET)"
        if 300 <= status <= 399:
            return f"{where}: it redirects elsewhere; set RAGLINE_OPENAI_BASE_URL to where it points"
        if status == 404:
            return (
                f"{where}{shown}: no model {self.model!r} there (RAGLINE_OPENAI_MODEL), or no chat completions at "
                "this base URL (RAGLINE_OPENAI_BASE_URL usually ends in /v1)"
            )
        return f"{where}{shown}: it refused the request (is {self.model!r} a chat model?)"

    # -- the reply -----------------------------------------------------------------------------------

    def _answer_text(self, completion: dict[str, Any]) -> str:
        choices = completion.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
        if choice is None:
            raise ChatEndpointError(f"the chat model at {self.base_url} answered with no choices")
        message = choice.get("message")
        if not isinstance(message, dict):
            message = {}
        text = _THINKING.sub("", _content_text(message.get("content"))).strip()
        if text:
            return text
        if message.get("refusal"):  # OpenAI's models may decline in a field of its own
            return NO_ANSWER
        finish = choice.get("finish_reason")
        reason = f" (finish_reason {finish!r})" if isinstance(finish, str) and _IDENTIFIER.match(finish) else ""
        raise ChatEndpointError(f"the chat model at {self.base_url} answered with no content{reason}")

    def _count_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        with self._lock:
            self.input_tokens += _count(usage.get("prompt_tokens"))
            self.output_tokens += _count(usage.get("completion_tokens"))


def _content_text(content: Any) -> str:
    """A message's content: a string, or (some servers) a list of parts whose ``text`` parts are joined.

    >>> _content_text([{"type": "text", "text": "25 days [1]."}])
    '25 days [1].'
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)]
        return "\n".join(parts)
    return ""


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _error_code(data: bytes) -> str:
    """``error.code`` (else ``error.type``) of an OpenAI-style error body, when it is a plain identifier.

    >>> _error_code(b'{"error": {"message": "...", "type": "invalid_request_error", "code": "model_not_found"}}')
    'model_not_found'
    """
    try:
        body = json.loads(data)
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    for value in (error.get("code"), error.get("type")):
        if isinstance(value, str) and _IDENTIFIER.match(value):
            return value
    return ""


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: a number of seconds, or an HTTP date.

    >>> _retry_after("2"), _retry_after(None), _retry_after("soon")
    (2.0, None, None)
    """
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
