"""Where a LoRA canary is deployed, promoted and rolled back: the :class:`DeployTarget` protocol.

Backends: :class:`~tasks.lora.registry.LocalRegistry` (pointers on disk only) and
:class:`VllmTarget` (a vLLM server's runtime LoRA API, with a LocalRegistry keeping the pointers
and history). Configuration picks one; there is no fallback between them.

vLLM contract (``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``): ``POST /v1/load_lora_adapter``
``{"lora_name", "lora_path"}`` and ``POST /v1/unload_lora_adapter`` ``{"lora_name"}`` answer 200
with a plain-text "Success: ..." body; errors are JSON ``ErrorResponse`` (400 "has already been
loaded", 404 "cannot be found"), flat in older releases, under ``"error"`` in newer ones.
``GET /v1/models`` lists the base model and every loaded adapter (``id``, ``root`` = its path).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Protocol

import httpx

from blocks.errors import BackendUnavailable, ExitCode, UsageError, WardenError
from tasks.lora.registry import (
    LocalRegistry,
    Pointers,
    RollbackResult,
    Slot,
    adapter_model_name,
    check_name,
)
from tasks.platform.urls import safe_url

__all__ = ["DeployTarget", "Pointers", "RollbackResult", "Slot", "VllmRejected", "VllmTarget"]

BODY_EXCERPT_CHARS = 300


class DeployTarget(Protocol):
    """A place that serves a stable adapter and at most one canary beside it."""

    name: str

    def current(self) -> Pointers: ...

    def deploy_canary(self, version: str, adapter_dir: Path) -> None:
        """Store ``adapter_dir`` as ``version`` and serve it as the canary."""
        ...

    def promote_canary(self) -> None:
        """The canary becomes stable; the canary slot is cleared."""
        ...

    def rollback(self) -> RollbackResult:
        """Drop the canary, restore the stable recorded at deploy; a second call is a no-op."""
        ...

    def model_name(self, slot: Slot | str) -> str | None:
        """The model name an OpenAI-compatible endpoint knows the slot's adapter by."""
        ...

    def history(self) -> list[dict[str, Any]]: ...


class VllmRejected(WardenError):
    """vLLM answered, but refused the request (4xx); the message carries vLLM's reason."""

    code = ExitCode.VERDICT_FAILED
    remediation = (
        "Read vLLM's message: check that the adapter path is readable by the server and that "
        "the adapter matches the served base model (--max-lora-rank, --enable-lora)."
    )


class VllmTarget:
    """A vLLM OpenAI-compatible server whose adapters are loaded and unloaded at runtime."""

    name = "vllm"

    def __init__(
        self,
        base_url: str,
        *,
        name_prefix: str,
        registry: LocalRegistry,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        api_key: str | None = None,
    ) -> None:
        try:
            parsed = httpx.URL(base_url)
        except httpx.InvalidURL as exc:
            raise UsageError(f"vLLM base_url {base_url!r} is not a URL ({exc})") from exc
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise UsageError(
                f"vLLM base_url {base_url!r} must be http(s)://host[:port], e.g. "
                "http://127.0.0.1:8000"
            )
        if timeout <= 0:
            raise UsageError(f"timeout must be positive, got {timeout}")
        self.base_url = str(base_url).rstrip("/").removesuffix("/v1")
        self.name_prefix = check_name(name_prefix, "name_prefix")
        self.registry, self.timeout, self._client = registry, timeout, client
        self._owns_client = client is None  # our own client is made on first use, reused
        self._api_key = api_key

    def close(self) -> None:
        """Close the HTTP client this target made (an injected client is the caller's)."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> VllmTarget:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- DeployTarget ----------------------------------------------------------------------
    def current(self) -> Pointers:
        return self.registry.current()

    def history(self) -> list[dict[str, Any]]:
        return self.registry.history()

    def model_name(self, slot: Slot | str) -> str | None:
        version = self.registry.version_in(slot)
        return self._name(version) if version else None

    def deploy_canary(self, version: str, adapter_dir: Path) -> None:
        """Store and check the adapter, load it under ``<prefix>-<version>``, then point at it."""
        check_name(version, "version")
        with self.registry.transaction():
            self.registry.check_deployable(version)
            path = self.registry.store_version(version, adapter_dir)
            self._load(self._name(version), path)
            try:
                self.registry.set_canary(version)
            except BaseException:  # loaded but not pointed at: unload, or nothing rolls it back
                with contextlib.suppress(WardenError):
                    self._unload(self._name(version))
                raise

    def promote_canary(self) -> None:
        """Make sure the canary's name is loaded, unload the old stable, then move pointers."""
        with self.registry.transaction():
            pointers = self.current()
            if pointers.canary is None:
                self.registry.promote_canary()  # raises the registry's "no canary" error
                return
            self._ensure_loaded(pointers.canary)
            if pointers.stable and pointers.stable != pointers.canary:
                self._unload(self._name(pointers.stable))
            self.registry.promote_canary()

    def rollback(self) -> RollbackResult:
        """Unload the canary (already gone counts as done), reload the recorded stable if the
        server lost it, then restore the pointers."""
        with self.registry.transaction():
            record = self.registry.canary_record()
            if record is None:
                return self.registry.rollback().model_copy(update={"target": self.name})
            was_loaded = self._unload(self._name(record.version))
            reloaded = bool(record.previous_stable) and self._ensure_loaded(record.previous_stable)
            result = self.registry.rollback()
            return result.model_copy(
                update={
                    "target": self.name,
                    "canary_was_loaded": was_loaded,
                    "stable_reloaded": reloaded,
                }
            )

    # -- the vLLM API ----------------------------------------------------------------------
    def loaded_adapters(self) -> dict[str, str | None]:
        """``{model id: root}`` for every model the server lists (adapters' root is their path)."""
        response = self._request("GET", "/v1/models")
        if response.status_code != 200:
            raise self._rejected(response, "/v1/models")
        try:
            cards = response.json()["data"]
            return {card["id"]: card.get("root") for card in cards}
        except (ValueError, KeyError, TypeError) as exc:
            raise VllmRejected(
                f"{self._safe_url('/v1/models')} did not answer an OpenAI model list",
                remediation="Point base_url at the vLLM server's OpenAI-compatible API.",
            ) from exc

    def _ensure_loaded(self, version: str) -> bool:
        """Load ``version`` unless the server lists it already; True when it had to be loaded."""
        if self._name(version) in self.loaded_adapters():
            return False
        self._load(self._name(version), self.registry.adapter_path(version))
        return True

    def _load(self, lora_name: str, path: Path) -> None:
        body = {"lora_name": lora_name, "lora_path": str(path)}
        response = self._request("POST", "/v1/load_lora_adapter", body)
        if response.status_code == 200:
            return
        if response.status_code == 400 and "already been loaded" in _error_message(response):
            root = self.loaded_adapters().get(lora_name)
            if root in (None, str(path)):  # a retry of our own load: the same name, same path
                return
            raise VllmRejected(
                f"vLLM at {self._safe_url()} already serves {lora_name!r} from {root}, not {path}",
                remediation=f"Unload {lora_name!r} on the server, or deploy a new version.",
            )
        raise self._rejected(response, "/v1/load_lora_adapter")

    def _unload(self, lora_name: str) -> bool:
        """Unload ``lora_name``; False when the server did not have it (already unloaded)."""
        response = self._request("POST", "/v1/unload_lora_adapter", {"lora_name": lora_name})
        if response.status_code == 200:
            return True
        message = _error_message(response).lower()
        if (
            response.status_code in (400, 404)
            and _is_vllm_error(response)
            and ("cannot be found" in message or "not found" in message)
        ):
            return False
        raise self._rejected(response, "/v1/unload_lora_adapter")

    def _request(self, method: str, path: str, body: dict | None = None) -> httpx.Response:
        url = self._url(path)
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        timeout = httpx.Timeout(self.timeout)
        if self._client is None:
            self._client = httpx.Client(timeout=timeout)
        try:
            response = self._client.request(
                method, url, json=body, headers=headers, timeout=timeout
            )
        except httpx.TimeoutException as exc:
            raise BackendUnavailable(
                f"vLLM at {self._safe_url(path)} did not answer within {self.timeout:g}s "
                f"({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise BackendUnavailable(
                f"cannot reach vLLM at {self._safe_url(path)}: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code >= 500:
            raise BackendUnavailable(
                f"vLLM at {self._safe_url(path)} answered {response.status_code}: "
                f"{_error_message(response)}"
            )
        return response

    def _rejected(self, response: httpx.Response, path: str) -> VllmRejected:
        url = self._safe_url(path)
        message = f"vLLM at {url} answered {response.status_code}: {_error_message(response)}"
        if response.status_code == 404 and not _is_vllm_error(response):
            return VllmRejected(
                message,
                remediation="Start vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and "
                "--enable-lora so the runtime LoRA endpoints exist.",
            )
        if response.status_code in (401, 403):
            return VllmRejected(message, remediation="Pass the server's --api-key as api_key.")
        return VllmRejected(message)

    def _name(self, version: str) -> str:
        return adapter_model_name(self.name_prefix, version)

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _safe_url(self, path: str = "") -> str:
        return safe_url(self._url(path))


def _error_body(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _is_vllm_error(response: httpx.Response) -> bool:
    """vLLM's ErrorResponse (flat or under "error"), not a framework 404 for a missing route."""
    body = _error_body(response)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    return isinstance(body, dict) and "message" in body


def _error_message(response: httpx.Response) -> str:
    body = _error_body(response)
    if isinstance(body, dict):  # {"error": {"message"}}, {"message"}, {"error": str}, {"detail"}
        inner = body["error"] if isinstance(body.get("error"), dict) else body
        text = inner.get("message") or inner.get("detail") or body.get("error")
        if isinstance(text, str) and text:
            return text[:BODY_EXCERPT_CHARS]
    return response.text[:BODY_EXCERPT_CHARS] or "(empty body)"
