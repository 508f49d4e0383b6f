"""A Prefect block holding the gauntlet switches, so operators flip them from the UI.

Fields left empty defer to the environment and ``.env``; flow parameters override the block.
"""

from __future__ import annotations

from typing import Literal

from prefect.blocks.core import Block


class GauntletSettings(Block):
    """The seed's switches: GAUNTLET_ENABLED, A2A_ENABLED, GAUNTLET_MODE, SKIP_GAUNTLET."""

    _block_type_name = "Warden Gauntlet Settings"
    _block_type_slug = "warden-gauntlet-settings"
    _description = "LoRA gauntlet switches (unset fields defer to the environment and .env)."

    gauntlet_enabled: bool | None = None
    a2a_enabled: bool | None = None
    gauntlet_mode: Literal["canary", "full"] | None = None
    skip_gauntlet: bool | None = None

    def switches(self) -> dict[str, object]:
        """The fields that are set, keyed by the seed's variable names."""
        values = {
            "GAUNTLET_ENABLED": self.gauntlet_enabled,
            "A2A_ENABLED": self.a2a_enabled,
            "GAUNTLET_MODE": self.gauntlet_mode,
            "SKIP_GAUNTLET": self.skip_gauntlet,
        }
        return {name: value for name, value in values.items() if value is not None}
