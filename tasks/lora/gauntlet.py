"""Run the sealed gauntlet against a target: bounded concurrency, per-item latency and errors.

A target answers one prompt at a time (an OpenAI-compatible endpoint, or a local command).
Every item ends as data: its output, whether it is correct, its latency and, when it could not
be answered (timeout, HTTP status, bad JSON, failed command), the error. Nothing an item does
aborts the run; the verdict judges the error rate. Both sides of a comparison run in one event
loop at once, so load and time of day hit candidate and stable alike.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any, Literal, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict

from blocks.errors import BackendUnavailable, ConfigError, UsageError
from tasks.lora.dataset import (
    Dataset,
    GauntletItem,
    ItemErrorKind,
    ItemResult,
    SideResult,
    score,
    summarize_side,
)
from tasks.platform.naming import utc_now
from tasks.platform.processes import signal_group, why_not_started
from tasks.platform.urls import safe_url

OUTPUT_CHARS = 2_000  # answer text kept per item in a side's result
ERROR_BODY_CHARS = 200  # response or stderr excerpt kept in an item's error
T = TypeVar("T")


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


class SideBySide(BaseModel):
    """The candidate (canary) and, unless this is a first deploy, the stable adapter's run."""

    model_config = ConfigDict(frozen=True)

    candidate: SideResult
    stable: SideResult | None


async def run_gauntlet(
    dataset: Dataset, target: GauntletTarget, *, concurrency: int = 16, timeout: float = 30.0
) -> SideResult:
    """Every item through ``target``, at most ``concurrency`` at once, each within ``timeout`` s."""
    _check_run_args(concurrency, timeout)
    started_at, started = utc_now(), time.perf_counter()
    gate = asyncio.Semaphore(concurrency)
    pools = PoolShards(concurrency)
    async with httpx.AsyncClient(transport=pools, timeout=httpx.Timeout(timeout)) as client:
        results = await asyncio.gather(
            *(_run_item(item, target, client, gate, timeout) for item in dataset.items)
        )
    return summarize_side(
        dataset,
        target.name,
        list(results),
        started_at=started_at,
        duration_s=time.perf_counter() - started,
        concurrency=concurrency,
    )


class PoolShards(httpx.AsyncBaseTransport):
    """The client's connection pool as ``size`` one-connection pools; a request takes an idle one.

    httpcore scans every connection of a pool (a poll per idle one) each time a request starts
    or ends: one pool of 16 connections cost ~4 ms CPU a request here, 16 pools of one ~1.4 ms,
    the difference between ~120 and ~300 prompts/s (bench/gauntlet_runner.py). A pool is busy
    until its response is closed, so with the runner's semaphore each keeps one connection.
    """

    def __init__(self, size: int) -> None:
        tls = httpx.create_ssl_context()  # one context for all: loading CA certs takes ~50 ms
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=1)
        self._pools = [httpx.AsyncHTTPTransport(verify=tls, limits=limits) for _ in range(size)]
        self._busy = [0] * size

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self._busy.index(min(self._busy))
        self._busy[index] += 1
        try:
            response = await self._pools[index].handle_async_request(request)
        except BaseException:
            self._busy[index] -= 1
            raise
        response.stream = _ReleasingStream(response.stream, self._busy, index)
        return response

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that marks its pool idle again once closed."""

    def __init__(self, stream: Any, busy: list[int], index: int) -> None:
        self._stream, self._busy, self._index = stream, busy, index

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._index >= 0:
                self._busy[self._index] -= 1
                self._index = -1


async def run_side_by_side(
    dataset: Dataset,
    candidate_target: GauntletTarget,
    stable_target: GauntletTarget | None,
    *,
    concurrency: int = 16,
    timeout: float = 30.0,
) -> SideBySide:
    """Candidate and stable in the same event loop at once (``concurrency`` per side)."""
    _check_run_args(concurrency, timeout)
    runs = [run_gauntlet(dataset, candidate_target, concurrency=concurrency, timeout=timeout)]
    if stable_target is not None:
        runs.append(run_gauntlet(dataset, stable_target, concurrency=concurrency, timeout=timeout))
    sides = await asyncio.gather(*runs)
    return SideBySide(candidate=sides[0], stable=sides[1] if len(sides) > 1 else None)


def run_gauntlet_sync(
    dataset: Dataset, target: GauntletTarget, *, concurrency: int = 16, timeout: float = 30.0
) -> SideResult:
    """``run_gauntlet`` from synchronous code."""
    return run_sync(run_gauntlet(dataset, target, concurrency=concurrency, timeout=timeout))


def run_sync(run: Coroutine[Any, Any, T]) -> T:
    """Await one of this module's coroutines from synchronous code (not in a running loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run)
    run.close()
    raise UsageError(
        "a gauntlet run was started synchronously inside a running event loop",
        remediation="In async code (an async flow or task), await run_gauntlet(...) or "
        "run_side_by_side(...) instead.",
    )


async def _run_item(
    item: GauntletItem,
    target: GauntletTarget,
    client: httpx.AsyncClient,
    gate: asyncio.Semaphore,
    timeout: float,
) -> ItemResult:
    """One prompt; every failure becomes the item's error (latency excludes queueing)."""
    output: str | None = None
    kind: ItemErrorKind | None = None
    error: str | None = None
    async with gate:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                output = await target.complete(item.prompt, client)
        except TimeoutError:
            kind, error = ItemErrorKind.TIMEOUT, f"no answer within {timeout:g}s"
        except TargetError as exc:
            kind, error = exc.kind, exc.message
        except Exception as exc:  # a target's bug must count as an error, never as a pass
            kind, error = ItemErrorKind.TARGET_BUG, f"{type(exc).__name__}: {exc}"
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
    return ItemResult(
        id=item.id,
        domain=item.domain,
        output=None if output is None else output[:OUTPUT_CHARS],
        correct=output is not None and score(item, output),
        latency_ms=latency_ms,
        error=error,
        error_kind=kind,
    )


def _check_run_args(concurrency: int, timeout: float) -> None:
    if concurrency < 1:
        raise UsageError(f"gauntlet concurrency {concurrency!r}: must be >= 1")
    if not timeout > 0:
        raise UsageError(f"gauntlet timeout {timeout!r}: must be > 0 seconds")
