"""A Prefect block holding the gauntlet switches, so operators flip them from the UI, and the
one reader of every place a switch may be set: ``.env``, the environment and that block.

Fields left empty defer to the environment and ``.env``; flow parameters override the block.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from prefect.blocks.core import Block

from blocks.dotenv import read_dotenv
from blocks.errors import ConfigError
from blocks.lora import SWITCH_NAMES, LoraFile, SwitchInputs


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
        values = {name: getattr(self, name.lower()) for name in SWITCH_NAMES}
        return {name: value for name, value in values.items() if value is not None}


def read_switch_inputs(lora: LoraFile, environ: Mapping[str, str] | None = None) -> SwitchInputs:
    """The switches as ``.env`` (the LoRA file's ``dotenv:``, when it exists), the environment
    and the settings block (``settings_block:``) set them; a block that cannot be loaded, or a
    ``.env`` that cannot be read, is a ConfigError."""
    environ = os.environ if environ is None else environ
    block = {}
    if lora.settings_block:
        try:
            block = GauntletSettings.load(lora.settings_block).switches()
        except ValueError as exc:
            raise ConfigError(
                f"settings block {lora.settings_block!r} cannot be loaded: {exc}",
                remediation="Create it in the UI (Blocks → Warden Gauntlet Settings) or remove "
                "settings_block from the LoRA file.",
            ) from exc
    dotenv = Path(lora.dotenv) if lora.dotenv and Path(lora.dotenv).exists() else None
    return SwitchInputs(
        dotenv=read_dotenv(dotenv) if dotenv is not None else {},
        dotenv_path=str(dotenv) if dotenv is not None else None,
        environment={name: environ[name] for name in SWITCH_NAMES if name in environ},
        block=block,
    )
