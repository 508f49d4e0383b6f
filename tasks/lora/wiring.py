"""Which backend each LoRA target uses: a table from configuration to classes, no fallback."""

from __future__ import annotations

from blocks.errors import ConfigError
from blocks.lora import LoraFile, ReadinessSpec, TargetSpec, url_environment
from tasks.lora.deploy_targets import DeployTarget, VllmTarget
from tasks.lora.gauntlet_targets import CommandTarget, GauntletTarget, OpenAITarget
from tasks.lora.ops_board import OpsBoardSource
from tasks.lora.prometheus import PrometheusSource
from tasks.lora.readiness import ReadinessSource
from tasks.lora.registry import LocalRegistry
from tasks.platform.variables import expand


def expand_url(value: str, where: str) -> str:
    """URLs may say ``${NAME:-default}`` (the demo's ports move with WARDEN_* variables)."""
    expanded, missing = expand(value, url_environment())
    if missing:
        raise ConfigError(
            f"{where} uses unset variable(s): {', '.join(missing)}",
            remediation="Export them or give a default: ${NAME:-value}.",
        )
    return expanded


def registry_of(name: str, spec: TargetSpec, lora: LoraFile) -> LocalRegistry:
    return LocalRegistry(
        spec.registry_path(name), name_prefix=spec.name_prefix, max_bytes=lora.adapter.max_bytes
    )


def deploy_target(name: str, lora: LoraFile) -> DeployTarget:
    spec = lora.target(name)
    registry = registry_of(name, spec, lora)
    if spec.kind == "local":
        return registry
    return VllmTarget(
        expand_url(spec.base_url or "", f"targets.{name}.base_url"),
        name_prefix=spec.name_prefix,
        registry=registry,
    )


def gauntlet_target(name: str, spec: TargetSpec, model: str) -> GauntletTarget:
    """The gauntlet's view of one adapter: the endpoint asked with ``model`` as the model."""
    if spec.endpoint is not None:
        endpoint = spec.endpoint
        return OpenAITarget(
            expand_url(endpoint.base_url, f"targets.{name}.endpoint.base_url"),
            model,
            api=endpoint.api,
            timeout=endpoint.timeout_seconds,
            max_tokens=endpoint.max_tokens,
        )
    argv = [part.replace("{model}", model) for part in spec.command or []]
    return CommandTarget(argv, name=model)


def readiness_source(spec: ReadinessSpec) -> ReadinessSource:
    url = expand_url(spec.url, "readiness.url")
    if spec.kind == "prometheus":
        return PrometheusSource(url, timeout=spec.timeout_seconds)
    return OpsBoardSource(url, timeout=spec.timeout_seconds)
