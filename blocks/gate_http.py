"""What an HTTP gate checks in a response: status, JSON body, headers, server-sent events."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from blocks.gate_base import GateBase, Strict, compiled_regex


def _scalars_mean_equals(value: Any) -> Any:
    """``{path: 'ok'}`` is short for ``{path: {equals: 'ok'}}``."""
    if not isinstance(value, dict):
        return value
    return {key: (exp if isinstance(exp, dict) else {"equals": exp}) for key, exp in value.items()}


class JsonExpectation(Strict):
    equals: Any = None
    not_equals: Any = None
    min: float | None = None
    max: float | None = None
    matches: str | None = None
    exists: bool | None = None

    @field_validator("matches")
    @classmethod
    def _matches_compiles(cls, value: str | None) -> str | None:
        return compiled_regex(value)


class HeaderExpectation(Strict):
    """One response header: present (unless ``exists: false``), and optionally its value."""

    equals: str | None = None
    matches: str | None = Field(None, description="regex the value must match")
    exists: bool | None = None
    as_json: dict[str, JsonExpectation] | None = Field(
        None, description="the value parsed as JSON: dotted path ('$' = all) -> expectation"
    )

    @field_validator("matches")
    @classmethod
    def _matches_compiles(cls, value: str | None) -> str | None:
        return compiled_regex(value)

    @field_validator("as_json", mode="before")
    @classmethod
    def _scalar_means_equals(cls, value: Any) -> Any:
        return _scalars_mean_equals(value)


class SseExpectation(Strict):
    """A server-sent-events stream: its events' order and its resume with Last-Event-ID.

    Reading stops at the first ``until`` event (default: the last of ``order``), at the end of
    the stream, or after ``max_events``. With ``resume_after``, the connection is dropped after
    that many events and reopened with ``Last-Event-ID``: the resumed stream must start at the
    next id and its ids must increase; the expectations hold for both parts together.
    """

    order: list[str] = Field(default_factory=list, description="event types, in this order")
    within_first: dict[str, int] = Field(
        default_factory=dict, description="event type -> must come among the first N events"
    )
    until: str | None = None
    resume_after: int | None = Field(None, ge=1)
    max_events: int = Field(1000, ge=1, le=100_000)

    @field_validator("within_first")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [name for name, count in value.items() if count < 1]
        if bad:
            raise ValueError(f"within_first needs a count of at least 1 for {', '.join(bad)}")
        return value

    @property
    def stop_at(self) -> str | None:
        return self.until or (self.order[-1] if self.order else None)


class HttpGate(GateBase):
    kind: Literal["http"]
    url: str = Field(pattern=r"^(https?://|\$\{)", description="http(s) URL, or ${VAR}...")
    method: Literal["GET", "POST", "HEAD"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    expect_status: list[int] = Field(default_factory=lambda: [200])
    expect_json: dict[str, JsonExpectation] = Field(
        default_factory=dict, description="dotted path ('$' is the whole body) -> expectation"
    )
    expect_headers: dict[str, HeaderExpectation] = Field(
        default_factory=dict, description="response header name -> expectation"
    )
    expect_sse: SseExpectation | None = None

    @field_validator("expect_status", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value

    @field_validator("expect_json", "expect_headers", mode="before")
    @classmethod
    def _scalar_means_equals(cls, value: Any) -> Any:
        return _scalars_mean_equals(value)

    @model_validator(mode="after")
    def _body_checks_have_a_body(self) -> HttpGate:
        """Refuse options that could never be checked, rather than accept and ignore them."""
        reads_body = self.metric is not None and bool(self.metric.json_path or self.metric.regex)
        if self.metric is not None and self.metric.json_path and self.metric.regex:
            raise ValueError("metric: give json_path or regex, not both")
        if self.expect_sse is not None and (self.expect_json or reads_body):
            raise ValueError(
                "expect_sse reads the body as an event stream: it cannot be combined with "
                "expect_json or a metric read from the body (json_path, regex)"
            )
        if self.method == "HEAD" and (self.expect_json or self.expect_sse or reads_body):
            raise ValueError(
                "a HEAD response has no body: drop expect_json, expect_sse and "
                "metric.json_path/regex, or use GET"
            )
        return self
