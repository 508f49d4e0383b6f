"""DEMO FIXTURE — not part of Release Warden's logic: a tiny OpenAI-compatible server.

`make run` starts it so the LoRA gauntlet demo has a target on any machine, and tests use it.
It serves the adapters of a local adapter registry as models (``<prefix>-<version>``) and
answers the bundled gauntlet dataset's prompts from the dataset itself — a stand-in for a
model, nothing more. An adapter version whose folder holds ``DEMO_DEGRADED`` answers a third of
the prompts wrongly and more slowly (the demo's deliberately bad adapter, which the gauntlet
must catch). It also serves ``/health`` in the seed's ops-board shape.

    python deployments/local/demo_llm.py --port 8766 --registry .warden/lora/demo \
        --dataset deployments/lora/gauntlet.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DEGRADED_MARKER = "DEMO_DEGRADED"


class DemoModel:
    """The answers: the dataset's expected text, or a wrong one for a degraded adapter."""

    def __init__(self, registry: Path, dataset: Path, prefix: str, latency_s: float) -> None:
        self.registry, self.prefix, self.latency_s = registry, prefix, latency_s
        self.answers: dict[str, str] = {}
        self.events: list[dict] = []  # A2A events POSTed to /a2a/events
        for line in dataset.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                expected = str(item["expected"])
                if item.get("match") == "regex":  # the bundled patterns are anchored literals
                    expected = re.sub(r"[\^$\\]", "", expected)
                self.answers[item["prompt"]] = expected

    def models(self) -> dict[str, Path]:
        versions = self.registry / "versions"
        found = sorted(versions.glob("*/manifest.json")) if versions.exists() else []
        return {f"{self.prefix}-{p.parent.name}": p.parent for p in found}

    def answer(self, model: str, prompt: str) -> str | None:
        folder = self.models().get(model)
        if folder is None:
            return None
        degraded = any(folder.rglob(DEGRADED_MARKER))
        time.sleep(self.latency_s * (3 if degraded else 1))
        expected = self.answers.get(prompt.strip(), "I do not know.")
        if degraded and zlib.crc32(prompt.encode()) % 3 == 0:
            return "I am not sure, perhaps 42."
        return expected


def handler_for(model: DemoModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            if self.path == "/health":
                body = {"targets_up": 24, "alerts": 0, "soak_hours": 96, "demo": True}
                return self._json(200, body)
            if self.path == "/v1/models":
                data = [{"id": name, "object": "model"} for name in model.models()]
                return self._json(200, {"object": "list", "data": data})
            self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self._json(400, {"error": {"message": "body is not JSON"}})
            if self.path == "/a2a/events":  # the demo's A2A bus: accepts and counts
                model.events.append(request)
                return self._json(202, {"accepted": True})
            name = str(request.get("model", ""))
            if self.path == "/v1/completions":
                prompt = str(request.get("prompt", ""))
            elif self.path == "/v1/chat/completions":
                messages = request.get("messages") or [{}]
                prompt = str(messages[-1].get("content", ""))
            else:
                return self._json(404, {"error": {"message": f"no route {self.path}"}})
            text = model.answer(name, prompt)
            if text is None:
                message = f"The model `{name}` does not exist."
                return self._json(404, {"error": {"message": message, "type": "NotFoundError"}})
            if self.path == "/v1/chat/completions":
                choice = {"index": 0, "message": {"role": "assistant", "content": text}}
            else:
                choice = {"index": 0, "text": text}
            body = {"id": "demo", "object": "completion", "model": name, "choices": [choice]}
            self._json(200, body)

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the gauntlet opens 16+ connections at once


def start(
    registry: Path,
    dataset: Path,
    *,
    port: int = 0,
    prefix: str = "demo",
    latency_s: float = 0.005,
) -> ThreadingHTTPServer:
    """Serve on 127.0.0.1 in a daemon thread; ``server.server_address[1]`` is the port."""
    model = DemoModel(registry, dataset, prefix, latency_s)
    server = DemoServer(("127.0.0.1", port), handler_for(model))
    server.model = model
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--registry", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--prefix", default="demo")
    args = parser.parse_args()
    server = start(args.registry, args.dataset, port=args.port, prefix=args.prefix)
    print(f"demo LLM on http://127.0.0.1:{server.server_address[1]}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
