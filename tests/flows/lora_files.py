"""LoRA files, loopback servers and read-backs for the LoRA deploy flow tests."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from prefect.client.orchestration import get_client

from blocks.storage import warden_home
from tasks.lora.registry import LocalRegistry
from tests.conftest import ROOT
from tests.loopback import QuietHandler, host_port, loopback_server

LORA_FILE = ROOT / "deployments" / "lora.yaml"
DATASET = ROOT / "deployments" / "lora" / "gauntlet.jsonl"
GOOD_ADAPTER = ROOT / "deployments" / "lora" / "demo-adapter"
DEGRADED_ADAPTER = ROOT / "deployments" / "lora" / "demo-adapter-degraded"


def demo_registry() -> LocalRegistry:
    """The demo target's registry (WARDEN_HOME/lora/demo, model names ``demo-<version>``)."""
    return LocalRegistry(warden_home() / "lora" / "demo", name_prefix="demo")


def live_canary() -> LocalRegistry:
    """The demo target with stable v1 and a live canary v2 (as a stopped deploy leaves it)."""
    registry = demo_registry()
    registry.deploy_canary("v1", GOOD_ADAPTER)
    registry.promote_canary()
    registry.deploy_canary("v2", DEGRADED_ADAPTER)
    return registry


def write_lora(
    folder: Path, *, name: str = "lora.yaml", dotenv: str | None = None, **sections: Any
) -> Path:
    """The bundled LoRA file with ``dotenv`` set and top-level ``sections`` merged one level deep.

    ``dotenv`` defaults to none, so a ``.env`` in the checkout never reaches a test.
    """
    document = yaml.safe_load(LORA_FILE.read_text(encoding="utf-8"))
    document["dotenv"] = dotenv
    document["gauntlet"]["dataset"] = str(DATASET)
    for section, value in sections.items():
        if isinstance(value, dict) and isinstance(document.get(section), dict):
            document[section] = {**document[section], **value}
        else:
            document[section] = value
    path = folder / name
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def json_server(body: dict[str, Any]) -> Iterator[str]:
    """A loopback server answering every GET with ``body``; yields its base URL."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_json(200, body)

    with loopback_server(Handler) as server:
        yield f"http://{host_port(server)}"


def gauntlet_events(
    since: datetime,
    expected: Iterable[str],
    timeout_sec: float = 20.0,
    prefix: str = "warden.gauntlet.",
) -> list:
    """``warden.gauntlet.*`` (or ``prefix``) events that occurred since ``since``, oldest first.

    Events reach the API asynchronously: poll until every name in ``expected`` is there, as
    many times as it is listed (a name listed twice waits for two events of that name).
    """
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    events: list = []
    deadline = time.monotonic() + timeout_sec
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            query = EventFilter(  # built each time: ``until`` defaults to the moment it is made
                event=EventNameFilter(prefix=[prefix]),
                occurred=EventOccurredFilter(since=since),
            )
            events = client.read_events(query, limit=50).events
            if Counter(expected) <= Counter(event.event for event in events):
                break
            time.sleep(0.25)
    return sorted(events, key=lambda event: event.occurred)


@contextmanager
def refusing_vllm() -> Iterator[tuple[str, list[str]]]:
    """A vLLM runtime-LoRA API that refuses every load (400, as for a rank it cannot serve);
    yields its base URL and the paths it was asked for."""
    asked: list[str] = []

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            asked.append(self.path)
            self.send_json(200, {"object": "list", "data": []})

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            asked.append(self.path)
            if self.path == "/v1/unload_lora_adapter":
                self.send_json(404, {"error": {"message": "The lora adapter cannot be found."}})
                return
            message = "LoRA rank 64 is greater than max_lora_rank 16."
            self.send_json(400, {"error": {"message": message, "type": "BadRequestError"}})

    with loopback_server(Handler) as server:
        yield f"http://{host_port(server)}", asked


@contextmanager
def slow_bus(seconds_per_event: float) -> Iterator[str]:
    """An A2A webhook that accepts every event after ``seconds_per_event``; yields its URL."""

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(seconds_per_event)
            self.send_json(202, {"accepted": True})

    with loopback_server(Handler) as server:
        yield f"http://{host_port(server)}/a2a/events"
