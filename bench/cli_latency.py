"""Bench: how long CI waits for a CLI verdict, side by side with the cost of importing Prefect.

Each command runs as CI runs it — a fresh process, no Prefect API configured or running —
in interleaved rounds, and the median of each is compared:
  * ``python -c "import prefect"``: the floor of any command that runs a flow;
  * ``warden gates run`` on a one-gate file (``argv: ["true"]``): an engine-less run, which
    must take at most 1.5x the import (before: a temporary Prefect server, ~27 s);
  * ``warden installer --help`` and ``warden gates list``: reading commands, at most 1 s.

Usage: python bench/cli_latency.py [ROUNDS]   (default 5)
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RATIO_LIMIT = 1.5
READ_LIMIT_SEC = 1.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return elapsed


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        gates = folder / "one-gate.yaml"
        gates.write_text('version: 1\ngates:\n  - {name: ok, kind: command, argv: ["true"]}\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env |= {
            "PREFECT_HOME": str(folder / "prefect-home"),  # no profile naming an API
            "WARDEN_HOME": str(folder / "home"),
            "WARDEN_PORT": str(free_port()),  # no local platform server there
        }
        warden = str(BIN / "warden")
        commands = {
            "python -c 'import prefect'": [sys.executable, "-c", "import prefect"],
            "warden gates run (one gate)": [warden, "gates", "run", "--config", str(gates)],
            "warden installer --help": [warden, "installer", "--help"],
            "warden gates list": [warden, "gates", "list", "--config", str(gates)],
        }
        for argv in commands.values():  # warm the file cache once, as a CI job's second call
            timed(argv, env, ROOT)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):  # interleaved: load on the machine hits every command alike
            for name, argv in commands.items():
                samples[name].append(timed(argv, env, ROOT))
    median = {name: statistics.median(values) for name, values in samples.items()}
    print(f"{rounds} rounds, medians, {os.cpu_count()} cores\n")
    print("| command | median s | min s | max s |")
    print("|---|---|---|---|")
    for name, values in samples.items():
        print(f"| {name} | {median[name]:.2f} | {min(values):.2f} | {max(values):.2f} |")
    ratio = median["warden gates run (one gate)"] / median["python -c 'import prefect'"]
    print(f"\ngates run / import prefect = {ratio:.2f} (limit {RATIO_LIMIT})")
    slow = [n for n in ("warden installer --help", "warden gates list") if median[n] > 1.0]
    for name in ("warden installer --help", "warden gates list"):
        print(f"{name}: {median[name]:.2f} s (limit {READ_LIMIT_SEC:.0f} s)")
    return 0 if ratio <= RATIO_LIMIT and not slow else 1


if __name__ == "__main__":
    sys.exit(main())
