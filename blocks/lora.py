"""The LoRA gauntlet file (default ``deployments/lora.yaml``): targets, readiness, gauntlet, A2A.

A target is where adapters are deployed (a local adapter registry, or a vLLM server's runtime
LoRA API) and the OpenAI-compatible endpoint (or local command) the gauntlet asks. The
readiness source and thresholds say when the gauntlet may be enabled; the gauntlet section
pins the sealed dataset's SHA-256 and the verdict policy. Unset paths live under WARDEN_HOME.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from blocks.defaults import DEFAULT_LORA_FILE
from blocks.errors import UsageError
from blocks.storage import warden_home
from blocks.yaml_source import load_model

# The seed's switches, by their variable names.
SWITCH_NAMES = ("GAUNTLET_ENABLED", "A2A_ENABLED", "GAUNTLET_MODE", "SKIP_GAUNTLET")
# http(s) URLs, or ${NAME:-default} expanded from the environment when the flow runs.
_URL = r"^(https?://|\$\{)"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadinessPolicy(Strict):
    """The seed's thresholds: at least 20 targets up, no active alert, 72 h of soak."""

    min_targets_up: int = Field(20, ge=0)
    max_alerts: int = Field(0, ge=0)
    min_soak_hours: float = Field(72, ge=0)


class GauntletPolicy(Strict):
    """Thresholds of the comparison; defaults are the seed origin's rule and the issue's limits."""

    max_accuracy_drop_points: float = Field(default=1.0, ge=0)
    max_p95_latency_increase_pct: float = Field(default=20.0, ge=0)
    # A p95 rise of at most this many ms is never a regression (jitter on very fast targets).
    min_p95_latency_increase_ms: float = Field(default=0.0, ge=0)
    max_error_rate: float = Field(default=0.05, ge=0, le=1)
    inconclusive_error_rate: float = Field(default=0.25, ge=0, le=1)
    critical_domains: tuple[str, ...] = ()
    # The floor a first deploy (no stable adapter to compare with) must reach. Unset, a first
    # deploy cannot be judged: the gauntlet refuses it as a configuration error, never a pass.
    min_accuracy: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _inconclusive_above_failure(self) -> GauntletPolicy:
        if self.inconclusive_error_rate < self.max_error_rate:
            raise ValueError(
                f"inconclusive_error_rate {self.inconclusive_error_rate} is below max_error_rate "
                f"{self.max_error_rate}: set it at or above max_error_rate"
            )
        return self


class EndpointSpec(Strict):
    """The OpenAI-compatible endpoint the gauntlet asks; the adapter is the model name."""

    base_url: str = Field(pattern=_URL)
    api: Literal["completions", "chat"] = "completions"
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_tokens: int = Field(64, ge=1, le=4096)


class TargetSpec(Strict):
    kind: Literal["local", "vllm"]
    name_prefix: str = Field("lora", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    registry: str | None = Field(None, description="pointers and history; default under home")
    base_url: str | None = Field(None, pattern=_URL, description="vLLM server")
    endpoint: EndpointSpec | None = None
    command: list[str] | None = Field(None, min_length=1, description="argv; {prompt} or stdin")
    production: bool = Field(False, description="serves users: the mock gauntlet is refused")
    allow_mock_gauntlet: bool = Field(
        False, description="production only: accept SKIP_GAUNTLET (promoted_untested) anyway"
    )

    @model_validator(mode="after")
    def _one_way_to_ask(self) -> TargetSpec:
        if (self.endpoint is None) == (self.command is None):
            raise ValueError("give exactly one of endpoint (OpenAI-compatible) or command")
        if self.kind == "vllm" and not self.base_url:
            raise ValueError("a vllm target needs base_url (the server's runtime LoRA API)")
        if self.allow_mock_gauntlet and not self.production:
            raise ValueError(
                "allow_mock_gauntlet applies only to production: true targets (others accept "
                "the mock gauntlet anyway); remove it or mark the target production"
            )
        return self

    def registry_path(self, name: str) -> Path:
        return Path(self.registry) if self.registry else warden_home() / "lora" / name


class ReadinessSpec(Strict):
    kind: Literal["ops-board", "prometheus"]
    url: str = Field(pattern=_URL)
    timeout_seconds: float = Field(5.0, gt=0, le=120)
    policy: ReadinessPolicy = Field(default_factory=ReadinessPolicy)


class GauntletSpec(Strict):
    dataset: str
    dataset_sha256: str = Field(pattern=r"^(sha256:)?[0-9a-fA-F]{64}$")
    concurrency: int = Field(16, ge=1, le=512)
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    # GAUNTLET_MODE=canary runs a stratified sample: in every domain, at least
    # canary_min_per_domain prompts (all of a smaller domain) and at least canary_fraction of
    # them. GAUNTLET_MODE=full runs every prompt.
    canary_min_per_domain: int = Field(3, ge=1)
    canary_fraction: float = Field(0.25, gt=0, le=1)
    policy: GauntletPolicy = Field(default_factory=GauntletPolicy)


class AdapterLimits(Strict):
    max_bytes: int = Field(2 * 1024**3, ge=1)
    expected_rank: int | None = Field(None, ge=1)


class A2ASpec(Strict):
    """The A2A bus: best-effort webhook with a durable spool (used only when A2A is enabled)."""

    webhook_url: str | None = Field(None, pattern=_URL)
    spool: str | None = Field(None, description="SQLite spool; default WARDEN_HOME/events/")
    source: str = "release-warden/lora_deploy"
    timeout_seconds: float = Field(2.0, gt=0, le=30)
    # The start-of-run delivery of earlier runs' spooled events stops starting sends after this
    # long (it then lasts at most one more timeout_seconds); the rest waits for a later run.
    drain_seconds: float = Field(5.0, gt=0, le=60)

    def spool_path(self) -> Path:
        return Path(self.spool) if self.spool else warden_home() / "events" / "a2a-spool.sqlite"


class LoraFile(Strict):
    version: Literal[1] = 1
    dotenv: str | None = Field(".env", description="the seed's .env with the switches")
    settings_block: str | None = Field(None, description="a saved warden-gauntlet-settings block")
    targets: dict[str, TargetSpec] = Field(min_length=1)
    readiness: ReadinessSpec | None = None
    gauntlet: GauntletSpec
    adapter: AdapterLimits = Field(default_factory=AdapterLimits)
    a2a: A2ASpec = Field(default_factory=A2ASpec)

    def target(self, name: str) -> TargetSpec:
        if name not in self.targets:
            known = ", ".join(sorted(self.targets))
            raise UsageError(f"no target {name!r} in the LoRA file (known: {known})")
        return self.targets[name]


def load_lora_file(path: Path | str = DEFAULT_LORA_FILE) -> LoraFile:
    """Load and validate the LoRA file; raises ConfigError naming file, line and field."""
    return load_model(path, LoraFile)


def url_environment() -> Mapping[str, str]:
    """What ``${NAME:-default}`` in the file's URLs expands from: the worker's environment, read
    when a URL is used (the demo's ports move with WARDEN_* variables)."""
    return os.environ


class SwitchInputs(BaseModel):
    """What each source says about the switches, unparsed, lowest precedence first (see
    ``blocks.lora_settings.read_switch_inputs``; ``tasks.lora.switches`` layers and parses)."""

    model_config = ConfigDict(frozen=True)

    dotenv: dict[str, str] = Field(default_factory=dict)
    dotenv_path: str | None = None  # the .env file ``dotenv`` was read from (named in errors)
    environment: dict[str, str] = Field(default_factory=dict)  # the switches' variables only
    block: dict[str, Any] = Field(default_factory=dict)  # the settings block's set fields
