"""Which prompts a gauntlet runs: every one (``full``) or a stratified sample (``canary``).

The canary sample takes, in every domain of the sealed dataset, at least ``min_per_domain``
prompts (all of a smaller domain) and at least ``fraction`` of them, rounded up. Which prompts
is decided by a hash of ``seed`` and each prompt's id: the same seed (the deploy flow uses the
candidate's model name) always draws the same sample, and both sides of a comparison run it.
The sample keeps the dataset's hash, its size and its critical domains, so a verdict can say
exactly what ran and a critical domain stays critical.
"""

from __future__ import annotations

import hashlib
import math

from blocks.errors import ConfigError
from tasks.lora.dataset import Dataset, GauntletItem
from tasks.lora.switches import GauntletMode


def select_prompts(
    dataset: Dataset,
    mode: GauntletMode,
    *,
    seed: str,
    min_per_domain: int,
    fraction: float,
) -> Dataset:
    """The prompts ``mode`` runs: the whole dataset, or its stratified canary sample."""
    if min_per_domain < 1 or not 0 < fraction <= 1:
        raise ConfigError(
            f"canary sample: min_per_domain {min_per_domain!r} must be >= 1 and fraction "
            f"{fraction!r} in (0, 1]",
            remediation="Fix gauntlet.canary_min_per_domain / canary_fraction in the LoRA file.",
        )
    if mode is GauntletMode.FULL:
        return dataset
    chosen: set[str] = set()
    for domain in dataset.domains:
        items = [item for item in dataset.items if item.domain == domain]
        wanted = min(len(items), max(min_per_domain, math.ceil(fraction * len(items))))
        ranked = sorted(items, key=lambda item: _rank(seed, item))
        chosen.update(item.id for item in ranked[:wanted])
    return Dataset(
        path=dataset.path,
        sha256=dataset.sha256,
        items=tuple(item for item in dataset.items if item.id in chosen),  # file order
        sealed_items=dataset.sealed_items,
        critical_domains=dataset.critical_domains,
    )


def _rank(seed: str, item: GauntletItem) -> str:
    return hashlib.sha256(f"{seed}\0{item.id}".encode()).hexdigest()
