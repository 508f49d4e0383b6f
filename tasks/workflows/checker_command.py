"""The built-in checkers run as a command (or a batch worker) that speaks the checker protocol.

``python -m tasks.workflows.checker_command --checker python|yaml [--execute] [--schema FILE]
[--prefix AETHER] FILE`` prints the JSON status line on stdout and ``<PREFIX>_ERROR_CODE:<n>``
(default ``WARDEN``) on stderr, and exits as the seed's ``--check`` does: 0 when the file
passed, 1 when it did not (2 for a bad command line), so a built-in can be driven exactly like
any external checker, or used alone in a shell loop.

``--serve`` (no FILE) makes it a batch worker for :class:`tasks.workflows.classify.WorkerPool`:
one JSON request a line on stdin ``{"paths", "phase", "suppressions"}``, one JSON line back
``{"results": [FileResult, ...]}``, until stdin closes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from blocks.errors import ConfigError
from tasks.workflows.checkers import BUILTIN_CHECKERS, Checker, checker_from_spec
from tasks.workflows.classify import classify_batch
from tasks.workflows.models import CheckStatus, Phase

PASSED, FAILED = 0, 1
_PREFIX = re.compile(r"^[A-Z][A-Z0-9]*$")


def status_line(status: CheckStatus) -> str:
    """The seed's JSON status line for one verdict."""
    return json.dumps(
        {
            "ok": status.ok,
            "code": int(status.code),
            "code_name": status.code_name,
            "file": status.file,
            "phase": status.phase.value,
            "message": status.message,
            "line": status.line,
        }
    )


def main(argv: list[str] | None = None) -> int:
    """Check one file: exit 0 when it passed, 1 when it did not, 2 for a bad command line."""
    parser = argparse.ArgumentParser(
        prog="python -m tasks.workflows.checker_command", description=__doc__
    )
    parser.add_argument("--checker", choices=BUILTIN_CHECKERS, required=True)
    parser.add_argument("--execute", action="store_true", help="run the file, not only parse it")
    parser.add_argument("--schema", type=Path, help="JSON Schema for the yaml checker")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to run a file")
    parser.add_argument(
        "--prefix", default="WARDEN", help="error-code line prefix, e.g. AETHER (default WARDEN)"
    )
    parser.add_argument("--serve", action="store_true", help="batch worker: requests on stdin")
    parser.add_argument("file", type=Path, nargs="?")
    args = parser.parse_args(argv)
    if (args.file is None) != args.serve:
        parser.error("give exactly one of FILE and --serve")
    if not _PREFIX.match(args.prefix):
        parser.error(f"--prefix {args.prefix!r}: capital letters and digits, e.g. AETHER")
    if args.execute and args.checker == "yaml":
        parser.error("the yaml checker only parses: drop --execute")
    try:
        checker = checker_from_spec(args.checker, timeout_sec=args.timeout, schema_path=args.schema)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return int(exc.code)
    if args.serve:
        return serve(checker)
    status, _ = checker.check(args.file, Phase.EXECUTE if args.execute else Phase.PARSE)
    print(status_line(status), flush=True)
    print(f"{args.prefix}_ERROR_CODE:{int(status.code)}", file=sys.stderr, flush=True)
    return PASSED if status.ok else FAILED


def serve(checker: Checker) -> int:
    """Answer batch requests until stdin closes. Replies go to the original stdout; anything
    else that prints (a checked file run in-process, a library) is sent to stderr instead."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin:
        request = json.loads(line)
        rows = classify_batch(
            request["paths"], checker, Phase(request["phase"]), frozenset(request["suppressions"])
        )
        replies.write(json.dumps({"results": [row.model_dump(mode="json") for row in rows]}))
        replies.write("\n")
        replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
