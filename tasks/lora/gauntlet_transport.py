"""The gauntlet's HTTP transport: a connection pool per concurrent request, not one shared."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx


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
