"""Every CLI command that runs a flow gives the same stdout and exit code whichever path ran:
recorded on a Prefect API, or engine-less (no API configured or running: the flow's own steps
without the Prefect engine, so the verdict never waits for a temporary server).

Each case runs the real `warden` executable twice in fresh processes, once pointed at a real
Prefect server of its own (`prefect server start` on loopback, its own database: the runs'
load stays off the flow tests' harness) and once with no API at all, then compares the two
after normalizing what differs from run to run by nature (times, folders, run ids, widths).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tasks.platform.kill_switch import KILL_SWITCH_ENV, KILL_SWITCH_VARIABLE
from tests.conftest import ROOT
from tests.flows.gate_files import failing, passing, write_gates
from tests.flows.matrix_files import leg, write_invariants
from tests.integration.conftest import LocalPrefect
from tests.loopback import free_port

WARDEN = str(Path(sys.executable).parent / "warden")
DIGEST = (
    "registry.local/warden/agent@sha256:"
    + "5f70bf18a086007016e948b04aed3b82103a36bea4"
    + ("1755b6cddfaf10ace3c6ef")
)
ENGINES = ("prefect-api", "engine-less")
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api_url(local_prefect: LocalPrefect) -> str:
    """A Prefect server on a free loopback port with its own home and SQLite database."""
    return local_prefect.url


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str
    files: frozenset[str]


def run_both(
    api: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> dict[str, Ran]:
    """``warden ARGS`` on each engine; ``{out}`` in an argument is that run's own folder."""
    with ThreadPoolExecutor(len(ENGINES)) as pool:  # independent homes: both at once
        runs = {e: pool.submit(run, api, tmp_path / e, e, args, env or {}) for e in ENGINES}
    return {engine: future.result() for engine, future in runs.items()}


def run(api: str, folder: Path, engine: str, args: tuple[str, ...], extra: dict[str, str]) -> Ran:
    out = folder / "out"
    folder.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_HOME": str(folder / "prefect-home"),  # no profile with an API in it
        "WARDEN_HOME": str(folder / "home"),
        "WARDEN_PORT": str(free_port()),  # no local platform server answers there
        "COLUMNS": "100",
        **extra,
    }
    if engine == "prefect-api":
        env["PREFECT_API_URL"] = api
    argv = [WARDEN, *(a.replace("{out}", str(out)) for a in args)]
    done = subprocess.run(
        argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    files = frozenset(p.name for p in out.rglob("*") if p.is_file()) if out.exists() else set()
    return Ran(done.returncode, normalized(done.stdout, folder), done.stderr, frozenset(files))


def normalized(text: str, folder: Path) -> str:
    text = text.replace(str(folder), "<tmp>")
    text = re.sub(r"\d{8}T\d{6,12}Z", "<stamp>", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?", "<time>", text)
    text = re.sub(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<id>", text)
    text = re.sub(r"local-<stamp>", "<id>", text)
    text = re.sub(r"\b[0-9a-f]{12,}\b", "<hex>", text)  # host ids; digests alike on both
    text = re.sub(r"\b[0-9a-f]+…", "<hex>…", text)  # a host id cut to fit its column
    text = re.sub(r"\d+\.\d+", "<n>", text)
    text = re.sub(r"[─━═]+", "─", text)
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def assert_same(ran: dict[str, Ran], expected_code: int) -> None:
    api, local = ran["prefect-api"], ran["engine-less"]
    assert api.code == expected_code, api.stdout + api.stderr
    assert local.code == expected_code, local.stdout + local.stderr
    assert api.stdout == local.stdout
    assert api.files == local.files
    assert "recorded: Prefect API" in api.stderr
    assert "recorded: engine-less run" in local.stderr
    assert "Starting temporary server" not in local.stderr
    assert "Traceback" not in local.stderr


@pytest.mark.parametrize(
    ("gates", "code"),
    [([passing("smoke"), passing("lint")], 0), ([passing("smoke"), failing("unit")], 1)],
    ids=["go", "no-go"],
)
def test_gates_run(api_url: str, tmp_path: Path, gates: list[dict], code: int) -> None:
    config = write_gates(tmp_path, gates)
    ran = run_both(api_url, tmp_path, "gates", "run", "--config", str(config), "--out", "{out}")
    assert_same(ran, code)
    assert ran["engine-less"].files == {"gate_results.json", "gate_sign_off.md"}


def test_gates_run_stopped_by_the_kill_switch(api_url: str, tmp_path: Path) -> None:
    """The switch is the Variable on an API, the environment variable without one: exit 3."""
    config = write_gates(tmp_path, [passing("smoke")])
    variables = f"{api_url}/variables"
    httpx.post(variables + "/", json={"name": KILL_SWITCH_VARIABLE, "value": True}, timeout=10)
    try:
        api = run(
            api_url, tmp_path / "api", "prefect-api", ("gates", "run", "--config", str(config)), {}
        )
    finally:
        httpx.delete(f"{variables}/name/{KILL_SWITCH_VARIABLE}", timeout=10)
    local = run(
        api_url,
        tmp_path / "local",
        "engine-less",
        ("gates", "run", "--config", str(config)),
        {KILL_SWITCH_ENV: "true"},
    )
    assert (api.code, local.code) == (3, 3)
    assert KILL_SWITCH_VARIABLE in api.stdout and KILL_SWITCH_ENV in local.stdout
    # Beyond naming its own switch (and how to turn it off), each says the same.
    assert without_switch(api.stdout) == without_switch(local.stdout)


def without_switch(text: str) -> str:
    return "\n".join(
        line
        for line in text.splitlines()
        if "kill_switch" not in line.lower()
        and "KILL_SWITCH" not in line
        and "once it is safe" not in line
    )


@pytest.mark.parametrize("corpus", ["sample"])
def test_workflows_classify(api_url: str, tmp_path: Path, corpus: str) -> None:
    ran = run_both(api_url, tmp_path, "workflows", "classify", "--corpus", corpus, "--out", "{out}")
    assert_same(ran, 0)
    assert {"workflow_failures.json", "workflow_failures.md"} <= ran["engine-less"].files


@pytest.mark.parametrize("corpus", ["sample"])
def test_workflows_baseline(api_url: str, tmp_path: Path, corpus: str) -> None:
    ran = run_both(
        api_url,
        tmp_path,
        "workflows",
        "baseline",
        "--corpus",
        corpus,
        "--output",
        "{out}/base.json",
    )
    assert_same(ran, 0)
    assert ran["engine-less"].files == {"base.json"}


@pytest.mark.parametrize(("added", "code"), [(0, 0), (20, 1)], ids=["same", "regression"])
def test_workflows_gate(api_url: str, tmp_path: Path, added: int, code: int) -> None:
    ref = ROOT / "deployments" / "baselines" / "parse_baseline.json"
    document = json.loads(ref.read_text(encoding="utf-8"))
    document["by_code"]["VALIDATION_ERROR"] = document["by_code"].get("VALIDATION_ERROR", 0) + added
    document["total"] += added
    new = tmp_path / "new.json"
    new.write_text(json.dumps(document), encoding="utf-8")
    ran = run_both(api_url, tmp_path, "workflows", "gate", "--new", str(new), "--ref", str(ref))
    assert_same(ran, code)


@pytest.mark.parametrize("mode", ["--dry-run"])
def test_workflows_migrate(api_url: str, tmp_path: Path, mode: str) -> None:
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "flow.py").write_text("print('hello')\n", encoding="utf-8")
    ran = run_both(api_url, tmp_path, "workflows", "migrate", str(legacy), mode, "--out", "{out}")
    assert_same(ran, 0)


@pytest.mark.parametrize(
    ("smoke", "code"), [("true", 0), ("exit 4", 1)], ids=["promoted", "failed"]
)
def test_matrix_run(api_url: str, tmp_path: Path, smoke: str, code: int) -> None:
    invariants = write_invariants(tmp_path, [leg("cpu", smoke_job=smoke)])
    args = ("--env", "t", "--digest", DIGEST, "--invariants", str(invariants), "--out", "{out}")
    ran = run_both(api_url, tmp_path, "matrix", "run", *args)
    assert_same(ran, code)


@pytest.mark.parametrize("env", ["local"])
def test_matrix_janitor(api_url: str, tmp_path: Path, env: str) -> None:
    assert_same(run_both(api_url, tmp_path, "matrix", "janitor", "--env", env), 0)


@pytest.mark.parametrize(
    ("adapter", "code"),
    [("demo-adapter", 0), ("no-such-adapter", 1)],
    ids=["deployed", "refused"],
)
def test_lora_deploy(api_url: str, tmp_path: Path, adapter: str, code: int) -> None:
    folder = ROOT / "deployments" / "lora" / adapter
    ran = run_both(api_url, tmp_path, "lora", "deploy", str(folder), "--no-gauntlet", "--no-a2a")
    assert_same(ran, code)


@pytest.mark.parametrize("target", ["demo"])
def test_lora_gauntlet_with_nothing_deployed(api_url: str, tmp_path: Path, target: str) -> None:
    assert_same(run_both(api_url, tmp_path, "lora", "gauntlet", "--target", target), 2)


@pytest.mark.parametrize("target", ["demo"])
def test_lora_rollback_with_nothing_deployed(api_url: str, tmp_path: Path, target: str) -> None:
    assert_same(run_both(api_url, tmp_path, "lora", "rollback", "--target", target), 0)
