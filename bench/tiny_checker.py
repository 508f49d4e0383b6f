"""A minimal external checker for benches: compile one file, speak the status-line protocol."""

import json
import sys

path = sys.argv[1]
try:
    with open(path, encoding="utf-8") as handle:
        compile(handle.read(), path, "exec")
except SyntaxError as exc:
    status = {
        "ok": False,
        "code": 20,
        "code_name": "PARSE_ERROR",
        "file": path,
        "phase": "parse",
        "message": f"SyntaxError: {exc.msg}",
        "line": exc.lineno,
    }
    print(json.dumps(status))
    sys.exit(20)
print(
    json.dumps(
        {
            "ok": True,
            "code": 0,
            "code_name": "SUCCESS",
            "file": path,
            "phase": "parse",
            "message": "",
            "line": None,
        }
    )
)
