"""The local adapter registry: deploy, promote, rollback, history, immutability and its lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from blocks.errors import ConfigError, ExitCode, UsageError, WardenError
from tasks.lora.registry import (
    AdapterRejected,
    LocalRegistry,
    Pointers,
    RegistryBusy,
    VersionConflict,
)
from tests.lora_adapters import write_adapter


def actions(registry: LocalRegistry) -> list[tuple[str, str, str | None]]:
    return [(e["action"], e["version"], e["previous_stable"]) for e in registry.history()]


def test_empty_registry(registry: LocalRegistry) -> None:
    assert registry.current() == Pointers(stable=None, canary=None)
    assert registry.history() == [] and registry.versions() == []
    assert registry.model_name("stable") is None and registry.model_name("canary") is None


def test_deploy_promote_rollback_cycle(registry: LocalRegistry, adapters: dict) -> None:
    registry.deploy_canary("v1", adapters["v1"])
    assert registry.current() == Pointers(stable=None, canary="v1")
    assert registry.model_name("canary") == "warden-v1"
    registry.promote_canary()
    assert registry.current() == Pointers(stable="v1", canary=None)
    registry.deploy_canary("v2", adapters["v2"])
    assert (registry.model_name("stable"), registry.model_name("canary")) == (
        "warden-v1",
        "warden-v2",
    )
    result = registry.rollback()
    assert registry.current() == Pointers(stable="v1", canary=None)
    assert (result.target, result.rolled_back, result.canary, result.stable) == (
        "local",
        True,
        "v2",
        "v1",
    )
    assert not result.stable_restored and result.canary_was_loaded is None
    assert actions(registry) == [
        ("deploy_canary", "v1", None),
        ("promote", "v1", None),
        ("deploy_canary", "v2", "v1"),
        ("rollback", "v2", "v1"),
    ]
    assert all(e["at"].endswith("Z") for e in registry.history())
    assert registry.versions() == ["v1", "v2"]  # a rolled-back version stays stored


def test_second_rollback_is_a_noop_reporting_what_it_found(
    registry: LocalRegistry, adapters: dict
) -> None:
    registry.deploy_canary("v1", adapters["v1"])
    registry.promote_canary()
    registry.deploy_canary("v2", adapters["v2"])
    registry.rollback()
    again = registry.rollback()
    assert (again.rolled_back, again.canary, again.stable) == (False, None, "v1")
    assert again.message == "no canary deployed: nothing to roll back (stable is v1)"
    assert [a for a, _, _ in actions(registry)].count("rollback") == 1


def test_rollback_of_a_first_canary_leaves_no_stable(
    registry: LocalRegistry, adapters: dict
) -> None:
    registry.deploy_canary("v1", adapters["v1"])
    result = registry.rollback()
    assert registry.current() == Pointers() and result.stable is None
    assert not (registry.root / "stable").exists() and not (registry.root / "canary").exists()


def test_rollback_restores_the_recorded_stable_after_a_cut_short_promote(
    registry: LocalRegistry, adapters: dict
) -> None:
    registry.deploy_canary("v1", adapters["v1"])
    registry.promote_canary()
    registry.deploy_canary("v2", adapters["v2"])
    record = {"version": "v2", "previous_stable": "v1", "at": "2026-01-01T00:00:00Z"}
    (registry.root / "stable").write_text(json.dumps(record))  # stable moved, canary not cleared
    result = registry.rollback()
    assert result.stable_restored and result.stable == "v1"
    assert registry.current() == Pointers(stable="v1", canary=None)


def test_pointer_files_and_manifest(registry: LocalRegistry, adapters: dict) -> None:
    registry.deploy_canary("v1", adapters["v1"])
    canary = json.loads((registry.root / "canary").read_text())
    assert (canary["version"], canary["previous_stable"]) == ("v1", None)
    assert (registry.root / "canary").stat().st_mode & 0o777 == 0o644
    manifest = registry.manifest("v1")
    assert set(manifest["files"]) == {"adapter_config.json", "adapter_model.safetensors"}
    assert (manifest["rank"], manifest["target_modules"]) == (4, ["q_proj"])
    copied = registry.adapter_path("v1")
    assert copied.is_absolute() and copied == registry.root.resolve() / "versions/v1/adapter"
    for name in manifest["files"]:
        assert (copied / name).read_bytes() == (adapters["v1"] / name).read_bytes()
    assert not list((registry.root / "versions").glob(".staging-*"))


def test_same_version_with_other_bytes_is_refused(registry: LocalRegistry, adapters: dict) -> None:
    registry.deploy_canary("v1", adapters["v1"])
    registry.promote_canary()
    with pytest.raises(VersionConflict, match="version 'v1' already holds adapter"):
        registry.store_version("v1", adapters["v2"])
    assert registry.manifest("v1")["source"] == str(adapters["v1"].resolve())


def test_redeploying_the_live_canary_is_idempotent(registry: LocalRegistry, adapters: dict) -> None:
    registry.deploy_canary("v1", adapters["v1"])
    registry.deploy_canary("v1", adapters["v1"])
    assert actions(registry) == [("deploy_canary", "v1", None)]
    with pytest.raises(VersionConflict):
        registry.deploy_canary("v1", adapters["v2"])
    assert registry.current() == Pointers(canary="v1")


@pytest.mark.parametrize(
    ("setup", "version"),
    [(["v1"], "v2"), (["v1", "promote"], "v1")],
    ids=["canary-live", "already-stable"],
)
def test_refused_deploys_change_nothing(
    registry: LocalRegistry, adapters: dict, setup: list, version: str
) -> None:
    for step in setup:
        registry.promote_canary() if step == "promote" else registry.deploy_canary(
            step, adapters[step]
        )
    before, history = registry.current(), registry.history()
    with pytest.raises(UsageError) as caught:
        registry.deploy_canary(version, adapters[version])
    assert caught.value.code == ExitCode.USAGE_ERROR
    assert (registry.current(), registry.history()) == (before, history)
    assert registry.versions() == ["v1"]


def test_a_bad_adapter_is_never_stored(registry: LocalRegistry, tmp_path: Path) -> None:
    bad = write_adapter(tmp_path / "bad", rank=4, target_modules=["q_proj"], poison="nan")
    (bad / "extra.pt").write_bytes(b"x")
    with pytest.raises(AdapterRejected) as caught:
        registry.deploy_canary("v1", bad)
    assert caught.value.code == ExitCode.VERDICT_FAILED
    assert [p.split(":")[0] for p in caught.value.problems] == ["PICKLE_FILE", "NON_FINITE"]
    assert registry.versions() == [] and registry.current() == Pointers()


@pytest.mark.parametrize("version", ["", "../up", "a/b", ".hidden", "v 1", "x" * 129, "-v"])
def test_invalid_version_names(registry: LocalRegistry, adapters: dict, version: str) -> None:
    with pytest.raises(UsageError) as caught:
        registry.deploy_canary(version, adapters["v1"])
    assert caught.value.code == ExitCode.USAGE_ERROR
    assert sorted(p.name for p in registry.root.iterdir()) == ["versions"]


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.promote_canary(),
        lambda r: r.model_name("blue"),
        lambda r: r.manifest("v9"),
        lambda r: r.adapter_path("v9"),
    ],
    ids=["promote-without-canary", "bad-slot", "unknown-manifest", "unknown-path"],
)
def test_bad_requests(registry: LocalRegistry, call) -> None:
    with pytest.raises(UsageError) as caught:
        call(registry)
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_a_bad_request_says_what_is_stored(registry: LocalRegistry) -> None:
    with pytest.raises(UsageError, match=r"version 'v9' is not in .* \(stored: none\)"):
        registry.manifest("v9")  # the one message test of the registry's usage errors


@pytest.mark.parametrize("kwargs", [{"name_prefix": "a b"}, {"lock_timeout": 0}], ids=str)
def test_bad_registry_settings(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(UsageError) as caught:
        LocalRegistry(tmp_path / "r", **kwargs)
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_corrupt_pointer_and_history_are_reported_with_their_place(
    registry: LocalRegistry, adapters: dict
) -> None:
    registry.deploy_canary("v1", adapters["v1"])
    with (registry.root / "history.jsonl").open("a") as handle:
        handle.write("{torn\n")
    with pytest.raises(ConfigError, match=r"history\.jsonl:2: not a JSON line"):
        registry.history()
    (registry.root / "canary").write_text("v1\n")
    with pytest.raises(ConfigError) as caught:
        registry.current()
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_foreign_folder_in_versions_is_not_overwritten(
    registry: LocalRegistry, adapters: dict
) -> None:
    (registry.root / "versions" / "v1").mkdir()
    with pytest.raises(ConfigError) as caught:
        registry.store_version("v1", adapters["v1"])
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_concurrent_deploys_let_exactly_one_canary_in(tmp_path: Path, adapters: dict) -> None:
    root = tmp_path / "shared"
    sources = {f"c{i}": adapters[f"v{i % 3 + 1}"] for i in range(6)}
    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(len(sources))

    def deploy(version: str) -> None:
        registry = LocalRegistry(root)  # one per thread: separate lock file descriptions
        barrier.wait()
        try:
            registry.deploy_canary(version, sources[version])
            outcomes[version] = "ok"
        except WardenError as exc:
            outcomes[version] = type(exc).__name__

    threads = [threading.Thread(target=deploy, args=(v,)) for v in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    winners = [v for v, outcome in outcomes.items() if outcome == "ok"]
    assert len(winners) == 1 and set(outcomes.values()) == {"ok", "UsageError"}
    registry = LocalRegistry(root)
    assert registry.current() == Pointers(canary=winners[0])
    assert actions(registry) == [("deploy_canary", winners[0], None)]


def test_a_lock_held_by_another_process_blocks_then_releases(
    registry: LocalRegistry, adapters: dict
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(registry.root / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\nsys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        impatient = LocalRegistry(registry.root, lock_timeout=0.2)
        started = time.monotonic()
        with pytest.raises(RegistryBusy, match="is locked by another process"):
            impatient.deploy_canary("v1", adapters["v1"])
        assert time.monotonic() - started >= 0.2
        assert impatient.current() == Pointers()
    finally:
        holder.stdin.close()  # the holder exits, and the kernel drops its lock
        holder.wait(timeout=10)
    registry.deploy_canary("v1", adapters["v1"])
    assert registry.current() == Pointers(canary="v1")


def test_transaction_is_reentrant_and_serialises_threads(registry: LocalRegistry) -> None:
    order: list[str] = []
    with registry.transaction(), registry.transaction():
        other = threading.Thread(target=lambda: _locked_append(registry.root, order))
        other.start()
        time.sleep(0.1)
        order.append("first")
    other.join(timeout=10)
    assert order == ["first", "second"]
    assert os.path.exists(registry.root / ".lock")


def _locked_append(root: Path, order: list[str]) -> None:
    with LocalRegistry(root).transaction():
        order.append("second")
