"""Whether a deploy may start, decided before anything is deployed or announced.

Two rules: the seed's mock gauntlet (SKIP_GAUNTLET) is refused on a ``production: true`` target
unless the target says ``allow_mock_gauntlet: true``; and a version name means one set of bytes,
so "already stable" needs the same bytes, another version's bytes under a used name are refused,
and a canary may not be deployed while another one is live.
"""

from __future__ import annotations

from blocks.errors import ConfigError, UsageError
from blocks.lora import TargetSpec
from tasks.lora.registry import Pointers, VersionConflict
from tasks.lora.switches import Switches


class MockGauntletRefused(ConfigError):
    """SKIP_GAUNTLET on a production target that does not allow the mock gauntlet."""

    remediation = (
        "Run the real gauntlet (unset SKIP_GAUNTLET), or, if a promotion without any gauntlet "
        "is really meant for this target, set allow_mock_gauntlet: true on it in the LoRA file."
    )


def check_mock_allowed(name: str, spec: TargetSpec, switches: Switches) -> None:
    """Refuse the mock gauntlet where it would put an untested adapter in production."""
    mock = switches.gauntlet_enabled and switches.skip_gauntlet
    if mock and spec.production and not spec.allow_mock_gauntlet:
        source = switches.source.get("SKIP_GAUNTLET", "default")
        raise MockGauntletRefused(
            f"SKIP_GAUNTLET=true ({source}) asks for the mock gauntlet, and target {name!r} is "
            "production: true without allow_mock_gauntlet"
        )


def already_stable(
    pointers: Pointers, version: str, stored_sha256: str | None, adapter_sha256: str
) -> bool:
    """True when ``version`` is stable with these very bytes; refuse what cannot be deployed.

    ``stored_sha256`` is the registry's hash for ``version`` (None: not stored yet).
    """
    if stored_sha256 is not None and stored_sha256 != adapter_sha256:
        raise VersionConflict(
            f"version {version!r} already holds adapter {stored_sha256[:12]}; this adapter is "
            f"{adapter_sha256[:12]}"
        )
    if pointers.stable == version:
        return True
    if pointers.canary not in (None, version):
        raise UsageError(
            f"canary {pointers.canary!r} is already deployed; it must be promoted or rolled "
            f"back before {version!r} can be deployed",
            remediation="Roll back the live canary first (warden lora rollback --target T).",
        )
    return False
