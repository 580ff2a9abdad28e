"""``ragline reindex`` on moto with both handlers in-process: questions keep being answered, with every
document the caller may see, while a new index is built, backfilled, switched to and switched back from
(docs/operations.md, "Changing the embedding model").

A watcher thread asks ``POST /retrieve`` as a permitted user in a loop, as a reader of the deployment
would, while the main thread runs the reindex; every answer must be a 200 naming every document the caller
may see and none it may not. The second test shows the watcher would see it if readers switched before
the backfill was done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import boto3
import pytest

import ragline.indexes
from ragline.factory import build_reindexer, model_target
from ragline.queues.sqs import SqsEventQueue
from ragline.reindex import Reindexer, ReindexRefused
from tests.component.conftest import ComponentStack

STAFF_DOCUMENTS = {
    f"staff/{name}.md": f"# {name.title()} note\n\nThe {name} plant reported its {name} output for the quarter."
    for name in ("solar", "wind", "tides", "hydro", "biomass", "geothermal")
}
FINANCE_DOCUMENT = ("finance/budget.md", "# Budget\n\nThe plant budget for the quarter is confidential.")
QUESTION = "What output did the plant report for the quarter?"
NEW_MODEL_DIMENSION = 256  # the configured hash embedder makes 384: the new index is another dimension
TTL_SECONDS = 0.2  # how long a query function keeps the live index it read (5 s in production)


@dataclass
class Watch:
    """The answers a permitted caller got while the reindex ran, and each that fell short."""

    answers: int = 0
    problems: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


def _watch(stack: ComponentStack, watch: Watch) -> None:
    expected = {f"s3://{stack.settings.bucket}/{key}" for key in STAFF_DOCUMENTS}
    while not watch.stop.is_set():
        try:
            status, body = stack.request("POST", "/retrieve", {"question": QUESTION, "top_k": 10}, ["staff"])
        except Exception as error:  # a crash of the handler is a failed answer too
            watch.problems.append(f"answer {watch.answers}: {type(error).__name__}: {error}")
            continue
        watch.answers += 1
        if status != 200:
            watch.problems.append(f"answer {watch.answers}: status {status}: {body}")
            continue
        found = {result["source"] for result in body["results"]}
        if missing := expected - found:
            watch.problems.append(f"answer {watch.answers}: missing {sorted(missing)}")
        if FINANCE_DOCUMENT[0] in " ".join(found):
            watch.problems.append(f"answer {watch.answers}: a finance document shown to staff")


@pytest.fixture
def corpus(stack: ComponentStack, monkeypatch: pytest.MonkeyPatch) -> ComponentStack:
    monkeypatch.setattr(ragline.indexes, "CATALOG_TTL_SECONDS", TTL_SECONDS)  # before the functions start
    for key, text in STAFF_DOCUMENTS.items():
        stack.put(key, text, roles=["staff"])
    stack.put(*FINANCE_DOCUMENT, roles=["finance"])
    assert stack.drain() == {"batchItemFailures": []}
    return stack


@pytest.fixture
def reindexer(corpus: ComponentStack) -> Reindexer:
    """The command's core on the same deployment, as ``ragline reindex`` builds it."""
    sqs = boto3.client("sqs", region_name=corpus.settings.region)
    return build_reindexer(corpus.settings, SqsEventQueue(sqs, corpus.resources.queue_url))


@pytest.fixture
def watched(corpus: ComponentStack) -> Iterator[Watch]:
    watch = Watch()
    watcher = threading.Thread(target=_watch, args=(corpus, watch), daemon=True)
    watcher.start()
    _answers_after(watch, 3)
    yield watch
    watch.stop.set()
    watcher.join(timeout=30)


def _answers_after(watch: Watch, count: int, timeout: float = 60.0) -> None:
    """Wait until the watcher has had ``count`` more answers (after a switch: the readers have moved)."""
    target = watch.answers + count
    deadline = time.monotonic() + timeout
    while watch.answers < target and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watch.answers >= target, "the watcher stopped getting answers"


def _readers_moved(watch: Watch) -> None:
    """Wait until the query function has read the catalog again since a switch, and answered after it."""
    time.sleep(2 * TTL_SECONDS)
    _answers_after(watch, 3)


def _live_index(stack: ComponentStack) -> str:
    """The index the query function searches now."""
    router = stack.query.module.services().query.indexes
    return str(router.live().target.index)


def test_queries_succeed_with_every_permitted_document_through_a_whole_reindex(
    corpus: ComponentStack, reindexer: Reindexer, watched: Watch
) -> None:
    configured = reindexer.configured
    started = reindexer.start(model_target(corpus.settings, "hash", dimensions=NEW_MODEL_DIMENSION))
    new = started.building
    assert new is not None and new.index.endswith("index-r1.sqlite3") and new.dimension == NEW_MODEL_DIMENSION
    _answers_after(watched, 3)

    # A document uploaded while the backfill runs goes to both indexes.
    corpus.put("staff/nuclear.md", "# Nuclear note\n\nThe reactor was refuelled.", roles=["staff"])
    while messages := corpus.receive():  # the backfill drains, with the upload's event among it
        assert corpus.deliver(messages) == {"batchItemFailures": []}
        _answers_after(watched, 1)
    assert reindexer.status().progress is not None and reindexer.status().progress.complete  # type: ignore[union-attr]

    switched = reindexer.switch()
    assert (switched.live, switched.previous) == (new, configured)
    _readers_moved(watched)
    assert _live_index(corpus) == new.index
    status, body = corpus.request("POST", "/retrieve", {"question": "reactor refuelled", "top_k": 3}, ["staff"])
    assert status == 200 and body["results"][0]["source"].endswith("staff/nuclear.md")

    back = reindexer.switch_back()
    assert (back.live, back.previous) == (configured, new)
    _readers_moved(watched)
    assert _live_index(corpus) == configured.index

    watched.stop.set()
    assert watched.problems == []
    assert watched.answers >= 20


def test_the_watch_sees_readers_switched_before_the_backfill_is_done(
    corpus: ComponentStack, reindexer: Reindexer, watched: Watch
) -> None:
    reindexer.start(model_target(corpus.settings, "hash", dimensions=NEW_MODEL_DIMENSION))
    with pytest.raises(ReindexRefused, match="holds 0 of 7 indexed documents"):  # the check the force skips
        reindexer.switch()

    reindexer.switch(force=True)  # no backfill delivered: the new index is empty
    _readers_moved(watched)

    watched.stop.set()
    assert any("missing" in problem for problem in watched.problems), watched.problems


def test_a_sync_after_a_switch_compares_the_bucket_with_the_index_readers_see(
    corpus: ComponentStack, reindexer: Reindexer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragline.local.lambda_runtime import LocalFunction

    monkeypatch.setenv("RAGLINE_INGEST_QUEUE_URL", corpus.resources.queue_url)
    reconcile = LocalFunction("reconcile")
    assert sum(reconcile.invoke({"dry_run": True})["counts"].values()) == 0
    reindexer.start(model_target(corpus.settings, "hash", dimensions=NEW_MODEL_DIMENSION))
    while messages := corpus.receive():
        assert corpus.deliver(messages) == {"batchItemFailures": []}
    reindexer.switch()
    reindexer.drop_old()  # the configured index is gone: only the catalog names what is live
    corpus.put("staff/after.md", "# After\n\nIndexed into the new index alone.", roles=["staff"])
    assert corpus.drain() == {"batchItemFailures": []}

    report = reconcile.invoke({"dry_run": True})

    assert sum(report["counts"].values()) == 0, report
    corpus.s3.put_bucket_notification_configuration(Bucket=corpus.settings.bucket, NotificationConfiguration={})
    corpus.put("staff/unannounced.md", "# Unannounced\n\nNo event told of it.", roles=["staff"])
    assert reconcile.invoke({})["drift"]["missing"] == ["staff/unannounced.md"]


def test_ragline_reindex_deployed_acts_on_the_deployment_the_environment_names(
    corpus: ComponentStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On AWS there is no local stack: `--deployed` takes the functions' settings from the environment (the
    registry table, the store, the index, the ingest queue) and the caller's AWS credentials."""
    import json

    from ragline.cli import main

    monkeypatch.setenv("RAGLINE_INGEST_QUEUE_URL", corpus.resources.queue_url)

    assert main(["reindex", "--deployed", "start", "--embedder", "hash", "--dimensions", "64"]) == 0
    capsys.readouterr()
    assert main(["reindex", "--deployed", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)

    assert status["live"]["index"] == corpus.settings.index_path
    assert status["building"]["dimension"] == 64 and status["building"]["index"].endswith("index-r1.sqlite3")
    assert len(corpus.receive()) == len(STAFF_DOCUMENTS) + 1  # one backfill record per indexed document
