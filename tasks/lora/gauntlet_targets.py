"""What the gauntlet asks: a :class:`GauntletTarget` answers one prompt at a time.

Backends: :class:`OpenAITarget` (an OpenAI-compatible ``/v1/completions`` or
``/v1/chat/completions`` endpoint, the adapter addressed as the model) and :class:`CommandTarget`
(a local tool run once per prompt). A prompt that cannot be answered raises :class:`TargetError`
with its :class:`~tasks.lora.dataset.ItemErrorKind`; the runner records it as that item's error.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import Literal, Protocol

import httpx

from blocks.errors import BackendUnavailable, ConfigError
from tasks.lora.dataset import ItemErrorKind
from tasks.platform.processes import signal_group, why_not_started
from tasks.platform.urls import safe_url

ERROR_BODY_CHARS = 200  # response or stderr excerpt kept in an item's error


class TargetError(BackendUnavailable):
    """A target could not answer one prompt; the runner records it as that item's error."""

    def __init__(self, kind: ItemErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class GauntletTarget(Protocol):
    """Something that answers prompts. ``name`` is shown in reports and holds no secret."""

    @property
    def name(self) -> str: ...

    async def complete(self, prompt: str, client: httpx.AsyncClient) -> str:
        """The answer text, or raise TargetError; ``client`` is the run's shared HTTP pool."""
        ...


class OpenAITarget:
    """An OpenAI-compatible server: ``/v1/completions`` or ``/v1/chat/completions``.

    ``headers`` (e.g. an Authorization token) are sent but never shown in names, reprs or errors.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api: Literal["completions", "chat"] = "completions",
        timeout: float = 30.0,
        max_tokens: int = 64,
        temperature: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        problems = _openai_problems(base_url, model, api, timeout, max_tokens, temperature)
        if problems:
            raise ConfigError("invalid OpenAI gauntlet target", problems=problems)
        base = base_url.rstrip("/").removesuffix("/v1")
        self.model = model
        self.api = api
        self.timeout = float(timeout)
        self.max_tokens = max_tokens
        self.temperature = float(temperature)
        path = "/v1/completions" if api == "completions" else "/v1/chat/completions"
        self.url = base + path
        self._headers = dict(headers or {})

    @property
    def name(self) -> str:
        return f"{self.model} ({self.api}) at {safe_url(self.url)}"

    def __repr__(self) -> str:
        return f"OpenAITarget({self.name!r})"

    def payload(self, prompt: str) -> dict[str, object]:
        body: dict[str, object] = {"model": self.model}
        if self.api == "completions":
            body["prompt"] = prompt
        else:
            body["messages"] = [{"role": "user", "content": prompt}]
        body.update(max_tokens=self.max_tokens, temperature=self.temperature)
        return body

    async def complete(self, prompt: str, client: httpx.AsyncClient) -> str:
        try:
            response = await client.post(
                self.url,
                json=self.payload(prompt),
                headers=self._headers,
                timeout=httpx.Timeout(self.timeout),
            )
        except httpx.HTTPError as exc:
            kind, text = next((k, t) for cls, k, t in _HTTPX_ERRORS if isinstance(exc, cls))
            detail = text.format(timeout=self.timeout, url=safe_url(self.url))
            raise TargetError(kind, f"{detail} ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise TargetError(
                ItemErrorKind.HTTP_STATUS,
                f"HTTP {response.status_code}: {response.text[:ERROR_BODY_CHARS]}",
            )
        return _choice_text(response, self.api)


_HTTPX_ERRORS = (  # first match wins
    (httpx.TimeoutException, ItemErrorKind.TIMEOUT, "no answer within {timeout:g}s"),
    (httpx.ConnectError, ItemErrorKind.CONNECT, "cannot connect to {url}"),
    (httpx.HTTPError, ItemErrorKind.REQUEST_ERROR, "request to {url} failed"),
)


def _openai_problems(
    base_url: str, model: str, api: str, timeout: float, max_tokens: int, temperature: float
) -> list[str]:
    problems = []
    try:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            problems.append(f"base_url {base_url!r}: use http(s)://host[:port]")
    except httpx.InvalidURL as exc:
        problems.append(f"base_url {base_url!r}: not a URL ({exc})")
    if not model.strip():
        problems.append("model: empty; name the model (the LoRA adapter) to query")
    if api not in ("completions", "chat"):
        problems.append(f"api {api!r}: use 'completions' or 'chat'")
    if not timeout > 0:
        problems.append(f"timeout {timeout!r}: must be > 0 seconds")
    if max_tokens < 1:
        problems.append(f"max_tokens {max_tokens!r}: must be >= 1")
    if not 0 <= temperature <= 2:
        problems.append(f"temperature {temperature!r}: must be between 0 and 2")
    return problems


def _choice_text(response: httpx.Response, api: str) -> str:
    """``choices[0].text`` (completions) or ``choices[0].message.content`` (chat)."""
    where = "choices[0].text" if api == "completions" else "choices[0].message.content"
    try:
        body = response.json()
        choice = body["choices"][0]
        text = choice["text"] if api == "completions" else choice["message"]["content"]
    except ValueError as exc:
        raise TargetError(
            ItemErrorKind.BAD_JSON, f"response is not JSON: {response.text[:ERROR_BODY_CHARS]}"
        ) from exc
    except (KeyError, IndexError, TypeError) as exc:
        raise TargetError(ItemErrorKind.BAD_JSON, f"response JSON has no {where}") from exc
    if not isinstance(text, str):
        raise TargetError(ItemErrorKind.BAD_JSON, f"{where} is {type(text).__name__}, not text")
    return text


class CommandTarget:
    """A local tool run once per prompt, without a shell.

    An argv element containing ``{prompt}`` gets the prompt substituted; with no such element the
    prompt goes to the tool's stdin. Stdout is the answer; a non-zero exit is an error. On timeout
    the tool's whole process group is killed.
    """

    def __init__(self, argv: Sequence[str], *, timeout: float = 30.0, name: str = "") -> None:
        problems = []
        if not argv or not argv[0]:
            problems.append("argv: empty; give the program and its arguments")
        if not timeout > 0:
            problems.append(f"timeout {timeout!r}: must be > 0 seconds")
        if problems:
            raise ConfigError("invalid command gauntlet target", problems=problems)
        self.argv = list(argv)
        self.timeout = float(timeout)
        self.uses_stdin = not any("{prompt}" in part for part in self.argv)
        self._name = name or " ".join(self.argv)

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"CommandTarget({self.name!r})"

    async def complete(self, prompt: str, client: httpx.AsyncClient) -> str:
        argv = [part.replace("{prompt}", prompt) for part in self.argv]
        proc = await self._start(argv)
        try:
            async with asyncio.timeout(self.timeout):
                out, err = await proc.communicate(prompt.encode() if self.uses_stdin else None)
        except TimeoutError as exc:
            raise TargetError(
                ItemErrorKind.TIMEOUT,
                f"{self.argv[0]}: no answer within {self.timeout:g}s; process group killed",
            ) from exc
        finally:
            if proc.returncode is None:  # timed out or cancelled: leave no process behind
                signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
        if proc.returncode != 0:
            tail = err.decode("utf-8", errors="replace")[-ERROR_BODY_CHARS:].strip()
            raise TargetError(
                ItemErrorKind.COMMAND_FAILED,
                f"{self.argv[0]} exited with {proc.returncode}: {tail}",
            )
        return out.decode("utf-8", errors="replace")

    async def _start(self, argv: list[str]) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if self.uses_stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group, so a timeout kills it all
            )
        except OSError as exc:
            _, message = why_not_started(argv[0], exc)
            raise TargetError(ItemErrorKind.COMMAND_FAILED, message) from exc
