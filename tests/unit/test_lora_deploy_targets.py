"""Deploy targets: the vLLM runtime-LoRA contract against a loopback server, and rollback on both.

``FakeVllm`` answers as vLLM's ``OpenAIServingModels`` does with
VLLM_ALLOW_RUNTIME_LORA_UPDATING=True: 200 plain-text "Success: ..." bodies, JSON ErrorResponse
errors (400 "has already been loaded", 404 "cannot be found" / "No adapter found"), and
``/v1/models`` listing the base model and each adapter with its path as ``root``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from blocks.errors import BackendUnavailable, ExitCode, UsageError
from tasks.lora.deploy_targets import DeployTarget, VllmRejected, VllmTarget
from tasks.lora.registry import LocalRegistry, Pointers
from tests.loopback import closed_port_url

BASE_MODEL = "meta-llama/Llama-3.2-1B-Instruct"


class FakeVllm(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.loaded: dict[str, str] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.error_shape = "nested"  # newer vLLM: {"error": {...}}; older: flat
        self.fail_status: int | None = None
        self.routes_enabled = True
        self.paths_visible = True
        self.delay = 0.0
        self.api_key: str | None = None
        self.auth_headers: list[str | None] = []
        self.targets: list[VllmTarget] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def calls(self) -> list[tuple[str, str, Any]]:
        taken, self.requests = self.requests, []
        return taken

    def error(self, status: int, message: str, kind: str) -> tuple[int, dict]:
        inner = {"message": message, "type": kind, "param": None, "code": status}
        return status, {"error": inner} if self.error_shape == "nested" else inner | {
            "object": "error"
        }


class _Handler(BaseHTTPRequestHandler):
    server: FakeVllm
    disable_nagle_algorithm = True  # headers and body go out apart: no 40 ms delayed-ACK stall

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self._handle(None)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self._handle(json.loads(self.rfile.read(length)) if length else None)

    def _handle(self, body: Any) -> None:
        fake = self.server
        fake.requests.append((self.command, self.path, body))
        fake.auth_headers.append(self.headers.get("Authorization"))
        time.sleep(fake.delay)
        if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            return self._send(401, {"error": "Unauthorized"})
        if fake.fail_status:
            return self._send(fake.fail_status, {"detail": "engine is restarting"})
        route = {
            ("GET", "/v1/models"): self._models,
            ("POST", "/v1/load_lora_adapter"): self._load,
            ("POST", "/v1/unload_lora_adapter"): self._unload,
        }.get((self.command, self.path))
        if route is None or (self.command == "POST" and not fake.routes_enabled):
            return self._send(404, {"detail": "Not Found"})  # FastAPI: no such route
        self._send(*route(body or {}))

    def _models(self, _: dict) -> tuple[int, Any]:
        base = {"id": BASE_MODEL, "object": "model", "root": BASE_MODEL, "parent": None}
        cards = [base] + [
            {"id": name, "object": "model", "root": path, "parent": BASE_MODEL}
            for name, path in self.server.loaded.items()
        ]
        return 200, {"object": "list", "data": cards}

    def _load(self, body: dict) -> tuple[int, Any]:
        fake, name, path = self.server, body.get("lora_name"), body.get("lora_path")
        if not name or not path:
            msg = "Both 'lora_name' and 'lora_path' must be provided."
            return fake.error(400, msg, "InvalidUserInput")
        if name in fake.loaded:
            msg = f"The lora adapter '{name}' has already been loaded."
            return fake.error(400, msg, "InvalidUserInput")
        if not fake.paths_visible or not Path(path).is_dir():
            msg = f"Loading lora {name} failed: No adapter found for {path}"
            return fake.error(404, msg, "NotFoundError")
        fake.loaded[name] = path
        return 200, f"Success: LoRA adapter '{name}' added successfully."

    def _unload(self, body: dict) -> tuple[int, Any]:
        name = body.get("lora_name")
        if name not in self.server.loaded:
            msg = f"The lora adapter '{name}' cannot be found."
            return self.server.error(404, msg, "NotFoundError")
        del self.server.loaded[name]
        return 200, f"Success: LoRA adapter '{name}' removed successfully."

    def _send(self, status: int, payload: Any) -> None:
        is_text = isinstance(payload, str)
        data = payload.encode() if is_text else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if is_text else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def vllm() -> Iterator[FakeVllm]:
    server = FakeVllm()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    for target in server.targets:
        target.close()
    server.shutdown()
    server.server_close()


def make_target(vllm: FakeVllm, registry: LocalRegistry, **kwargs) -> VllmTarget:
    """A target on the fake server; the ``vllm`` fixture closes its HTTP client afterwards."""
    target = VllmTarget(vllm.url, name_prefix="warden", registry=registry, **kwargs)
    vllm.targets.append(target)
    return target


def test_contract_requests_through_deploy_promote_rollback(
    vllm: FakeVllm, registry: LocalRegistry, adapters: dict
) -> None:
    target = make_target(vllm, registry)
    load, unload, models = "/v1/load_lora_adapter", "/v1/unload_lora_adapter", "/v1/models"

    target.deploy_canary("v1", adapters["v1"])
    path1 = str(registry.adapter_path("v1"))
    assert vllm.calls() == [("POST", load, {"lora_name": "warden-v1", "lora_path": path1})]
    assert target.current() == Pointers(canary="v1")
    assert target.model_name("canary") == "warden-v1" and target.model_name("stable") is None

    target.promote_canary()  # already loaded under its name; no old stable to unload
    assert vllm.calls() == [("GET", models, None)]
    assert target.current() == Pointers(stable="v1") and target.model_name("stable") == "warden-v1"

    target.deploy_canary("v2", adapters["v2"])
    path2 = str(registry.adapter_path("v2"))
    target.promote_canary()
    assert vllm.calls() == [
        ("POST", load, {"lora_name": "warden-v2", "lora_path": path2}),
        ("GET", models, None),
        ("POST", unload, {"lora_name": "warden-v1"}),
    ]
    assert vllm.loaded == {"warden-v2": path2}

    target.deploy_canary("v3", adapters["v3"])
    vllm.calls()
    result = target.rollback()
    assert vllm.calls() == [("POST", unload, {"lora_name": "warden-v3"}), ("GET", models, None)]
    assert vllm.loaded == {"warden-v2": path2}
    assert (result.target, result.rolled_back, result.canary, result.stable) == (
        "vllm",
        True,
        "v3",
        "v2",
    )
    assert result.canary_was_loaded is True and result.stable_reloaded is False

    again = target.rollback()
    assert vllm.calls() == [] and (again.rolled_back, again.stable) == (False, "v2")
    assert [e["action"] for e in target.history()] == [
        "deploy_canary",
        "promote",
        "deploy_canary",
        "promote",
        "deploy_canary",
        "rollback",
    ]


@pytest.mark.parametrize("shape", ["nested", "flat"])
def test_rollback_after_a_server_restart_reloads_the_stable(
    vllm: FakeVllm, registry: LocalRegistry, adapters: dict, shape: str
) -> None:
    vllm.error_shape = shape
    target = make_target(vllm, registry)
    target.deploy_canary("v1", adapters["v1"])
    target.promote_canary()
    target.deploy_canary("v2", adapters["v2"])
    vllm.loaded.clear()  # a restart forgets runtime-loaded adapters
    vllm.calls()
    result = target.rollback()
    assert result.canary_was_loaded is False and result.stable_reloaded is True
    path1 = str(registry.adapter_path("v1"))
    assert vllm.calls() == [
        ("POST", "/v1/unload_lora_adapter", {"lora_name": "warden-v2"}),
        ("GET", "/v1/models", None),
        ("POST", "/v1/load_lora_adapter", {"lora_name": "warden-v1", "lora_path": path1}),
    ]
    assert vllm.loaded == {"warden-v1": path1} and target.current() == Pointers(stable="v1")


@pytest.mark.parametrize("kind", ["local", "vllm"])
def test_rollback_restores_the_previous_version_on_both_targets(
    vllm: FakeVllm, registry: LocalRegistry, adapters: dict, kind: str
) -> None:
    target: DeployTarget = registry if kind == "local" else make_target(vllm, registry)
    target.deploy_canary("v1", adapters["v1"])
    target.promote_canary()
    target.deploy_canary("v2", adapters["v2"])
    assert target.current() == Pointers(stable="v1", canary="v2")
    result = target.rollback()
    assert result.rolled_back and result.canary == "v2" and result.stable == "v1"
    assert target.current() == Pointers(stable="v1", canary=None)
    assert target.model_name("stable").endswith("-v1") and target.model_name("canary") is None
    assert target.history()[-1]["action"] == "rollback"
    if kind == "vllm":
        assert set(vllm.loaded) == {"warden-v1"}


def test_a_retried_load_of_the_same_adapter_is_accepted(
    vllm: FakeVllm, registry: LocalRegistry, adapters: dict
) -> None:
    target = make_target(vllm, registry)
    registry.store_version("v1", adapters["v1"])
    vllm.loaded["warden-v1"] = str(registry.adapter_path("v1"))  # the first try got through
    target.deploy_canary("v1", adapters["v1"])
    assert target.current() == Pointers(canary="v1")


def test_a_name_loaded_from_another_path_is_refused(
    vllm: FakeVllm, registry: LocalRegistry, adapters: dict
) -> None:
    vllm.loaded["warden-v1"] = "/elsewhere/v1"
    with pytest.raises(VllmRejected, match="already serves 'warden-v1' from /elsewhere/v1"):
        make_target(vllm, registry).deploy_canary("v1", adapters["v1"])
    assert registry.current() == Pointers()


def _server_down(vllm: FakeVllm) -> None:
    vllm.shutdown()
    vllm.server_close()


# fmt: off
FAILURES = [
    # break the server, expected error, its exit code, what its remediation points at
    pytest.param(lambda v: setattr(v, "fail_status", 503), BackendUnavailable,
                 ExitCode.BACKEND_UNAVAILABLE, "Start the backend", id="5xx"),
    pytest.param(lambda v: setattr(v, "routes_enabled", False), VllmRejected,
                 ExitCode.VERDICT_FAILED, "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True",
                 id="runtime-lora-disabled"),
    pytest.param(lambda v: setattr(v, "paths_visible", False), VllmRejected,
                 ExitCode.VERDICT_FAILED, "readable by the server", id="path-not-on-server"),
    pytest.param(lambda v: setattr(v, "api_key", "s3cret-key"), VllmRejected,
                 ExitCode.VERDICT_FAILED, "--api-key", id="unauthorised"),
]
# fmt: on


@pytest.mark.parametrize(("breaks", "error", "code", "remedy"), FAILURES)
def test_failed_deploy_leaves_pointers_alone(
    vllm: FakeVllm,
    registry: LocalRegistry,
    adapters: dict,
    breaks: Callable,
    error: type,
    code: ExitCode,
    remedy: str,
) -> None:
    breaks(vllm)
    with pytest.raises(error) as caught:
        make_target(vllm, registry).deploy_canary("v1", adapters["v1"])
    assert type(caught.value) is error and caught.value.code == code
    assert remedy in caught.value.remediation  # each refusal gets its own fix
    assert registry.current() == Pointers() and registry.history() == []


def test_disabled_routes_are_not_mistaken_for_an_unloaded_canary(
    vllm: FakeVllm, registry: LocalRegistry, adapters: dict
) -> None:
    target = make_target(vllm, registry)
    target.deploy_canary("v1", adapters["v1"])
    vllm.routes_enabled = False  # unload now answers FastAPI's 404, not vLLM's "cannot be found"
    with pytest.raises(VllmRejected) as caught:
        target.rollback()
    assert caught.value.code == ExitCode.VERDICT_FAILED
    assert target.current() == Pointers(canary="v1")  # nothing recorded: the retry will work


@pytest.mark.parametrize("operation", ["deploy", "promote", "rollback"])
def test_server_down_is_backend_unavailable_naming_the_url(
    vllm: FakeVllm, registry: LocalRegistry, adapters: dict, operation: str
) -> None:
    target = make_target(vllm, registry)
    if operation != "deploy":
        target.deploy_canary("v1", adapters["v1"])
    down = VllmTarget(closed_port_url(), name_prefix="warden", registry=registry, timeout=2)
    vllm.targets.append(down)
    before = registry.current()
    with pytest.raises(BackendUnavailable, match=f"cannot reach vLLM at {down.base_url}/v1/"):
        {
            "deploy": lambda: down.deploy_canary("v1", adapters["v1"]),
            "promote": down.promote_canary,
            "rollback": down.rollback,
        }[operation]()
    assert registry.current() == before


def test_a_slow_server_times_out(vllm: FakeVllm, registry: LocalRegistry, adapters: dict) -> None:
    vllm.delay = 1.0
    target = make_target(vllm, registry, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        target.deploy_canary("v1", adapters["v1"])
    assert time.monotonic() - started < 1.0 and caught.value.retryable
    assert caught.value.code == ExitCode.BACKEND_UNAVAILABLE
    assert registry.current() == Pointers()


def test_api_key_is_sent_and_never_shown(
    vllm: FakeVllm, registry: LocalRegistry, adapters: dict
) -> None:
    vllm.api_key = "s3cret-key"
    target = make_target(vllm, registry, api_key="s3cret-key")
    target.deploy_canary("v1", adapters["v1"])
    assert vllm.auth_headers == ["Bearer s3cret-key"]
    vllm.fail_status = 503
    with pytest.raises(BackendUnavailable) as caught:
        target.promote_canary()
    assert "s3cret" not in str(caught.value)


def test_a_password_in_the_url_is_masked_in_errors(registry: LocalRegistry) -> None:
    url = closed_port_url().replace("http://", "http://ops:hunter2@")
    with (
        VllmTarget(url, name_prefix="warden", registry=registry, timeout=2) as target,
        pytest.raises(BackendUnavailable) as caught,
    ):
        target.loaded_adapters()
    assert "hunter2" not in str(caught.value) and "ops:***@127.0.0.1" in caught.value.message


def test_an_injected_client_is_used_with_the_timeout(
    vllm: FakeVllm, registry: LocalRegistry, adapters: dict
) -> None:
    seen: list[httpx.Request] = []
    with httpx.Client(event_hooks={"request": [seen.append]}) as client:
        target = make_target(vllm, registry, client=client, timeout=3)
        target.deploy_canary("v1", adapters["v1"])
    assert [r.url.path for r in seen] == ["/v1/load_lora_adapter"]
    assert seen[0].extensions["timeout"] == {"connect": 3, "read": 3, "write": 3, "pool": 3}


def test_model_list_that_is_not_openai_shaped(
    vllm: FakeVllm, registry: LocalRegistry, adapters: dict
) -> None:
    target = make_target(vllm, registry)
    target.deploy_canary("v1", adapters["v1"])
    vllm.RequestHandlerClass = type(
        "Odd", (_Handler,), {"_models": lambda self, _: (200, {"models": []})}
    )
    with pytest.raises(VllmRejected) as caught:
        target.promote_canary()
    assert caught.value.code == ExitCode.VERDICT_FAILED


@pytest.mark.parametrize(
    ("base_url", "kwargs"),
    [
        ("127.0.0.1:8000", {}),
        ("ftp://127.0.0.1", {}),
        ("http://", {}),
        ("http://127.0.0.1:8000", {"timeout": 0}),
        ("http://127.0.0.1:8000", {"name_prefix": "has space"}),
    ],
)
def test_bad_settings(registry: LocalRegistry, base_url: str, kwargs: dict) -> None:
    arguments = {"name_prefix": "warden", "registry": registry} | kwargs
    with pytest.raises(UsageError) as caught:
        VllmTarget(base_url, **arguments)
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_openai_style_base_url_is_accepted(registry: LocalRegistry) -> None:
    target = VllmTarget("http://127.0.0.1:8000/v1/", name_prefix="w", registry=registry)
    assert target.base_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize("kind", ["local", "vllm"])
def test_both_backends_offer_the_whole_protocol(
    vllm: FakeVllm, registry: LocalRegistry, kind: str
) -> None:
    target = registry if kind == "local" else make_target(vllm, registry)
    assert target.name == kind
    for member in (
        "current",
        "deploy_canary",
        "promote_canary",
        "rollback",
        "model_name",
        "history",
    ):
        assert callable(getattr(target, member))
    with pytest.raises(UsageError) as caught:
        target.model_name("blue")
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_a_canary_loaded_but_not_pointed_at_is_unloaded_again(
    vllm: FakeVllm, registry: LocalRegistry, adapters: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing could roll back a canary the pointers do not know, so deploy takes it back."""

    def disk_full(version: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(registry, "set_canary", disk_full)
    with pytest.raises(OSError):
        make_target(vllm, registry).deploy_canary("v1", adapters["v1"])
    assert vllm.loaded == {} and registry.current() == Pointers()
    assert [path for _, path, _ in vllm.calls()] == [
        "/v1/load_lora_adapter",
        "/v1/unload_lora_adapter",
    ]
