"""The ``ragline`` command: run the local stack and talk to it.

Every command takes ``--home DIR`` (default ``$RAGLINE_HOME`` or ``.ragline/``), which holds the stack's
state: its endpoints file, the token signing key and the on-disk index.

Every command first reads the settings from the environment: a bad one stops it with one line on stderr,
``ragline: RAGLINE_FUSION='typo' is not one of: convex, rrf``, and exit status 2 (docs/architecture.md,
"Configuration").
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ragline.errors import ConfigurationError
from ragline.settings import EMBEDDERS, RETRIEVAL_MODES, Settings

#: ``ragline up`` gives its stack this long to stop once asked; then it prints every thread's stack and exits.
STOP_TIMEOUT_SECONDS = 30


def _groups(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("RAGLINE_HOME", ".ragline")),
        help="the local stack's state folder (default: $RAGLINE_HOME or .ragline/)",
    )
    parser = argparse.ArgumentParser(prog="ragline", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", parents=[common], help="run the local stack until interrupted")
    up.add_argument("--port", type=int, default=0, help="port of the local API (default: any free port)")

    ingest = commands.add_parser("ingest", parents=[common], help="upload files through S3 and wait for indexing")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument("--roles", type=_groups, default=None, help="comma-separated roles, as x-amz-meta-roles")
    ingest.add_argument("--prefix", default="", help="key prefix in the bucket")
    ingest.add_argument("--no-wait", action="store_true", help="upload and return")
    ingest.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for indexing")

    for name, help_text in (
        ("ask", "ask a question (POST /query)"),
        ("retrieve", "retrieve passages (POST /retrieve)"),
    ):
        command = commands.add_parser(name, parents=[common], help=help_text)
        command.add_argument("question")
        command.add_argument("--user", required=True)
        command.add_argument("--groups", type=_groups, default=[], help="comma-separated groups (roles)")
        command.add_argument("--top-k", type=int, default=None)
        command.add_argument("--json", action="store_true", help="print the response body as JSON")

    token = commands.add_parser("token", parents=[common], help="print a bearer token the local API accepts")
    token.add_argument("--user", required=True)
    token.add_argument("--groups", type=_groups, default=[])

    redrive = commands.add_parser(
        "redrive", parents=[common], help="move the dead-letter queue's messages back to the ingest queue"
    )
    redrive.add_argument("--max", type=_positive, default=None, help="move at most N messages")
    redrive.add_argument("--dry-run", action="store_true", help="list what would move, move nothing")

    commands.add_parser("demo", parents=[common], help="run the demo: ingest a sample corpus, ask as several users")

    evaluation = commands.add_parser(
        "eval", parents=[common], help="score retrieval on a BEIR-layout dataset (nDCG@10, recall@100, MRR@10)"
    )
    evaluation.add_argument(
        "--dataset", type=Path, required=True, help="a BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv"
    )
    evaluation.add_argument("--mode", required=True, choices=RETRIEVAL_MODES)
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
    return parser


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def main(argv: list[str] | None = None) -> int:
    # One BLAS thread: the k-NN's matrix-vector product gains nothing from more on small machines, and idle
    # OpenBLAS threads spin-wait, taking the CPU from SQLite's BM25 and the local model (docs/performance.md).
    # Set before anything imports numpy.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args = _parser().parse_args(argv)
    from ragline.local.endpoints import StackNotRunning
    from ragline.local.stack import LocalStackUnavailable

    try:
        Settings.from_env()  # checked before any command starts its work
        return COMMANDS[args.command](args)
    except ConfigurationError as error:
        print(f"ragline: {error}", file=sys.stderr)
        return 2
    except (StackNotRunning, LocalStackUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def cmd_up(args: argparse.Namespace) -> int:
    from ragline.local.stack import DevStack

    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    stack = DevStack(args.home, port=args.port)
    try:
        endpoints = stack.start()
        print(f"ragline is up: API {endpoints.api_url}, S3 {endpoints.s3_endpoint}, bucket {endpoints.bucket}")
        print(f"embedder: {endpoints.embedder}; state in {args.home}; Ctrl-C to stop", flush=True)
        stopped.wait()
    finally:
        # A stop that hangs prints every thread's stack and ends the process, rather than hanging on.
        faulthandler.dump_traceback_later(STOP_TIMEOUT_SECONDS, exit=True)
        stack.stop()
        faulthandler.cancel_dump_traceback_later()
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from ragline.local.client import StackClient, keys_for
    from ragline.local.ingest_progress import ingest_with_progress

    client = StackClient(args.home)
    files = keys_for(args.paths, args.prefix)
    failed = ingest_with_progress(client, files, args.roles, wait=not args.no_wait, timeout=args.timeout)
    return 1 if failed else 0


def _print_sources(sources: list[dict[str, Any]]) -> None:
    for source in sources:
        page = f", page {source['page']}" if source.get("page") else ""
        print(f"  [{source['id']}] {source['title']} ({source['source']}{page})")


def cmd_ask(args: argparse.Namespace) -> int:
    return _call_query(args, "/query")


def cmd_retrieve(args: argparse.Namespace) -> int:
    return _call_query(args, "/retrieve")


def _call_query(args: argparse.Namespace, route: str) -> int:
    from ragline.local.client import StackClient

    client = StackClient(args.home)
    body: dict[str, Any] = {"question": args.question}
    if args.top_k is not None:
        body["top_k"] = args.top_k
    status, response = client.call("POST", route, body, client.token(args.user, args.groups))
    if args.json or status != 200:
        print(json.dumps(response, indent=2))
        return 0 if status == 200 else 1
    if route == "/query":
        print(response["answer"])
        if response["citations"]:
            print("\nSources:")
            _print_sources(response["citations"])
    else:
        for result in response["results"]:
            _print_sources([result])
            print("      " + result["text"][:200].replace("\n", " "))
    return 0


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
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.dry_run:
        print(f"would move {moved} message(s) from the dead-letter queue to the ingest queue (dry run)")
    else:
        print(f"moved {moved} message(s) from the dead-letter queue to the ingest queue")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ragline.local.demo import run_demo

    return run_demo(args.home)


def cmd_eval(args: argparse.Namespace) -> int:
    from ragline.evaluation.runner import evaluate, format_report

    try:
        report = evaluate(
            args.dataset,
            args.mode,
            limit=args.limit,
            max_docs=args.max_docs,
            embedder=args.embedder,
            cache=False if args.no_cache else None,
            progress=not args.no_progress,
        )
    except ConfigurationError:
        raise  # main() reports it as every command does
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0


COMMANDS = {
    "up": cmd_up,
    "ingest": cmd_ingest,
    "ask": cmd_ask,
    "retrieve": cmd_retrieve,
    "token": cmd_token,
    "redrive": cmd_redrive,
    "demo": cmd_demo,
    "eval": cmd_eval,
}

if __name__ == "__main__":
    sys.exit(main())
