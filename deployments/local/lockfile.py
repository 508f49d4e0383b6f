"""The dependency lock: `requirements.lock` pins every transitive package with its hashes.

    python3.11 deployments/local/lockfile.py check   # still the lock of pyproject.toml?
    python3.11 deployments/local/lockfile.py stamp   # record pyproject's inputs (make lock)

The lock is written by uv (`make lock`: `uv pip compile --universal --generate-hashes`) and
installed by `uv pip sync`, so installing never resolves. Its first line records a digest of
what the resolution was made from (requires-python, dependencies, extras). `check` recomputes
that digest from pyproject.toml: when they differ, pyproject changed after the lock was made and
installing the lock would install something pyproject no longer asks for. Standard library
only: it runs before the virtual environment exists.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
MARK = "# pyproject-inputs-sha256: "


class LockError(Exception):
    """The lock cannot be used as it is; the message says how to fix it."""


def inputs_digest(pyproject: Path = PYPROJECT) -> str:
    """Digest of what a resolution depends on, independent of comments and formatting."""
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise LockError(f"{pyproject}: cannot read [project] ({exc})") from exc
    inputs = {
        "requires-python": project.get("requires-python", ""),
        "dependencies": sorted(project.get("dependencies", [])),
        "optional-dependencies": {
            name: sorted(reqs) for name, reqs in project.get("optional-dependencies", {}).items()
        },
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def recorded_digest(lock: Path = LOCK) -> str | None:
    try:
        first = lock.read_text(encoding="utf-8").splitlines()[:1]
    except OSError as exc:
        raise LockError(f"{lock.name}: cannot read ({exc.strerror}); run `make lock`") from exc
    if not first or not first[0].startswith(MARK):
        return None
    return first[0][len(MARK) :].strip()


def check(pyproject: Path = PYPROJECT, lock: Path = LOCK) -> None:
    recorded = recorded_digest(lock)
    if recorded is None:
        raise LockError(f"{lock.name} has no '{MARK.strip()}' line: regenerate it with `make lock`")
    if recorded != inputs_digest(pyproject):
        raise LockError(
            f"{lock.name} is stale: the dependencies in {pyproject.name} changed after it was "
            "generated. Run `make lock` and commit both files."
        )


def stamp(pyproject: Path = PYPROJECT, lock: Path = LOCK) -> None:
    text = lock.read_text(encoding="utf-8")
    body = text.split("\n", 1)[1] if text.startswith(MARK) else text
    lock.write_text(f"{MARK}{inputs_digest(pyproject)}\n{body}", encoding="utf-8")


def main(argv: list[str]) -> int:
    if argv[1:] not in (["check"], ["stamp"]):
        print("usage: lockfile.py check|stamp", file=sys.stderr)
        return 2
    try:
        check() if argv[1] == "check" else stamp()
    except LockError as exc:
        print(f"lock: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
