"""The reconcile function on moto: the bucket's objects that no notification announced are found, queued
on the real ingest queue, and indexed by the real ingest function; lost deletions are removed, behind the
mass-deletion guard; and its metrics are published (docs/operations.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ragline.local.lambda_runtime import LocalFunction
from tests.component.conftest import ComponentStack

FINANCE = ["finance"]


@pytest.fixture
def reconcile(stack: ComponentStack, monkeypatch: pytest.MonkeyPatch) -> LocalFunction:
    monkeypatch.setenv("RAGLINE_INGEST_QUEUE_URL", stack.resources.queue_url)
    return LocalFunction("reconcile")


def _drain(stack: ComponentStack) -> list[str]:
    """Delivers what waits in the ingest queue, batch after batch; returns the ids of failed messages."""
    failed: list[str] = []
    while messages := stack.receive():
        failed += [item["itemIdentifier"] for item in stack.deliver(messages)["batchItemFailures"]]
    return failed


def _without_notifications(stack: ComponentStack) -> None:
    """The bucket as an adopted one was before ``cdk deploy``: its objects written with no notification."""
    _drain(stack)  # what was announced so far (S3's test event among it) is applied
    stack.s3.put_bucket_notification_configuration(Bucket=stack.settings.bucket, NotificationConfiguration={})


def _found(stack: ComponentStack, question: str) -> set[str]:
    status, body = stack.request("POST", "/retrieve", {"question": question}, groups=FINANCE)
    assert status == 200
    return {result["source"].rsplit("/", 1)[-1] for result in body["results"]}


def test_a_bucket_full_before_the_notifications_is_backfilled_through_the_queue(
    stack: ComponentStack, reconcile: LocalFunction
) -> None:
    _without_notifications(stack)
    for number in range(12):
        stack.put(f"old/{number:02}.md", f"# Report {number}\n\nThe zeppelin fleet grew by {number} ships.", FINANCE)
    assert stack.receive() == []  # nothing announced them

    report = reconcile.invoke({"source": "deploy"})

    assert report["counts"]["missing"] == 12 and report["enqueued"] == 12
    assert _drain(stack) == []
    assert all(stack.record(f"old/{n:02}.md").status == "indexed" for n in range(12))  # type: ignore[union-attr]
    assert "05.md" in _found(stack, "zeppelin fleet 5 ships")
    assert reconcile.invoke({})["counts"] == dict.fromkeys(report["counts"], 0)


def test_a_lost_deletion_is_removed_and_a_mass_one_withheld(stack: ComponentStack, reconcile: LocalFunction) -> None:
    for number in range(4):
        stack.put(f"{number}.md", f"zeppelin report {number}", FINANCE)
    _without_notifications(stack)
    stack.delete("0.md")
    stack.delete("1.md")  # half of the indexed documents gone, unannounced

    guarded = reconcile.invoke({"dry_run": False})

    assert guarded["guard_tripped"] and guarded["withheld"] == ["0.md", "1.md"] and guarded["enqueued"] == 0
    assert stack.receive() == []
    allowed = reconcile.invoke({"allow_mass_delete": True})
    assert allowed["enqueued"] == 2
    assert _drain(stack) == []
    assert stack.record("0.md").status == "deleted"  # type: ignore[union-attr]
    assert _found(stack, "zeppelin report") == {"2.md", "3.md"}


def test_a_dry_run_queues_nothing(stack: ComponentStack, reconcile: LocalFunction) -> None:
    _without_notifications(stack)
    stack.put("a.md", "text", FINANCE)

    report = reconcile.invoke({"dry_run": True, "prefix": ""})

    assert report["drift"]["missing"] == ["a.md"] and report["enqueued"] == 0 and stack.receive() == []


def test_a_malformed_event_is_refused_before_anything_is_read(stack: ComponentStack, reconcile: LocalFunction) -> None:
    with pytest.raises(ValueError, match="unknown fields in the reconcile event: dryrun"):
        reconcile.invoke({"dryrun": True})
    with pytest.raises(ValueError, match="dry_run must be true or false"):
        reconcile.invoke({"dry_run": "no"})


def test_the_drift_is_published_as_metrics(
    stack: ComponentStack, reconcile: LocalFunction, capsys: pytest.CaptureFixture[str]
) -> None:
    _without_notifications(stack)
    stack.put("a.md", "text", FINANCE)

    reconcile.invoke({"dry_run": True})

    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (metrics,) = [blob for blob in blobs if "DriftFound" in blob]
    definitions: list[dict[str, Any]] = metrics["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ragline"
    assert {"DriftFound", "DriftMissing", "Enqueued", "DeletionsWithheld"} <= {m["Name"] for m in definitions}
    assert metrics["DriftMissing"] == [1.0] or metrics["DriftMissing"] == 1.0


def test_without_a_queue_the_function_fails_at_start(stack: ComponentStack, monkeypatch: pytest.MonkeyPatch) -> None:
    from ragline.errors import ConfigurationError

    monkeypatch.delenv("RAGLINE_INGEST_QUEUE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="RAGLINE_INGEST_QUEUE_URL"):
        LocalFunction("reconcile")


class FakeLambdaClient:
    """A fake Lambda client (tests only): keeps the asynchronous invocations the function makes of itself."""

    def __init__(self) -> None:
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, FunctionName: str, InvocationType: str, Payload: str) -> dict[str, Any]:
        assert InvocationType == "Event" and FunctionName.endswith(":function:ragline-reconcile")
        self.invocations.append(json.loads(Payload))
        return {"StatusCode": 202}


def test_a_large_bucket_is_synced_in_windows_each_invoking_the_next(
    stack: ComponentStack, reconcile: LocalFunction, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_notifications(stack)
    for number in range(5):
        stack.put(f"{number}.md", f"zeppelin report {number}", FINANCE)
    fake = FakeLambdaClient()
    monkeypatch.setattr(reconcile.module, "KEYS_PER_INVOCATION", 2)
    monkeypatch.setattr(reconcile.module, "lambda_client", lambda: fake)

    reports = [reconcile.invoke({"source": "deploy"})]
    while len(fake.invocations) == len(reports):  # the function asked for its next window
        reports.append(reconcile.invoke(fake.invocations[-1]))

    assert [report["drift"]["missing"] for report in reports] == [["0.md", "1.md"], ["2.md", "3.md"], ["4.md"]]
    assert [call["start_after"] for call in fake.invocations] == ["1.md", "3.md"]
    assert all(call["source"] == "deploy" for call in fake.invocations)
    assert _drain(stack) == [] and {stack.record(f"{n}.md").status for n in range(5)} == {"indexed"}  # type: ignore[union-attr]


def test_the_cli_runs_the_windows_itself(stack: ComponentStack, reconcile: LocalFunction, monkeypatch) -> None:
    from ragline.local.sync import merge_reports

    _without_notifications(stack)
    for number in range(3):
        stack.put(f"{number}.md", "text", FINANCE)
    fake = FakeLambdaClient()
    monkeypatch.setattr(reconcile.module, "KEYS_PER_INVOCATION", 2)
    monkeypatch.setattr(reconcile.module, "lambda_client", lambda: fake)

    first = reconcile.invoke({"source": "cli", "dry_run": True})
    merged = merge_reports(first, reconcile.invoke({"source": "cli", "dry_run": True, "start_after": "1.md"}))

    assert fake.invocations == []  # no self-invocation for the CLI
    assert merged["drift"]["missing"] == ["0.md", "1.md", "2.md"] and merged["counts"]["missing"] == 3
    assert merged["objects"] == 3 and merged["resume_after"] is None
