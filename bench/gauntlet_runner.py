"""Bench: the gauntlet runner's throughput against a local endpoint that answers in ~5 ms.

A ThreadingHTTPServer in a separate process (so it does not share the client's GIL) serves
``/v1/completions``; 380 sealed prompts run through ``run_gauntlet`` at concurrency 16, then at
concurrency 1 for the ratio. Target: >= 200 prompts/s at concurrency 16. Prints one JSON line
and one human line. Usage: python bench/gauntlet_runner.py
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = 380
CONCURRENCY = 16
ANSWER_DELAY_S = 0.005
TARGET_PER_S = 200.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its pooled connections
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(ANSWER_DELAY_S)
        text = body["prompt"].replace("question", "answer")
        payload = json.dumps({"choices": [{"text": text}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


def serve() -> None:
    """The endpoint process: print the port, serve until the parent closes our stdin."""
    import threading

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()
    server.shutdown()


def write_dataset(folder: Path) -> tuple[Path, str]:
    path = folder / "gauntlet.jsonl"
    lines = [
        json.dumps(
            {
                "id": f"q{i}",
                "domain": f"d{i % 4}",
                "prompt": f"question-{i}",
                "expected": f"answer-{i}",
                "match": "exact",
            }
        )
        for i in range(PROMPTS)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    from tasks.lora.dataset import load_dataset
    from tasks.lora.gauntlet import run_side_sync
    from tasks.lora.gauntlet_targets import OpenAITarget

    endpoint = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(endpoint.stdout.readline())  # type: ignore[union-attr]
        target = OpenAITarget(f"http://127.0.0.1:{port}", "bench-adapter", timeout=10)
        with tempfile.TemporaryDirectory() as tmp:
            path, sha = write_dataset(Path(tmp))
            dataset = load_dataset(path, pinned_sha256=sha)
        run_side_sync(dataset, target, concurrency=CONCURRENCY)  # warm-up: imports, sockets
        wide = run_side_sync(dataset, target, concurrency=CONCURRENCY)
        serial = run_side_sync(dataset, target, concurrency=1)
    finally:
        endpoint.stdin.close()  # type: ignore[union-attr]
        endpoint.wait(timeout=10)
    for side in (wide, serial):
        assert side.errors == 0 and side.accuracy == 1.0, side.error_counts
    result = {
        "bench": "gauntlet_runner",
        "prompts": PROMPTS,
        "answer_delay_ms": ANSWER_DELAY_S * 1000,
        "concurrency": CONCURRENCY,
        "prompts_per_s": round(wide.prompts_per_s, 1),
        "p50_ms": round(wide.p50_ms or 0, 2),
        "p95_ms": round(wide.p95_ms or 0, 2),
        "serial_prompts_per_s": round(serial.prompts_per_s, 1),
        "serial_p50_ms": round(serial.p50_ms or 0, 2),
        "speedup": round(wide.prompts_per_s / serial.prompts_per_s, 2),
        "target_prompts_per_s": TARGET_PER_S,
        "met": wide.prompts_per_s >= TARGET_PER_S,
    }
    print(json.dumps(result))
    print(
        f"{PROMPTS} prompts, ~{ANSWER_DELAY_S * 1000:g} ms endpoint: "
        f"{result['prompts_per_s']} prompts/s at concurrency {CONCURRENCY} "
        f"(target >= {TARGET_PER_S:g}: {'met' if result['met'] else 'NOT met'}), "
        f"{result['serial_prompts_per_s']} prompts/s at concurrency 1 "
        f"({result['speedup']}x)"
    )
    return 0 if result["met"] else 1


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        sys.exit(main())
