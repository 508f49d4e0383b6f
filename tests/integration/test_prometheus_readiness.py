"""Readiness against a real Prometheus server started on 127.0.0.1 with a temporary config.

Two servers scrape a /metrics endpoint this test serves, every second: a quiet one (targets up,
no alerts, soak bounded by the server's own uptime) and one with an alert rule on a metric the
test switches on and off: the alert must count while it fires and still break the soak after it
resolved.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from blocks.lora import ReadinessPolicy
from tasks.lora.prometheus import PrometheusSource
from tasks.lora.readiness import Observation, check_readiness
from tests.loopback import QuietHandler, free_port, host_port, loopback_server

pytestmark = pytest.mark.integration
PROMETHEUS = Path("/usr/bin/prometheus")
START_TIMEOUT_S = 15
LENIENT = ReadinessPolicy(min_targets_up=1, max_alerts=0, min_soak_hours=0)


class Metrics(QuietHandler):
    alarm = 0  # the value of warden_test_alarm; the rule fires while it is 1

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        body = f"# TYPE warden_test_alarm gauge\nwarden_test_alarm {Metrics.alarm}\n".encode()
        status = 200 if self.path == "/metrics" else 404
        self.send_body(status, body, "text/plain; version=0.0.4")


@dataclass
class Server:
    url: str
    launched: float  # time.time() just before the process started
    log: Path


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    if not PROMETHEUS.exists():
        if os.environ.get("WARDEN_REQUIRE_PROMETHEUS"):
            pytest.fail(f"{PROMETHEUS} is missing and WARDEN_REQUIRE_PROMETHEUS is set")
        pytest.skip(f"{PROMETHEUS} is missing (apt-get install -y prometheus)")
    with loopback_server(Metrics) as server:
        yield host_port(server)


@pytest.fixture(scope="module")
def launch(
    target: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, str], Server]]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, rules: str) -> Server:
        home = tmp_path_factory.mktemp(name)
        (home / "rules.yml").write_text(rules)
        (home / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{home / 'rules.yml'}']\n"
            "scrape_configs:\n"
            f"  - {{job_name: warden-test, static_configs: [{{targets: ['{target}']}}]}}\n"
        )
        port, log = free_port(), home / "prometheus.log"
        launched = time.time()
        with log.open("wb") as sink:
            processes.append(
                subprocess.Popen(
                    [
                        str(PROMETHEUS),
                        f"--config.file={home / 'prometheus.yml'}",
                        f"--storage.tsdb.path={home / 'data'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                    ],
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            )
        return Server(url=f"http://127.0.0.1:{port}", launched=launched, log=log)

    try:
        yield start
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture(scope="module")
def servers(launch: Callable[[str, str], Server]) -> dict[str, Server]:
    """Both servers start at once so their start-up times overlap."""
    alarm = (
        "groups:\n  - name: warden-test\n    rules:\n"
        "      - {alert: WardenTestAlarm, expr: 'warden_test_alarm == 1', for: 0s}\n"
    )
    return {"quiet": launch("quiet", "groups: []\n"), "alarmed": launch("alarmed", alarm)}


def _wait_for(server: Server, done: Callable[[Observation], bool], what: str) -> Observation:
    source = PrometheusSource(server.url, timeout=2)
    deadline = time.monotonic() + START_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        readiness = check_readiness(source, LENIENT)
        last = readiness.observation or readiness.reasons
        if readiness.observation is not None and done(readiness.observation):
            return readiness.observation
        time.sleep(0.3)
    pytest.fail(f"{what} within {START_TIMEOUT_S}s; last: {last}\n{server.log.read_text()[-2000:]}")


def test_a_quiet_server_counts_the_target_and_claims_no_more_soak_than_its_uptime(
    servers: dict[str, Server],
) -> None:
    server = servers["quiet"]
    observation = _wait_for(server, lambda o: o.targets_up == 1, "the target was not up")
    watched_hours = (time.time() - server.launched) / 3600
    assert observation.alerts == 0
    assert observation.soak_hours is not None
    assert 0 < observation.soak_hours <= watched_hours
    assert observation.detail["soak_limited_by"] == "uptime"

    lenient = check_readiness(PrometheusSource(server.url), LENIENT)
    assert lenient.ready, lenient.reasons
    strict = check_readiness(PrometheusSource(server.url), ReadinessPolicy())
    assert not strict.ready
    assert any("1 targets up, at least 20 required" in r for r in strict.reasons)
    assert any("72 h soak required" in r for r in strict.reasons)


def test_a_firing_alert_is_counted_and_still_breaks_the_soak_after_it_resolved(
    servers: dict[str, Server],
) -> None:
    server = servers["alarmed"]
    _wait_for(server, lambda o: o.targets_up == 1, "the target was not up")
    Metrics.alarm = 1
    try:
        firing = _wait_for(server, lambda o: o.alerts >= 1, "the alert never fired")
    finally:
        Metrics.alarm = 0
    assert firing.soak_hours == 0
    assert firing.detail["soak_limited_by"] == "an alert is firing"
    readiness = check_readiness(PrometheusSource(server.url), LENIENT)
    assert any("active alerts, at most 0 allowed" in r for r in readiness.reasons)

    resolved = _wait_for(server, lambda o: o.alerts == 0, "the alert never resolved")
    assert resolved.targets_up == 1
    assert resolved.soak_hours == 0  # the firing samples are still inside the newest slice
    assert resolved.detail["soak_limited_by"] == "an alert fired"


def test_a_query_prometheus_rejects_is_a_reason_naming_the_server(
    servers: dict[str, Server],
) -> None:
    server = servers["quiet"]
    _wait_for(server, lambda o: o.targets_up == 1, "the target was not up")
    readiness = check_readiness(PrometheusSource(server.url, up_query="count(up =="), LENIENT)
    assert not readiness.ready
    assert readiness.reasons[0].startswith(f"prometheus {server.url} refused 'count(up =='")
    assert "bad_data" in readiness.reasons[0]
    assert httpx.get(f"{server.url}/-/ready", timeout=2).status_code == 200
