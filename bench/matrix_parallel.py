"""Bench: a GPU matrix of N legs finishes in at most 1.2x the slowest leg (legs run in parallel).

Runs the real gpu-matrix-promotion flow under one temporary Prefect API with N `local` legs.
Each leg's provisioning takes a fixed time (the provider's provision is wrapped with a sleep,
standing in for EC2's launch) and its installer and smoke job are real bash scripts that sleep
a fixed time. Measured from the evidence pack: the legs phase (first leg start to last leg end)
against the slowest leg's own duration, and the whole flow's wall time.
Usage: python bench/matrix_parallel.py [N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIMIT = 1.2
PROVISION_SECONDS = [1.0, 1.2, 1.4, 1.6, 1.1, 1.3, 1.5, 0.9]
SMOKE_SECONDS = [1.5, 1.0, 2.0, 1.2, 1.8, 1.4, 1.1, 1.6]
CANDIDATE = "registry.local/warden/agent@sha256:" + "ab" * 32


def invariants(folder: Path, legs: int) -> Path:
    spec = []
    for index in range(legs):
        spec.append(
            {
                "name": f"leg-{index}",
                "vendor": "cpu",
                "provider": "local",
                "gpu": "none",
                "onboarding_check": "test -f {{scratch}}/active",
                "smoke_job": f"sleep {SMOKE_SECONDS[index % len(SMOKE_SECONDS)]}; echo ok",
                "timeouts": {"poll_seconds": 0.1},
            }
        )
    document = {
        "environments": {
            "bench": {
                "region": "local",
                "agent_promotion": {
                    "digest_store": {"kind": "local", "parameter": "/radix/bench/approved"},
                    "concurrency_limit": "gpu-matrix-bench",
                    "installer": {"script": "sleep 0.5; touch {{scratch}}/active"},
                    "legs": spec,
                },
            }
        }
    }
    path = folder / "invariants.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def slow_provisioning() -> None:
    """Give each leg's provisioning a fixed duration, as a cloud launch has."""
    from tasks.matrix.local_host import LocalHostProvider

    real = LocalHostProvider.provision

    def provision(self, leg, **kwargs):
        index = int(leg.name.rsplit("-", 1)[1])
        time.sleep(PROVISION_SECONDS[index % len(PROVISION_SECONDS)])
        return real(self, leg, **kwargs)

    LocalHostProvider.provision = provision


def measure(config: Path) -> dict[str, float]:
    from flows.gpu_matrix import gpu_matrix_promotion

    started = time.perf_counter()
    state = gpu_matrix_promotion(
        environment="bench", candidate_digest=CANDIDATE, invariants=str(config), return_state=True
    )
    wall = time.perf_counter() - started
    pack = state.result()
    assert pack.promoted, pack.reasons
    durations = [(leg.finished_at - leg.started_at).total_seconds() for leg in pack.legs]
    phase = max(leg.finished_at for leg in pack.legs) - min(leg.started_at for leg in pack.legs)
    return {
        "legs": len(pack.legs),
        "slowest_leg": max(durations),
        "sum_of_legs": sum(durations),
        "legs_phase": phase.total_seconds(),
        "flow_wall": wall,
    }


def main() -> int:
    from prefect.testing.utilities import prefect_test_harness

    legs = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    slow_provisioning()
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=60):
        folder = Path(tmp)
        os.environ["WARDEN_HOME"] = str(folder / "home")
        config = invariants(folder, legs)
        measure(config)  # warm-up: the first run pays imports and the limit's creation
        row = measure(config)
    ratio = row["legs_phase"] / row["slowest_leg"]
    print("| legs | slowest leg s | sum of legs s | legs phase s | whole flow s | phase/slowest |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {row['legs']} | {row['slowest_leg']:.2f} | {row['sum_of_legs']:.2f} | "
        f"{row['legs_phase']:.2f} | {row['flow_wall']:.2f} | {ratio:.2f} |"
    )
    print(f"legs phase / slowest leg = {ratio:.2f} (limit {LIMIT})")
    print(f"whole flow / slowest leg = {row['flow_wall'] / row['slowest_leg']:.2f}")
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
