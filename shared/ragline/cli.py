"""The ``ragline`` command: run the local stack and talk to it.

Every command takes ``--home DIR`` (default ``$RAGLINE_HOME`` or ``.ragline/``), which holds the stack's
state: its endpoints file, its pid file (locked while ``ragline up`` runs), its log, the token signing key
and the on-disk index.

Every command first reads the settings from the environment: a bad one stops it with one line on stderr,
``ragline: RAGLINE_FUSION='typo' is not one of: convex, rrf``, and exit status 2 (docs/architecture.md,
"Configuration"). Every other failure a person can act on is one line too (:func:`_failure`): no stack on
the home, a stack that does not answer (exit 2), a refusal of the API with its code and message (exit 1).
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragline import __version__
from ragline.errors import ConfigurationError
from ragline.evaluation.beir import HALVES
from ragline.settings import EMBEDDERS, RETRIEVAL_MODES, Settings

if TYPE_CHECKING:  # the commands import what they need when they run: `ragline --help` stays quick
    from ragline.audit import AuditRecord
    from ragline.client import Answer, Conversation, Passage, RaglineClient, Source
    from ragline.local.client import StackClient

#: ``ragline up`` gives its stack this long to stop once asked; then it prints every thread's stack and exits.
STOP_TIMEOUT_SECONDS = 30


def _groups(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _add_caller(command: argparse.ArgumentParser) -> None:
    """``--user`` and ``--groups``: whom the command's local token is signed for."""
    command.add_argument("--user", required=True, help="act as this user (the token's cognito:username)")
    command.add_argument(
        "--groups", type=_groups, default=[], help="comma-separated groups (roles) the user holds, e.g. finance,staff"
    )


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("RAGLINE_HOME", ".ragline")),
        help="the local stack's state folder (default: $RAGLINE_HOME or .ragline/)",
    )
    parser = argparse.ArgumentParser(prog="ragline", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", parents=[common], help="run the local stack until interrupted or `ragline down`")
    up.add_argument("--port", type=int, default=0, help="port of the local API (default: any free port)")
    up.add_argument("--verbose", action="store_true", help="log to the terminal too, not only to HOME/ragline.log")

    commands.add_parser("down", parents=[common], help="stop the stack running on --home and wait until it has")

    ingest = commands.add_parser("ingest", parents=[common], help="upload files through S3 and wait for indexing")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders to upload")
    ingest.add_argument(
        "--roles", type=_groups, default=None, help="comma-separated roles that may read them (x-amz-meta-roles)"
    )
    ingest.add_argument("--prefix", default="", help="key prefix in the bucket, e.g. finance/")
    ingest.add_argument("--no-wait", action="store_true", help="upload and return")
    ingest.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for indexing (default: 600)")

    for name, help_text in (
        ("ask", "ask a question (POST /query)"),
        ("retrieve", "retrieve passages (POST /retrieve)"),
    ):
        command = commands.add_parser(name, parents=[common], help=help_text)
        if name == "ask":
            command.add_argument("question", nargs="?", help="the question, in quotes (none with --chat)")
            command.add_argument(
                "--chat",
                action="store_true",
                help="a conversation: questions from stdin, one a line, until the end or 'exit'; "
                "follow-ups ('and in Q4?') are rewritten to stand alone",
            )
        else:
            command.add_argument("question", help="the question, in quotes")
        _add_caller(command)
        command.add_argument("--top-k", type=int, default=None, help="how many passages (default: the settings')")
        command.add_argument("--json", action="store_true", help="print the response as JSON")
        command.add_argument("--explain", action="store_true", help="say how each passage got there (a table each)")

    listing = commands.add_parser("ls", parents=[common], help="list the documents the user may see (GET /documents)")
    _add_caller(listing)
    listing.add_argument("--status", default=None, help="only documents of this status (indexed, failed, ...)")
    listing.add_argument("--prefix", default=None, help="only documents whose key starts with this")
    listing.add_argument("--search", default=None, help="only documents whose key or title contains this (any case)")

    status = commands.add_parser("status", parents=[common], help="a document's status (GET /documents/{id})")
    status.add_argument("document", metavar="DOC|KEY", help="the document's id or its S3 key")
    _add_caller(status)

    access = commands.add_parser("access", parents=[common], help="admins: inspect the access policy (GET /access/...)")
    inspected = access.add_mutually_exclusive_group(required=True)
    inspected.add_argument("--roles", type=_groups, help="the documents a caller holding these roles would see")
    inspected.add_argument("--doc", metavar="DOC|KEY", help="who may read this document, indexed and in the bucket")
    inspected.add_argument(
        "--warnings", action="store_true", help="documents nobody may read; sensitive ones a broad role may"
    )
    _add_caller(access)

    delete = commands.add_parser("delete", parents=[common], help="delete a document (DELETE /documents/{id})")
    delete.add_argument("document", metavar="DOC|KEY", help="the document's id or its S3 key")
    _add_caller(delete)

    download = commands.add_parser(
        "download", parents=[common], help="a document's source as indexed (GET /documents/{id}/download)"
    )
    download.add_argument("document", metavar="DOC|KEY", help="the document's id or its S3 key")
    download.add_argument("--output", "-o", type=Path, default=None, help="write it to this file (default: stdout)")
    _add_caller(download)

    audit = commands.add_parser(
        "audit", parents=[common], help="who read a document, or what a user received (GET /audit, admins)"
    )
    subject = audit.add_mutually_exclusive_group(required=True)
    subject.add_argument("--doc", metavar="DOC|KEY", help="the document's id or its S3 key: who was given or asked it")
    subject.add_argument("--user", help="a user id (sub), or a local username: what the user asked and received")
    audit.add_argument("--since", default=None, help="from this ISO 8601 time (UTC unless it names an offset)")
    audit.add_argument("--until", default=None, help="until before this ISO 8601 time")
    audit.add_argument("--json", action="store_true", help="print the records as JSON")
    audit.add_argument("--as", dest="caller", default="auditor", help="read as this user (default: auditor)")
    audit.add_argument(
        "--groups",
        type=_groups,
        default=None,
        help="the reader's groups (default: the admin group, RAGLINE_ADMIN_GROUP)",
    )

    token = commands.add_parser("token", parents=[common], help="print a bearer token the local API accepts")
    _add_caller(token)

    redrive = commands.add_parser(
        "redrive", parents=[common], help="move the dead-letter queue's messages back to the ingest queue"
    )
    redrive.add_argument("--max", type=_positive, default=None, help="move at most N messages")
    redrive.add_argument("--dry-run", action="store_true", help="list what would move, move nothing")

    sync = commands.add_parser(
        "sync", parents=[common], help="find where the bucket, registry and index drifted apart; queue the repairs"
    )
    sync.add_argument("--prefix", default="", help="only keys under this prefix")
    sync.add_argument("--dry-run", action="store_true", help="report the drift, repair nothing")
    sync.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="remove documents gone from the bucket even above RAGLINE_SYNC_MAX_DELETE_SHARE of the indexed ones",
    )
    sync.add_argument("--json", action="store_true", help="print the report as JSON")

    commands.add_parser("demo", parents=[common], help="run the demo: ingest a sample corpus, ask as several users")

    evaluation = commands.add_parser(
        "eval",
        parents=[common],
        help="score retrieval on a BEIR-layout dataset (nDCG@10, recall@100, MRR@10), or its answers (--answers)",
    )
    evaluation.add_argument(
        "--dataset", type=Path, required=True, help="a BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv"
    )
    evaluation.add_argument(
        "--mode",
        choices=RETRIEVAL_MODES,
        default=None,
        help="retrieval mode (default: the settings', $RAGLINE_RETRIEVAL_MODE or hybrid+rerank)",
    )
    evaluation.add_argument("--limit", type=_positive, default=None, help="only the first N test queries (by id)")
    evaluation.add_argument(
        "--max-docs", type=_positive, default=None, help="index the judged documents and others up to N in all"
    )
    evaluation.add_argument(
        "--embedder",
        choices=EMBEDDERS,
        default=None,
        help="embedding adapter (default: $RAGLINE_EMBEDDER, else local when installed)",
    )
    evaluation.add_argument("--no-cache", action="store_true", help="don't read or write the embedding cache")
    evaluation.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    evaluation.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluation.add_argument(
        "--split",
        choices=HALVES,
        default=None,
        help="only one half of the queries, fixed by a hash of their id: choose settings on one, report the other",
    )
    evaluation.add_argument(
        "--run", type=Path, default=None, metavar="FILE", help="also write the rankings as a TREC run file"
    )
    evaluation.add_argument(
        "--keep-identical-ids",
        action="store_true",
        help="keep a retrieved document whose id is the query's (by default dropped, as BEIR and MTEB do)",
    )
    evaluation.add_argument(
        "--answers",
        action="store_true",
        help="score the answers instead (needs answers.jsonl, as squad2-dev has): contains-answer, F1, declines",
    )
    _add_reindex(commands, common)
    return parser


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


#: The commands that talk to a running stack: one that does not answer is reported in one line.
STACK_COMMANDS = frozenset({"ingest", "ask", "retrieve", "ls", "status", "delete", "download", "redrive", "audit"})


def main(argv: list[str] | None = None) -> int:
    # One BLAS thread: the k-NN's matrix-vector product gains nothing from more on small machines, and idle
    # OpenBLAS threads spin-wait, taking the CPU from SQLite's BM25 and the local model (docs/performance.md).
    # Set before anything imports numpy.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = _parser().parse_args(argv)
    if args.command not in SERVING_COMMANDS:
        # `ragline ask ... | head` ends quietly when head has read enough, as other command-line tools do.
        # Not for a command that serves HTTP: a browser that drops a connection would kill the stack.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        Settings.from_env()  # checked before any command starts its work
        return COMMANDS[args.command](args)
    except Exception as error:
        failure = _failure(error, args)
        if failure is None:
            raise
        message, status = failure
        print(f"ragline: {message}", file=sys.stderr)
        return status


def _failure(error: Exception, args: argparse.Namespace) -> tuple[str, int] | None:
    """The one line and exit status an expected failure gets; None for a bug, whose traceback is wanted."""
    from botocore.exceptions import ConnectionError as BotoConnectionError

    from ragline.client import ApiError, ApiUnreachable
    from ragline.local.endpoints import StackNotResponding, StackNotRunning
    from ragline.local.lock import StackAlreadyRunning
    from ragline.local.stack import LocalStackUnavailable

    if args.command in STACK_COMMANDS and isinstance(error, (ApiUnreachable, BotoConnectionError)):
        url = error.url if isinstance(error, ApiUnreachable) else str(error.kwargs.get("endpoint_url", "S3"))
        return str(StackNotResponding(args.home, url)), 2
    if isinstance(error, ApiError):
        return f"the API answered {error}", 1
    expected = (
        ConfigurationError,
        StackNotRunning,
        StackNotResponding,
        StackAlreadyRunning,
        LocalStackUnavailable,
        FileNotFoundError,
    )
    return (str(error), 2) if isinstance(error, expected) else None


def cmd_up(args: argparse.Namespace) -> int:
    from ragline.local.logs import log_to_file
    from ragline.local.stack import DevStack

    # The handler only records the signal, and the main thread polls for it. A handler that set a
    # threading.Event could deadlock on the Event's own lock, and a main thread blocked in Event.wait() for
    # good may not wake for a signal the kernel hands to another thread: either lost a SIGTERM for a minute.
    signals: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda received, _frame: signals.append(received))
    log_file = log_to_file(args.home, verbose=args.verbose)
    stack = DevStack(args.home, port=args.port)
    try:
        endpoints = stack.start()
        print(f"ragline is up: API {endpoints.api_url}, S3 {endpoints.s3_endpoint}, bucket {endpoints.bucket}")
        print(f"web app: {endpoints.api_url}/; embedder: {endpoints.embedder}; logs in {log_file}")
        print(f"state in {args.home}; stop with Ctrl-C or: ragline down --home {args.home}", flush=True)
        while not signals:
            time.sleep(0.2)
    finally:
        # A stop that hangs prints every thread's stack and ends the process, rather than hanging on.
        faulthandler.dump_traceback_later(STOP_TIMEOUT_SECONDS, exit=True)
        stack.stop()
        faulthandler.cancel_dump_traceback_later()
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from ragline.local.lock import StopTimedOut, stop_stack

    try:
        pid = stop_stack(args.home, timeout=STOP_TIMEOUT_SECONDS + 10)
    except StopTimedOut as error:
        print(f"ragline: {error}", file=sys.stderr)
        return 1
    print(f"stopped the stack on {args.home} (pid {pid})" if pid else f"no stack is running on {args.home}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from ragline.local.client import StackClient, keys_for, keys_without_roles
    from ragline.local.ingest_progress import ingest_with_progress

    client = StackClient(args.home)
    files = keys_for(args.paths, args.prefix)
    if args.roles is None:
        for key in keys_without_roles(files, Settings.from_env()):
            print(
                f"warning: {key} gets no roles, so nobody can see it: give --roles, a sidecar "
                f"{key}.metadata.json, or set RAGLINE_PREFIX_ROLES or RAGLINE_DEFAULT_ROLES",
                file=sys.stderr,
            )
    failed = ingest_with_progress(client, files, args.roles, wait=not args.no_wait, timeout=args.timeout)
    return 1 if failed else 0


def _print_sources(sources: list[Source], explain: bool = False) -> None:
    for source in sources:
        page = f", page {source.page}" if source.page else ""
        print(f"  [{source.id}] {source.title} ({source.source}{page})")
        if explain:
            from ragline.explanation_table import explanation_table

            print(explanation_table(source))


def _api(args: argparse.Namespace) -> tuple[StackClient, RaglineClient]:
    from ragline.local.client import StackClient

    stack = StackClient(args.home)
    return stack, stack.api(args.user, args.groups)


def cmd_ask(args: argparse.Namespace) -> int:
    from ragline.client import Conversation

    _, api = _api(args)
    if args.chat:
        return _chat(Conversation(api, args.top_k, explain=args.explain), args)
    if args.question is None:
        print("ragline: ask needs a question, or --chat for a conversation", file=sys.stderr)
        return 2
    answer = api.query(args.question, args.top_k, explain=args.explain)
    if args.json:
        print(json.dumps(dataclasses.asdict(answer), indent=2))
    else:
        _print_answer(answer, explain=args.explain)
    return 0


def _print_answer(answer: Answer, explain: bool) -> None:
    """The answer and its sources; for a question not answered, the passages searched, as related."""
    if not answer.answered and answer.related:
        print("No answer found in these passages:")
        _print_related(answer.related)
        return
    print(answer.answer)
    if answer.citations:
        print("\nSources:")
        _print_sources(answer.citations, explain=explain)


def _print_related(passages: list[Passage]) -> None:
    for passage in passages:
        page = f", page {passage.page}" if passage.page else ""
        print(f"  - {passage.title} ({passage.source}{page})")
        print("      " + passage.text[:200].replace("\n", " "))


def _chat(conversation: Conversation, args: argparse.Namespace) -> int:
    """``ragline ask --chat``: one question a line from stdin, each asked with the conversation so far,
    until the input ends or a line says ``exit``. A follow-up's rewrite is shown when it differs; a
    refused question (too long, say) is reported and the conversation goes on."""
    from ragline.client import ApiError

    prompt = "> " if sys.stdin.isatty() else ""
    while True:
        try:
            line = input(prompt)
        except EOFError:
            return 0
        question = line.strip()
        if question.casefold() in ("exit", "quit"):
            return 0
        if not question:
            continue
        try:
            answer = conversation.ask(question)
        except ApiError as error:
            print(f"ragline: the API answered {error}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(dataclasses.asdict(answer)), flush=True)
            continue
        if answer.standalone_question and answer.standalone_question != question:
            print(f"(searched for: {answer.standalone_question})")
        _print_answer(answer, explain=args.explain)
        print(flush=True)


def cmd_retrieve(args: argparse.Namespace) -> int:
    _, api = _api(args)
    results = api.retrieve(args.question, args.top_k, explain=args.explain)
    if args.json:
        print(json.dumps({"results": [dataclasses.asdict(result) for result in results]}, indent=2))
        return 0
    for result in results:
        _print_sources([result], explain=args.explain)
        if not args.explain:
            print("      " + result.text[:200].replace("\n", " "))
    return 0


def _key(source: str) -> str:
    """The S3 key of a document's source, ``s3://bucket/key``."""
    return source.split("/", 3)[3] if source.startswith("s3://") and source.count("/") >= 3 else source


def cmd_ls(args: argparse.Namespace) -> int:
    _, api = _api(args)
    rows = [
        (_key(document.source), document.status, str(document.chunk_count), document.updated_at)
        for document in api.iter_documents(status=args.status, prefix=args.prefix, search=args.search)
    ]
    if not rows:
        print("no documents", file=sys.stderr)
        return 0
    header = ("KEY", "STATUS", "CHUNKS", "UPDATED")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _doc_id(stack: StackClient, document: str) -> str:
    """A document's id, from its id (24 hex digits) or its S3 key (ragline.ids.document_id)."""
    from ragline.ids import document_id, is_document_id

    return document if is_document_id(document) else document_id(stack.endpoints.bucket, document)


def cmd_status(args: argparse.Namespace) -> int:
    stack, api = _api(args)
    document = api.document(_doc_id(stack, args.document))
    fields = [
        ("key", _key(document.source)),
        ("doc_id", document.doc_id),
        ("title", document.title),
        ("status", document.status),
        ("chunks", str(document.chunk_count)),
        ("updated", document.updated_at),
    ]
    if document.error:
        fields.append(("error", document.error))
    if document.roles is not None:
        fields.append(("roles", ", ".join(document.roles) or "(none: visible to nobody)"))
    for name, value in fields:
        print(f"{name:8} {value}")
    return 0


def cmd_access(args: argparse.Namespace) -> int:
    stack, api = _api(args)
    if args.doc:
        readers = api.readers(_doc_id(stack, args.doc))
        bucket = readers["bucket_roles"]
        rows = [
            ("key", _key(readers["source"])),
            ("indexed", ", ".join(readers["indexed_roles"]) or "(none: visible to nobody but admins)"),
            ("bucket", "(no object)" if bucket is None else ", ".join(bucket) or "(none)"),
            ("pending", "yes: re-indexing with the bucket's roles" if readers["pending"] else "no"),
            ("owner", readers["owner"] or "(none: put into S3 directly)"),
            ("writers", ", ".join(readers["writers"]) or "(none)"),
        ]
        for name, value in rows:
            print(f"{name:8} {value}")
        return 0
    if args.warnings:
        warnings = list(api.policy_warnings())
        for warning in warnings:
            reason = (
                "visible to nobody"
                if warning["kind"] == "visible_to_nobody"
                else ("sensitive, readable by " + ", ".join(warning["roles"]))
            )
            print(f"{_key(warning['source'])}  {reason}")
        print(f"{len(warnings)} warning(s)", file=sys.stderr)
        return 1 if warnings else 0
    documents = list(api.visible_to(args.roles))
    for document in documents:
        print(f"{_key(document.source)}  {', '.join(document.roles or ())}")
    print(f"{len(documents)} document(s) visible to {', '.join(args.roles)}", file=sys.stderr)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    stack, api = _api(args)
    doc_id = _doc_id(stack, args.document)
    api.delete(doc_id)
    print(f"deleting {args.document} ({doc_id}): it stops being retrieved within seconds")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    stack, api = _api(args)
    data = api.download(_doc_id(stack, args.document))
    if args.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        args.output.write_bytes(data)
        print(f"wrote {args.document} to {args.output} ({len(data)} bytes)", file=sys.stderr)
    return 0


def _audit_question(record: AuditRecord) -> str:
    if record.question:
        return record.question if len(record.question) <= 40 else record.question[:39] + "…"
    return f"hmac:{record.question_hmac[:12]}" if record.question_hmac else ""


def _audit_row(record: AuditRecord, doc_id: str | None) -> tuple[str, ...]:
    """A record as a line of ``ragline audit``: for a document, how the request touched it; for a user, how
    many passages it returned and how many of them were cited."""
    if doc_id is not None:
        touched = "returned" if any(source.doc_id == doc_id for source in record.sources) else "asked for"
        passages = "cited" if record.cited(doc_id) else touched
    else:
        passages = f"{len(record.sources)} ({sum(source.cited for source in record.sources)} cited)"
    outcome = f"{record.status} {record.code}".strip()
    who = record.username or record.user
    return (record.at, who, record.action, outcome, passages, _audit_question(record), record.request_id)


def cmd_audit(args: argparse.Namespace) -> int:
    from ragline.local.client import StackClient
    from ragline.local.tokens import local_user_id

    stack = StackClient(args.home)
    api = stack.api(args.caller, args.groups if args.groups is not None else [Settings.from_env().admin_group])
    doc_id = _doc_id(stack, args.doc) if args.doc else None
    user = None
    if args.user is not None:
        user = args.user if _is_uuid(args.user) or args.user == "-" else local_user_id(args.user)
    records = list(api.iter_audit(doc=doc_id, user=user, since=args.since, until=args.until))
    if args.json:
        print(json.dumps({"records": [record.to_json() for record in records]}, indent=2))
        return 0
    if not records:
        print("no audit records", file=sys.stderr)
        return 0
    header = ("TIME", "USER", "ACTION", "OUTCOME", "DOCUMENT" if doc_id else "PASSAGES", "QUESTION", "REQUEST")
    rows = [header, *(_audit_row(record, doc_id) for record in records)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def cmd_token(args: argparse.Namespace) -> int:
    from ragline.local.tokens import issue_token

    print(issue_token(args.home, args.user, args.groups))
    return 0


def _describe_message(message: dict[str, Any]) -> str:
    """A message's id and the S3 events it carries (``ObjectCreated:Put docs/a.md``), when it holds any."""
    try:
        records = json.loads(message["Body"]).get("Records", [])
        events = [f"{r['eventName']} {r['s3']['object']['key']}" for r in records]
    except (ValueError, TypeError, KeyError, AttributeError):
        events = []
    return f"{message['MessageId']}: {', '.join(events) or 'not an S3 notification'}"


def cmd_redrive(args: argparse.Namespace) -> int:
    import boto3

    from ragline.local.endpoints import Endpoints
    from ragline.local.redrive import RedriveError, redrive

    endpoints = Endpoints.read(args.home)
    sqs = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=endpoints.region
    ).client("sqs", endpoint_url=endpoints.s3_endpoint)  # the stack serves S3 and SQS on one endpoint
    show = (lambda message: print("  " + _describe_message(message))) if args.dry_run else (lambda message: None)
    try:
        moved = redrive(
            sqs,
            endpoints.dead_letter_queue_url,
            endpoints.queue_url,
            max_messages=args.max,
            dry_run=args.dry_run,
            on_message=show,
        )
    except RedriveError as error:
        print(f"ragline: {error}", file=sys.stderr)
        return 1
    if args.dry_run:
        print(f"would move {moved} message(s) from the dead-letter queue to the ingest queue (dry run)")
    else:
        print(f"moved {moved} message(s) from the dead-letter queue to the ingest queue")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from ragline.local.sync import sync

    report = sync(args.home, prefix=args.prefix, dry_run=args.dry_run, allow_mass_delete=args.allow_mass_delete)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_drift(report)
    if report["guard_tripped"]:
        print(
            f"ragline: {len(report['withheld'])} removal(s) withheld: more than RAGLINE_SYNC_MAX_DELETE_SHARE of the "
            "indexed documents would go; check the bucket, then run again with --allow-mass-delete",
            file=sys.stderr,
        )
        return 3
    return 0


def _print_drift(report: dict[str, Any]) -> None:
    scope = f"s3://{report['bucket']}/{report['prefix']}"
    print(f"{scope}: {report['objects']} object(s) in the bucket, {report['indexed']} indexed")
    for drift, count in report["counts"].items():
        if count:
            shown = report["drift"][drift][:5]
            more = f" and {count - len(shown)} more" if count > len(shown) else ""
            print(f"  {drift:<10} {count:>6}  {', '.join(shown)}{more}")
    total = sum(report["counts"].values())
    if not total:
        print("  no drift")
    elif report["dry_run"]:
        print(f"would queue {total - len(report['withheld'])} repair(s) (dry run)")
    else:
        print(f"queued {report['enqueued']} repair(s) for ingest")


def cmd_demo(args: argparse.Namespace) -> int:
    from ragline.local.demo import run_demo

    return run_demo(args.home)


def cmd_eval(args: argparse.Namespace) -> int:
    if args.answers and (args.run is not None or args.keep_identical_ids):
        print("ragline: --run and --keep-identical-ids score retrieval; --answers scores answers", file=sys.stderr)
        return 2
    common = {
        "limit": args.limit,
        "max_docs": args.max_docs,
        "embedder": args.embedder,
        "cache": False if args.no_cache else None,
        "progress": not args.no_progress,
        "half": args.split,
    }
    mode = args.mode or Settings.from_env().retrieval_mode
    try:
        text, data = _eval_answers(args, mode, common) if args.answers else _eval_retrieval(args, mode, common)
    except ConfigurationError:
        raise  # main() reports it as every command does
    except ValueError as error:
        print(f"ragline: {error}", file=sys.stderr)
        return 2
    print(json.dumps(data, indent=2) if args.json else text)
    return 0


def _eval_retrieval(args: argparse.Namespace, mode: Any, common: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    from ragline.evaluation.runner import evaluate, format_report
    from ragline.evaluation.trec import run_tag, write_run

    if args.run is not None and not args.run.parent.is_dir():  # before the evaluation, not after it
        raise FileNotFoundError(f"{args.run.parent} is not a folder: --run cannot write {args.run.name} there")
    report = evaluate(args.dataset, mode, ignore_identical_ids=not args.keep_identical_ids, **common)
    text = format_report(report)
    if args.run is not None:
        with args.run.open("w", encoding="utf-8") as out:
            write_run(out, report.runs, run_tag(mode))
        text += f"\nrun file: {args.run} ({sum(map(len, report.runs.values()))} lines, tag {run_tag(mode)})"
    return text, report.to_dict()


def _eval_answers(args: argparse.Namespace, mode: Any, common: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    from ragline.evaluation.answers import evaluate_answers, format_answer_report

    report = evaluate_answers(args.dataset, mode, **common)
    return format_answer_report(report), report.to_dict()


# The commands that run the local stack, whose API and web app write to sockets clients may close.
SERVING_COMMANDS = frozenset({"up", "demo"})

COMMANDS = {
    "up": cmd_up,
    "down": cmd_down,
    "ingest": cmd_ingest,
    "ask": cmd_ask,
    "retrieve": cmd_retrieve,
    "ls": cmd_ls,
    "status": cmd_status,
    "delete": cmd_delete,
    "access": cmd_access,
    "download": cmd_download,
    "audit": cmd_audit,
    "token": cmd_token,
    "redrive": cmd_redrive,
    "sync": cmd_sync,
    "demo": cmd_demo,
    "eval": cmd_eval,
}

# -- ragline reindex ----------------------------------------------------------------------------------


def _add_reindex(commands: Any, common: argparse.ArgumentParser) -> None:
    reindex = commands.add_parser(
        "reindex", help="change the embedding model, or rebuild the index, with no downtime (docs/operations.md)"
    )
    reindex.add_argument(
        "--deployed",
        action="store_true",
        help="act on the AWS deployment the RAGLINE_* environment names (the functions' settings and "
        "RAGLINE_INGEST_QUEUE_URL), with your AWS credentials, instead of the local stack",
    )
    steps = reindex.add_subparsers(dest="step", required=True, help="the step: start, switch, switch-back...")
    status = steps.add_parser("status", parents=[common], help="the live index, the one being built, the old one")
    start = steps.add_parser("start", parents=[common], help="build a new index beside the live one and backfill it")
    start.add_argument("--embedder", choices=EMBEDDERS, required=True, help="the new index's embedding adapter")
    start.add_argument("--model", default="", help="the model id (bedrock; default: $RAGLINE_EMBED_MODEL)")
    start.add_argument("--dimensions", type=_positive, default=None, help="the vectors' length (bedrock, hash)")
    steps.add_parser("backfill", parents=[common], help="queue the backfill of every indexed document again")
    switch = steps.add_parser("switch", parents=[common], help="make the new index live once it holds every document")
    back = steps.add_parser("switch-back", parents=[common], help="make the previous index live again")
    drop = steps.add_parser("drop", parents=[common], help="remove the old index, or the one being built")
    dropped = drop.add_mutually_exclusive_group(required=True)
    dropped.add_argument("--old", action="store_true", help="the previous index (the one not live)")
    dropped.add_argument("--building", action="store_true", help="the index being built: abandon the reindex")
    compare = steps.add_parser(
        "compare", parents=[common], help="nDCG@10 of the live and the new model on a BEIR dataset, side by side"
    )
    compare.add_argument("--dataset", type=Path, required=True, help="a BEIR folder, as ragline eval takes")
    compare.add_argument(
        "--mode", choices=RETRIEVAL_MODES, default=None, help="retrieval mode (default: the settings')"
    )
    compare.add_argument("--limit", type=_positive, default=None, help="only the first N test queries (by id)")
    compare.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    for step in (status, start, switch, back, compare):
        step.add_argument("--json", action="store_true", help="print the result as JSON")


def cmd_reindex(args: argparse.Namespace) -> int:
    from ragline.local.reindex import stack_reindexer, stack_settings
    from ragline.reindex import ReindexRefused

    if args.deployed:
        from ragline.factory import build_queue, build_reindexer

        settings = Settings.from_env()
        reindexer = build_reindexer(settings, build_queue(settings))
    else:
        settings = stack_settings(args.home, Settings.from_env())
        reindexer = stack_reindexer(args.home, settings)
    try:
        return REINDEX_STEPS[args.step](args, settings, reindexer)
    except ReindexRefused as error:
        print(f"ragline: {error}", file=sys.stderr)
        return 1


def _print_indexes(args: argparse.Namespace, indexes: Any, progress: Any = None) -> None:
    if getattr(args, "json", False):
        data = indexes.to_json()
        if progress is not None:
            data["progress"] = progress.to_json()
        print(json.dumps(data, indent=2))
        return
    for name in ("live", "building", "previous"):
        target = getattr(indexes, name)
        line = target.describe() if target is not None else "(none)"
        if name == "building" and target is not None and progress is not None:
            line += f": {progress.present} of {progress.documents} indexed documents"
        print(f"{name + ':':10}{line}")
    print(f"{'revision:':10}{indexes.revision}")


def _reindex_status(args: argparse.Namespace, settings: Settings, reindexer: Any) -> int:
    status = reindexer.status()
    _print_indexes(args, status.indexes, status.progress)
    return 0


def _reindex_start(args: argparse.Namespace, settings: Settings, reindexer: Any) -> int:
    from ragline.factory import model_target

    indexes = reindexer.start(model_target(settings, args.embedder, args.model, args.dimensions))
    _print_indexes(args, indexes)
    if not args.json:
        print("backfill queued: ragline reindex status shows its progress, ragline reindex switch ends it")
    return 0


def _reindex_backfill(args: argparse.Namespace, settings: Settings, reindexer: Any) -> int:
    print(f"queued the backfill of {reindexer.backfill()} indexed document(s)")
    return 0


def _reindex_switch(args: argparse.Namespace, settings: Settings, reindexer: Any) -> int:
    _print_indexes(args, reindexer.switch())
    return 0


def _reindex_switch_back(args: argparse.Namespace, settings: Settings, reindexer: Any) -> int:
    _print_indexes(args, reindexer.switch_back())
    return 0


def _reindex_drop(args: argparse.Namespace, settings: Settings, reindexer: Any) -> int:
    removed = reindexer.drop_old() if args.old else reindexer.abandon()
    print(f"removed {removed.describe()}")
    return 0


def _reindex_compare(args: argparse.Namespace, settings: Settings, reindexer: Any) -> int:
    from ragline.evaluation.runner import evaluate
    from ragline.factory import build_target_embedder
    from ragline.reindex import compare

    mode = args.mode or settings.retrieval_mode

    def scores(embedder: Any) -> dict[str, float]:
        report = evaluate(args.dataset, mode, args.limit, embedder, progress=not args.no_progress)
        return dict(report.metrics)

    comparison = compare(reindexer.indexes(), lambda target: build_target_embedder(settings, target), scores)
    print(json.dumps(comparison.to_json(), indent=2) if args.json else comparison.table())
    return 0


REINDEX_STEPS = {
    "status": _reindex_status,
    "start": _reindex_start,
    "backfill": _reindex_backfill,
    "switch": _reindex_switch,
    "switch-back": _reindex_switch_back,
    "drop": _reindex_drop,
    "compare": _reindex_compare,
}
COMMANDS["reindex"] = cmd_reindex

if __name__ == "__main__":
    sys.exit(main())
