"""A bad configuration fails where the settings are read, and a bug is never recorded as a bad document.

The functions read their settings at import (Lambda's init phase), the CLI before any command; the ingest
function records ``failed`` only for what is the document's fault (docs/architecture.md, "Configuration").
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ragline import chunking
from ragline.errors import ConfigurationError
from ragline.local.lambda_runtime import load_function
from tests.conftest import REPO

FUNCTIONS = ["ingest", "query"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_bad_setting_fails_the_function_at_init(name, monkeypatch):
    monkeypatch.setenv("RAGLINE_FUSION", "typo")
    with pytest.raises(ConfigurationError, match=r"^RAGLINE_FUSION='typo' is not one of: convex, rrf$"):
        load_function(name)
    assert f"{name}_handler" not in sys.modules  # no half-initialised handler is left to be called


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_misspelt_variable_fails_the_function_at_init(name, monkeypatch):
    monkeypatch.setenv("RAGLINE_FUSON", "rrf")
    with pytest.raises(ConfigurationError, match=r"did you mean RAGLINE_FUSION\?"):
        load_function(name)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_function_reads_its_settings_at_init(name, monkeypatch):
    monkeypatch.setenv("RAGLINE_FUSION", "rrf")
    module = load_function(name)
    monkeypatch.setenv("RAGLINE_FUSION", "typo")  # too late: the settings were read at import
    assert module.settings.fusion == "rrf"


def _cli(arguments: list[str], tmp_path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("RAGLINE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "shared"), env.get("PYTHONPATH", "")])
    env.update(RAGLINE_HOME=str(tmp_path / "home"), **variables)
    command = [sys.executable, "-m", "ragline.cli", *arguments]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    "arguments", [["up"], ["token", "--user", "u"], ["eval", "--dataset", "nowhere", "--mode", "bm25"]]
)
def test_the_cli_refuses_a_bad_setting_in_one_line(arguments, tmp_path):
    result = _cli(arguments, tmp_path, RAGLINE_FUSION="typo")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "ragline: RAGLINE_FUSION='typo' is not one of: convex, rrf\n"


def test_the_cli_names_a_renamed_variable(tmp_path):
    result = _cli(["token", "--user", "u"], tmp_path, RAGLINE_RERANK_DEPTH="30")
    assert (result.returncode, result.stderr) == (2, "ragline: RAGLINE_RERANK_DEPTH was renamed to RAGLINE_SHORTLIST\n")


def _broken_chunker(*args, **kwargs):  # fault injection: a bug in the chunker, not in the file
    raise IndexError("list index out of range")


@pytest.mark.parametrize("earlier_version", [True, False], ids=["replacement", "first-version"])
def test_a_bug_in_the_chunker_is_a_batch_item_failure_not_a_failed_document(stack, monkeypatch, earlier_version):
    if earlier_version:
        stack.put("notes.md", "# Notes\n\nThe first version talks about zeppelins.", roles=["staff"])
    stack.drain()  # and S3's own test event from provisioning
    before = stack.record("notes.md")

    monkeypatch.setattr("ragline.indexing.chunk", _broken_chunker)
    stack.put("notes.md", "# Notes\n\nThe second version talks about airships.", roles=["staff"])
    messages = stack.receive()
    response = stack.deliver(messages)

    assert response["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]} for message in messages]
    assert stack.record("notes.md") == before  # not "failed": the registry holds what it held
    if earlier_version:
        assert stack.ingestor().store.bm25_search("zeppelins", frozenset({"staff"}), 5)  # still searchable

    monkeypatch.setattr("ragline.indexing.chunk", chunking.chunk)  # the bug fixed, the redelivery indexes
    assert stack.deliver(messages) == {"batchItemFailures": []}
    assert stack.record("notes.md").status == "indexed"
    assert stack.ingestor().store.bm25_search("airships", frozenset({"staff"}), 5)


def test_a_corrupt_file_is_still_failed_with_its_reason(stack):
    stack.put("corrupt.pdf", b"%PDF-1.7\nnot really a pdf", roles=["staff"])

    assert stack.drain() == {"batchItemFailures": []}  # permanent: no point in redelivering
    record = stack.record("corrupt.pdf")
    assert record.status == "failed" and "PDF" in record.error
