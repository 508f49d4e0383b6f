"""Invariants files for the GPU matrix flow tests: local legs whose scripts really run."""

from __future__ import annotations

from pathlib import Path

import yaml

from blocks.storage import warden_home
from flows.gpu_matrix import gpu_matrix_promotion
from tasks.matrix.evidence import EvidencePack
from tasks.matrix.store import LocalDigestStore
from tests.flows.results import typed_result

CANDIDATE = "registry.local/warden/agent@sha256:" + "ab" * 32
OTHER = "registry.local/warden/agent@sha256:" + "cd" * 32
PARAMETER = "/radix/t/agent_digest_approved"

INSTALLER = """\
mkdir -p {{scratch}}/agent
echo '{{digest}}' > {{scratch}}/agent/digest
nohup bash -c 'touch {{scratch}}/agent/active; while true; do sleep 1; done' \
  >/dev/null 2>&1 &
echo installed {{digest}} for {{leg}}
"""
ONBOARDING = "test -f {{scratch}}/agent/active"
CPU_SMOKE = "python3 -c 'print(sum(i * i for i in range(10000)))'"


def leg(name: str, **overrides) -> dict:
    spec = {
        "name": name,
        "vendor": "cpu",
        "provider": "local",
        "gpu": "none",
        "onboarding_check": ONBOARDING,
        "smoke_job": CPU_SMOKE,
        "timeouts": {
            "provision_seconds": 30,
            "ready_seconds": 10,
            "installer_seconds": 30,
            "onboarding_seconds": 10,
            "smoke_seconds": 30,
            "poll_seconds": 0.2,
        },
    }
    spec.update(overrides)
    return spec


def write_invariants(
    tmp_path: Path,
    legs: list[dict],
    *,
    installer: str = INSTALLER,
    environment: str = "t",
    **promotion,
) -> Path:
    agent_promotion = {
        "digest_store": {"kind": "local", "parameter": "/radix/t/agent_digest_approved"},
        "concurrency_limit": f"gpu-matrix-{environment}",
        "cleanup_ttl_hours": 4,
        "purpose_tag": "radix:purpose=gpu-matrix-test",
        "installer": {"script": installer},
        "legs": legs,
    }
    agent_promotion.update(promotion)
    document = {
        "environments": {environment: {"region": "local", "agent_promotion": agent_promotion}}
    }
    path = tmp_path / "invariants.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def store() -> LocalDigestStore:
    return LocalDigestStore(PARAMETER, warden_home() / "matrix" / "digests")


def run(invariants: Path, candidate: str = CANDIDATE, **params) -> tuple[object, EvidencePack]:
    state = gpu_matrix_promotion(
        environment=params.pop("environment", "t"),
        candidate_digest=candidate,
        invariants=str(invariants),
        return_state=True,
        **params,
    )
    pack = typed_result(state, EvidencePack)
    return state, pack


def hosts_left() -> list[Path]:
    root = warden_home() / "matrix" / "hosts"
    return sorted(p for p in root.glob("*") if p.is_dir()) if root.exists() else []
