"""The built-in checkers as a command that speaks the checker protocol.

``python -m tasks.workflows.check --checker python|yaml [--execute] [--schema FILE] FILE``
prints the JSON status line on stdout, ``WARDEN_ERROR_CODE:<n>`` on stderr and exits with the
code (0 on success), so a built-in can be driven exactly like any external checker.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from blocks.errors import ConfigError
from tasks.workflows.checkers import BUILTIN_CHECKERS, checker_from_spec
from tasks.workflows.models import CheckStatus, Phase


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
    """Check one file; the exit status is its workflow code (2 also for a bad command line)."""
    parser = argparse.ArgumentParser(prog="python -m tasks.workflows.check", description=__doc__)
    parser.add_argument("--checker", choices=BUILTIN_CHECKERS, required=True)
    parser.add_argument("--execute", action="store_true", help="run the file, not only parse it")
    parser.add_argument("--schema", type=Path, help="JSON Schema for the yaml checker")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to run a file")
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        checker = checker_from_spec(args.checker, timeout_sec=args.timeout, schema_path=args.schema)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return int(exc.code)
    status, _ = checker.check(args.file, Phase.EXECUTE if args.execute else Phase.PARSE)
    print(status_line(status), flush=True)
    print(f"WARDEN_ERROR_CODE:{int(status.code)}", file=sys.stderr, flush=True)
    return int(status.code)


if __name__ == "__main__":
    sys.exit(main())
