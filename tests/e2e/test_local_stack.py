"""End to end: `ragline up` in a subprocess, documents through S3 with the CLI, questions through HTTP.

Runs the real local defaults: moto server, S3 -> SQS notifications, the ingest worker, the local API
Gateway verifying RS256 tokens, the local all-MiniLM-L6-v2 embedder and the on-disk index.

Every test runs on moto, and again on LocalStack (its S3 and SQS, its DynamoDB when it serves one) when the
environment variable LOCALSTACK_URL names a running LocalStack; see docs/localstack.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import jwt
import pytest

from ragline.local.client import StackClient
from ragline.local.tokens import issue_token
from tests.fixtures.documents import make_pdf

pytestmark = pytest.mark.e2e

RAGLINE = str(Path(sys.executable).with_name("ragline"))
REVENUE = "# Q3 summary\n\nNorthwind's revenue in Q3 2026 was $14.2 million, up 18% from Q2.\n"
CATHODE = "# Cathode report\n\nThe NW-412 cathode retained 91.4% of its capacity after 2,000 cycles.\n"
LEAVE = "# Parental leave\n\nEmployees get 16 weeks of fully paid parental leave.\n"


LOCALSTACK_URL = os.environ.get("LOCALSTACK_URL", "").rstrip("/")
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB")


@pytest.fixture(scope="module", params=["moto", "localstack"])
def backend(request) -> str:
    if request.param == "localstack" and not LOCALSTACK_URL:
        pytest.skip("LOCALSTACK_URL is not set: start LocalStack and set it to run on LocalStack (docs/localstack.md)")
    return request.param


def aws_client(service: str, endpoint: str, region: str):
    return boto3.client(
        service, endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture(scope="module")
def home(backend, tmp_path_factory):
    home = tmp_path_factory.mktemp(f"ragline-home-{backend}")
    env = {**os.environ, "RAGLINE_HOME": str(home), "POWERTOOLS_LOG_LEVEL": "WARNING"}
    for name in (*ENDPOINT_VARIABLES, "LOCALSTACK_URL", "RAGLINE_BUCKET", "RAGLINE_REGISTRY_TABLE"):
        env.pop(name, None)
    if backend == "localstack":
        env["LOCALSTACK_URL"] = LOCALSTACK_URL
    process = subprocess.Popen([RAGLINE, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while not (home / "endpoints.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"ragline up did not start:\n{process.stdout.read()}")
        time.sleep(0.2)
    endpoints = json.loads((home / "endpoints.json").read_text())
    yield home
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, process.stdout.read()
    assert not (home / "endpoints.json").exists()
    if backend == "localstack":  # a long-lived LocalStack is left as the stack found it
        s3 = aws_client("s3", LOCALSTACK_URL, endpoints["region"])
        assert endpoints["bucket"] not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
        queues = aws_client("sqs", LOCALSTACK_URL, endpoints["region"]).list_queues().get("QueueUrls", [])
        assert endpoints["queue_url"].rsplit("/", 1)[-1] not in {url.rsplit("/", 1)[-1] for url in queues}


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([RAGLINE, *args, "--home", str(home)], capture_output=True, text=True, timeout=300)


def ask(client: StackClient, question: str, groups: list[str], route: str = "/query") -> dict:
    status, body = client.call("POST", route, {"question": question}, client.token("tester", groups))
    assert status == 200, body
    return body


def cited_keys(body: dict) -> set[str]:
    return {c["source"].rsplit("/", 2)[-2] + "/" + c["source"].rsplit("/", 1)[-1] for c in body.get("citations", [])}


@pytest.fixture(scope="module")
def corpus(home, tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs")
    for name, text in (("finance/q3.md", REVENUE), ("research/cathode.md", CATHODE), ("hr/leave.md", LEAVE)):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    for folder_name, roles in (("finance", "finance"), ("research", "research"), ("hr", "everyone")):
        result = cli(home, "ingest", str(folder / folder_name), "--roles", roles, "--prefix", f"{folder_name}/")
        assert result.returncode == 0, result.stderr
        assert "indexed 1 document(s)" in result.stderr
    return StackClient(home)


def test_health_and_endpoints_file(home):
    endpoints = json.loads((home / "endpoints.json").read_text())
    assert {"api_url", "s3_endpoint", "bucket", "region"} <= set(endpoints)
    assert StackClient(home).call("GET", "/health") == (200, {"status": "ok"})


def test_the_stack_runs_on_the_chosen_backend(home, backend):
    endpoints = json.loads((home / "endpoints.json").read_text())
    if backend == "moto":
        assert endpoints["s3_endpoint"] != LOCALSTACK_URL
        return
    assert endpoints["s3_endpoint"] == LOCALSTACK_URL
    # Names of this stack home's own, so that runs sharing one LocalStack never meet.
    assert (
        endpoints["bucket"].startswith("ragline-documents-")
        and endpoints["queue_url"].split("/")[-1] != "ragline-ingest"
    )
    s3 = aws_client("s3", LOCALSTACK_URL, endpoints["region"])
    [wiring] = s3.get_bucket_notification_configuration(Bucket=endpoints["bucket"])["QueueConfigurations"]
    sqs = aws_client("sqs", LOCALSTACK_URL, endpoints["region"])
    queue = sqs.get_queue_url(QueueName=endpoints["queue_url"].rsplit("/", 1)[-1])["QueueUrl"]
    assert (
        wiring["QueueArn"]
        == sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    )


def test_answers_cite_only_permitted_documents(corpus):
    finance = ask(corpus, "What was Northwind's revenue in Q3 2026?", ["finance"])
    assert "14.2 million" in finance["answer"]
    assert cited_keys(finance) == {"finance/q3.md"}

    research = ask(corpus, "How many cycles did the cathode retain its capacity for?", ["research"])
    assert "2,000 cycles" in research["answer"] and cited_keys(research) == {"research/cathode.md"}

    outsider = ask(corpus, "What was Northwind's revenue in Q3 2026?", ["everyone"])
    # Everything but the timings, whose milliseconds may well read 14.2.
    seen = json.dumps({name: value for name, value in outsider.items() if name != "timings_ms"})
    assert "finance/q3.md" not in seen and "$14.2 million" not in seen
    nobody = ask(corpus, "What was Northwind's revenue in Q3 2026?", ["marketing"], route="/retrieve")
    assert nobody == {"results": []}


def test_the_cli_ask_prints_the_answer_and_its_sources(home, corpus):
    result = cli(home, "ask", "How many weeks of parental leave?", "--user", "dave", "--groups", "everyone")
    assert result.returncode == 0, result.stderr
    assert "16 weeks" in result.stdout and "hr/leave.md" in result.stdout

    as_json = cli(home, "ask", "How many weeks of parental leave?", "--user", "dave", "--groups", "everyone", "--json")
    assert json.loads(as_json.stdout)["citations"][0]["source"].endswith("hr/leave.md")


def test_the_cli_chats_rewriting_follow_ups_and_lists_what_was_searched_when_it_finds_no_answer(home, corpus):
    questions = ["What was Northwind's revenue in Q3 2026?", "and in Q2?", "Who won the 1998 football world cup?"]
    chat = [RAGLINE, "ask", "--chat", "--user", "bob", "--groups", "finance", "--home", str(home)]
    stdin = "\n".join([*questions, "exit", "What is never asked?"]) + "\n"

    result = subprocess.run(chat, input=stdin, capture_output=True, text=True, timeout=300)

    assert (result.returncode, result.stderr) == (0, "")
    out = result.stdout
    # In order: the answer with its source, the follow-up's rewrite and its answer, then the decline.
    answered = out.index("14.2 million")
    rewritten = out.index("(searched for: What was Northwind's revenue in Q2 2026?)\n")
    declined = out.index("No answer found in these passages:\n  - ")
    assert answered < out.index("finance/q3.md") < rewritten < declined
    assert out.count("(searched for:") == 1  # the questions that stand alone are searched as asked
    assert "never asked" not in out

    as_json = subprocess.run([*chat, "--json"], input=stdin, capture_output=True, text=True, timeout=300)
    turns = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [turn["standalone_question"] for turn in turns] == [
        questions[0],
        "What was Northwind's revenue in Q2 2026?",
        questions[2],
    ]
    assert [turn["answered"] for turn in turns] == [True, True, False]
    assert turns[2]["citations"] == [] and turns[2]["related"]


def test_the_cli_lists_only_what_the_user_may_see_and_shows_a_status(home, corpus):
    listed = cli(home, "ls", "--user", "erin", "--groups", "research")
    assert listed.returncode == 0, listed.stderr
    assert "research/cathode.md" in listed.stdout and "indexed" in listed.stdout
    assert "finance/q3.md" not in listed.stdout and "hr/leave.md" not in listed.stdout

    under = cli(home, "ls", "--user", "bob", "--groups", "finance,everyone", "--prefix", "hr/")
    assert under.returncode == 0, under.stderr
    assert "hr/leave.md" in under.stdout and "finance/q3.md" not in under.stdout

    status = cli(home, "status", "research/cathode.md", "--user", "erin", "--groups", "research")
    assert status.returncode == 0, status.stderr
    assert "indexed" in status.stdout
    hidden = cli(home, "status", "finance/q3.md", "--user", "erin", "--groups", "research")
    assert hidden.returncode != 0 and "not_found" in hidden.stderr


def test_the_cli_downloads_a_document_only_for_who_may_see_it(home, corpus, tmp_path):
    target = tmp_path / "cathode.md"
    fetched = cli(home, "download", "research/cathode.md", "-o", str(target), "--user", "erin", "--groups", "research")
    assert fetched.returncode == 0, fetched.stderr
    assert target.read_text() == CATHODE
    to_stdout = cli(home, "download", "research/cathode.md", "--user", "erin", "--groups", "research")
    assert to_stdout.stdout == CATHODE

    refused = cli(home, "download", "research/cathode.md", "--user", "mallory", "--groups", "everyone")
    assert refused.returncode != 0 and "not_found" in refused.stderr and refused.stdout == ""


def test_tokens_are_checked_like_api_gateway_does(home, corpus):
    body = {"question": "What was the revenue in Q3 2026?"}
    assert corpus.call("POST", "/query", body)[0] == 401
    assert corpus.call("POST", "/query", body, token="not-a-jwt")[0] == 401
    good = corpus.token("eve", ["finance"])
    claims = jwt.decode(good, options={"verify_signature": False})
    forged = jwt.encode(
        {**claims, "cognito:groups": ["finance"]}, "a-guessed-secret-long-enough-for-hs256", algorithm="HS256"
    )
    assert corpus.call("POST", "/query", body, token=forged)[0] == 401
    assert corpus.call("POST", "/query", body, token=issue_token(home, "eve", ["finance"], ttl_seconds=-10))[0] == 401
    key = (home / "signing-key.pem").read_bytes()  # the stack's own key, but another issuer's token
    foreign = jwt.encode({**claims, "iss": "https://cognito-idp.us-east-1.amazonaws.com/other"}, key, algorithm="RS256")
    assert corpus.call("POST", "/query", body, token=foreign)[0] == 401
    token = cli(home, "token", "--user", "eve", "--groups", "finance").stdout.strip()
    assert corpus.call("POST", "/query", body, token=token)[0] == 200


def test_roles_in_the_body_are_ignored(corpus):
    status, body = corpus.call(
        "POST",
        "/query",
        {"question": "What was the revenue in Q3 2026?", "roles": ["finance"], "groups": ["finance"]},
        corpus.token("mallory", ["everyone"]),
    )
    assert status == 200 and "$14.2 million" not in json.dumps(body)


def test_a_corrupt_pdf_fails_while_the_documents_beside_it_are_indexed(home, corpus, tmp_path):
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\ngarbage that is not a pdf")
    (tmp_path / "minutes.pdf").write_bytes(make_pdf(["Board minutes.", "The board approved the Eindhoven lab."]))
    (tmp_path / "memo.txt").write_text("The cafeteria reopens on Monday.")

    result = cli(home, "ingest", str(tmp_path), "--roles", "staff", "--prefix", "batch/")

    assert result.returncode == 1
    assert "failed: batch/broken.pdf" in result.stderr
    answer = ask(corpus, "What did the board approve?", ["staff"])
    assert any(c["source"].endswith("batch/minutes.pdf") and c.get("page") == 2 for c in answer["citations"])


def test_a_deleted_document_stops_being_cited_within_seconds(corpus, tmp_path):
    (tmp_path / "launch.md").write_text("# Launch\n\nThe Halcyon cell launches on 4 May 2027 in Boulder.")
    upload = corpus.upload(tmp_path / "launch.md", "news/launch.md", ["everyone"])
    assert corpus.wait([upload], timeout=60)["news/launch.md"].status == "indexed"
    assert cited_keys(ask(corpus, "When does the Halcyon cell launch?", ["everyone"])) == {"news/launch.md"}

    corpus.delete("news/launch.md")
    started = time.monotonic()
    while time.monotonic() - started < 10:
        body = ask(corpus, "When does the Halcyon cell launch?", ["everyone"], route="/retrieve")
        if not any(r["source"].endswith("news/launch.md") for r in body["results"]):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the deleted document was still retrieved 10 s after its deletion")


def test_ragline_sync_indexes_what_no_notification_announced(home, corpus):
    """Objects written while the bucket had no notifications (an adopted bucket before `cdk deploy`): the
    dry run reports them, `ragline sync` queues them, and the stack's own worker indexes them."""
    endpoints = json.loads((home / "endpoints.json").read_text())
    s3 = aws_client("s3", endpoints["s3_endpoint"], endpoints["region"])
    bucket = endpoints["bucket"]
    notifications = s3.get_bucket_notification_configuration(Bucket=bucket)
    notifications.pop("ResponseMetadata", None)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:
        s3.put_object(Bucket=bucket, Key="archive/osprey.md", Body=b"# Osprey\n\nThe Osprey pilot ran in Tromso.")
    finally:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=notifications)

    dry = cli(home, "sync", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["drift"]["missing"] == ["archive/osprey.md"]

    done = cli(home, "sync")
    assert done.returncode == 0, done.stderr
    assert "missing" in done.stdout and "queued 1 repair(s)" in done.stdout
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        again = json.loads(cli(home, "sync", "--dry-run", "--json").stdout)
        if sum(again["counts"].values()) == 0:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the repair was not applied within 60 s: {again}")
