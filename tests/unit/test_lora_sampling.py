"""GAUNTLET_MODE: full runs every prompt, canary a stratified sample that covers every domain."""

from __future__ import annotations

from collections import Counter

import pytest

from blocks.errors import ConfigError
from tasks.lora.dataset import Dataset, GauntletItem, MatchKind
from tasks.lora.sampling import select_prompts
from tasks.lora.switches import GauntletMode

SIZES = {"arithmetic": 15, "geography": 10, "units": 5, "safety": 5, "tiny": 2}


def dataset(sizes: dict[str, int] = SIZES, critical: str = "safety") -> Dataset:
    items = [
        GauntletItem(
            id=f"{domain}-{n}",
            domain=domain,
            prompt=f"{domain} question {n}",
            expected="x",
            match=MatchKind.EXACT,
            critical=domain == critical and n == 0,  # one item marks the whole domain
        )
        for domain, count in sizes.items()
        for n in range(count)
    ]
    return Dataset(path="memory.jsonl", sha256="a" * 64, items=tuple(items))


def canary(data: Dataset, seed: str = "demo-v2", minimum: int = 3, fraction: float = 0.25):
    return select_prompts(
        data, GauntletMode.CANARY, seed=seed, min_per_domain=minimum, fraction=fraction
    )


def test_full_runs_every_prompt() -> None:
    data = dataset()
    full = select_prompts(data, GauntletMode.FULL, seed="x", min_per_domain=3, fraction=0.25)
    assert full == data and not full.is_sample


@pytest.mark.parametrize(
    ("minimum", "fraction", "expected"),
    [
        (3, 0.25, {"arithmetic": 4, "geography": 3, "units": 3, "safety": 3, "tiny": 2}),
        (1, 0.1, {"arithmetic": 2, "geography": 1, "units": 1, "safety": 1, "tiny": 1}),
        (5, 0.5, {"arithmetic": 8, "geography": 5, "units": 5, "safety": 5, "tiny": 2}),
        (3, 1.0, SIZES),
    ],
    ids=["default", "small", "half", "fraction-1-is-everything"],
)
def test_canary_takes_at_least_the_minimum_and_the_fraction_of_every_domain(
    minimum: int, fraction: float, expected: dict[str, int]
) -> None:
    sample = canary(dataset(), minimum=minimum, fraction=fraction)
    assert Counter(item.domain for item in sample.items) == expected


def test_the_sample_keeps_the_seal_the_size_and_the_critical_domains() -> None:
    data = dataset()
    seed = next(s for s in map(str, range(100)) if "safety-0" not in _ids(canary(data, s)))
    sample = canary(data, seed)  # holds none of the items that mark "safety" critical
    assert sample.is_sample and sample.sealed_items == 37 and len(sample.items) == 15
    assert (sample.sha256, sample.domains) == (data.sha256, data.domains)
    assert sample.critical_domains == ("safety",)
    order = [item.id for item in data.items]
    assert [item.id for item in sample.items] == sorted(
        (item.id for item in sample.items), key=order.index
    )


def test_the_same_seed_draws_the_same_sample_and_others_differ() -> None:
    data = dataset()
    ids = {seed: [item.id for item in canary(data, seed).items] for seed in ("a", "b", "c")}
    assert ids["a"] == [item.id for item in canary(data, "a").items]
    assert len({tuple(v) for v in ids.values()}) > 1


@pytest.mark.parametrize(("minimum", "fraction"), [(0, 0.25), (3, 0.0), (3, 1.5)])
def test_impossible_sample_settings_are_refused(minimum: int, fraction: float) -> None:
    with pytest.raises(ConfigError):
        canary(dataset(), minimum=minimum, fraction=fraction)


def _ids(data: Dataset) -> list[str]:
    return [item.id for item in data.items]
