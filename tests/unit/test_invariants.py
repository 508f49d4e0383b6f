"""The invariants file: the shipped one loads and runs; invalid files name env, field, line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from blocks.errors import ConfigError, ExitCode, UsageError
from blocks.invariants import (
    DEFAULT_INVARIANTS,
    ControlPlaneSpec,
    InvariantsFile,
    LegSpec,
    Timeouts,
    check_control_plane_url,
    load_invariants,
    render,
)
from tests.conftest import ROOT

DIGEST = "ghcr.io/org/radix-agent@sha256:" + "ab" * 32

VALID = """\
environments:
  dev:
    region: us-west-2
    agent_promotion:
      digest_store: {kind: ssm, parameter: /radix/dev/agent_digest_approved}
      auth:
        user_pool_id: us-west-2_abcdef123
        client_id: 1example23456789
        username_secret: radix-test-username
        password_secret: radix-test-password
      control_plane:
        url: https://control-plane.example.com/api
      concurrency_limit: gpu-matrix-dev
      purpose_tag: radix:purpose=gpu-matrix
      installer:
        script: |
          docker pull {{digest}}
      legs:
        - name: nvidia
          vendor: nvidia
          provider: ec2
          gpu: nvidia
          ami: ami-0c2b8ca305e393e06
          instance_type: g5.xlarge
          onboarding_check: docker ps
          smoke_job: |
            nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  local:
    region: local
    agent_promotion:
      digest_store: {kind: local, parameter: /radix/local/agent_digest_approved}
      concurrency_limit: gpu-matrix-local
      installer: {script: "mkdir -p {{scratch}}"}
      legs:
        - {name: cpu, vendor: cpu, provider: local, gpu: none,
           onboarding_check: "true", smoke_job: "echo ok"}
"""

DEV = "environments.dev.agent_promotion"
AUTH_BLOCK = (
    "      auth:\n        user_pool_id: us-west-2_abcdef123\n"
    "        client_id: 1example23456789\n"
    "        username_secret: radix-test-username\n"
    "        password_secret: radix-test-password\n"
)
NVIDIA_LEG = "          ami: ami-0c2b8ca305e393e06\n          instance_type: g5.xlarge\n"

# case: (replace this, with this, marker of the reported line, field, message regex)
INVALID = {
    "bad-ami": (
        "ami-0c2b8ca305e393e06",
        "ami-XYZ",
        "ami: ami-XYZ",
        f"{DEV}.legs.0.ami",
        "ami 'ami-XYZ' must be 'ami-' and 8 to 17 lowercase hex digits",
    ),
    "ec2-leg-without-instance-type": (
        "          instance_type: g5.xlarge\n",
        "",
        "- name: nvidia",
        f"{DEV}.legs.0",
        "leg 'nvidia' uses provider ec2 and needs instance_type",
    ),
    "ec2-leg-without-ami-or-type": (
        NVIDIA_LEG,
        "",
        "- name: nvidia",
        f"{DEV}.legs.0",
        "needs ami and instance_type",
    ),
    "duplicate-leg": (
        "  local:\n",
        "        - {name: nvidia, vendor: cpu, provider: local, gpu: none,\n"
        "           onboarding_check: 'true', smoke_job: 'true'}\n  local:\n",
        "      legs:",
        f"{DEV}.legs",
        r"duplicate leg name 'nvidia' \(legs\[0\] and legs\[1\]\)",
    ),
    "unknown-placeholder-installer": (
        "docker pull {{digest}}",
        "docker pull {{image}}",
        "script: |",
        f"{DEV}.installer.script",
        r"unknown placeholder \{\{image\}\}; the known placeholders are \{\{digest\}\}",
    ),
    "unknown-placeholder-smoke-job": (
        "--format=csv,noheader",
        "--format=csv,noheader {{ Leg }}",
        "smoke_job: |",
        f"{DEV}.legs.0.smoke_job",
        r"unknown placeholder \{\{Leg\}\}",
    ),
    "bad-purpose-tag": (
        "purpose_tag: radix:purpose=gpu-matrix",
        "purpose_tag: gpu-matrix",
        "purpose_tag:",
        f"{DEV}.purpose_tag",
        "purpose_tag 'gpu-matrix' must be one EC2 tag 'key=value'",
    ),
    "aws-reserved-purpose-tag": (
        "purpose_tag: radix:purpose=gpu-matrix",
        "purpose_tag: aws:purpose=x",
        "purpose_tag:",
        f"{DEV}.purpose_tag",
        "not starting with aws:",
    ),
    "ssm-parameter-without-slash": (
        "parameter: /radix/dev/agent_digest_approved",
        "parameter: radix/dev/agent_digest_approved",
        "digest_store:",
        f"{DEV}.digest_store.parameter",
        "must be an SSM parameter path starting with '/'",
    ),
    "unknown-provider": (
        "provider: ec2",
        "provider: gcp",
        "provider: gcp",
        f"{DEV}.legs.0.provider",
        "Input should be 'ec2' or 'local'",
    ),
    "bad-leg-name": (
        "- name: nvidia",
        "- name: NVIDIA_1",
        "- name: NVIDIA_1",
        f"{DEV}.legs.0.name",
        "leg name 'NVIDIA_1' must be lowercase letters, digits and dashes",
    ),
    "misspelt-field": (
        "          gpu: nvidia\n",
        "          gpu: nvidia\n          instance_typ: g5.xlarge\n",
        "instance_typ:",
        f"{DEV}.legs.0.instance_typ",
        "Extra inputs are not permitted",
    ),
    "zero-timeout": (
        "          gpu: nvidia\n",
        "          gpu: nvidia\n          timeouts: {smoke_seconds: 0}\n",
        "timeouts:",
        f"{DEV}.legs.0.timeouts.smoke_seconds",
        "Input should be greater than 0",
    ),
    "no-legs-in-local": (
        "      legs:\n        - {name: cpu, vendor: cpu, provider: local, gpu: none,\n"
        '           onboarding_check: "true", smoke_job: "echo ok"}\n',
        "      legs: []\n",
        "legs: []",
        "environments.local.agent_promotion.legs",
        "List should have at least 1 item",
    ),
    "control-plane-over-plain-http": (
        "url: https://control-plane.example.com/api",
        "url: http://control-plane.example.com/api",
        "url: http://",
        f"{DEV}.control_plane.url",
        "uses plain http to control-plane.example.com: the IdToken would travel unencrypted",
    ),
    "control-plane-url-with-credentials": (
        "url: https://control-plane.example.com/api",
        "url: https://bot:secret@control-plane.example.com/api",
        "url: https://bot",
        f"{DEV}.control_plane.url",
        "must hold no credentials, query or fragment",
    ),
    "control-plane-url-without-host": (
        "url: https://control-plane.example.com/api",
        "url: control-plane.example.com/api",
        "url: control-plane",
        f"{DEV}.control_plane.url",
        "must be an https URL with a host",
    ),
    "auth-without-control-plane": (
        "      control_plane:\n        url: https://control-plane.example.com/api\n",
        "",
        "agent_promotion:",
        DEV,
        "auth is set but control_plane is not: the IdToken would be fetched and never used",
    ),
    "ec2-environment-without-onboarding-verification": (
        AUTH_BLOCK + "      control_plane:\n        url: https://control-plane.example.com/api\n",
        "",
        "agent_promotion:",
        DEV,
        "must verify onboarding with its control plane",
    ),
    "control-plane-without-auth": (
        AUTH_BLOCK,
        "",
        "agent_promotion:",
        DEV,
        "control_plane is set but auth is not",
    ),
    "insecure-registry-with-scheme": (
        "      concurrency_limit: gpu-matrix-local\n",
        "      concurrency_limit: gpu-matrix-local\n"
        "      insecure_registries: [http://127.0.0.1:5000]\n",
        "insecure_registries:",
        "environments.local.agent_promotion.insecure_registries",
        "must be host\\[:port\\] without a scheme",
    ),
}


def _line_of(text: str, marker: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if marker in line)


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_files_name_environment_field_and_line(case: str, tmp_path: Path) -> None:
    old, new, marker, field, message = INVALID[case]
    assert old in VALID, "the case must change the valid file"
    text = VALID.replace(old, new, 1)
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_invariants(path)
    assert caught.value.code == ExitCode.USAGE_ERROR
    expected = rf"{re.escape(str(path))}:{_line_of(text, marker)}: {re.escape(field)}: .*{message}"
    assert any(re.search(expected, problem) for problem in caught.value.problems), str(caught.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(VALID.replace("ami-0c2b", "ami-XY").replace("gpu: none", "gpu: intel"))
    with pytest.raises(ConfigError) as caught:
        load_invariants(path)
    fields = sorted(problem.split(": ")[1] for problem in caught.value.problems)
    assert fields == [f"{DEV}.legs.0.ami", "environments.local.agent_promotion.legs.0.gpu"]


def test_the_valid_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(VALID)
    invariants = load_invariants(path)
    local = invariants.environment("local").agent_promotion
    assert local.leg("cpu").timeouts == Timeouts()
    assert local.auth is None and local.instance_profile is None
    assert local.purpose_tag_pair == ("radix:purpose", "gpu-matrix")  # the default


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cp.example.com/api/", "https://cp.example.com/api"),
        ("http://127.0.0.1:8700", "http://127.0.0.1:8700"),
        ("http://127.8.9.10:8700/x", "http://127.8.9.10:8700/x"),
        ("http://[::1]:8700", "http://[::1]:8700"),
        ("http://localhost:8700", "http://localhost:8700"),
    ],
)
def test_control_plane_urls_that_may_carry_the_token(url: str, expected: str) -> None:
    assert check_control_plane_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/api",
        "http://localhost.example.com/api",
        "http://0.0.0.0:8700",
        "ftp://cp.example.com",
        "https://cp.example.com/api?token=x",
        "https://cp.example.com:99999",
        "https:///api",
    ],
)
def test_control_plane_urls_that_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="control_plane.url"):
        check_control_plane_url(url)


def test_unknown_environment_and_leg_list_the_known_names() -> None:
    invariants = load_invariants()
    with pytest.raises(
        UsageError, match=r"unknown environment 'staging'.*\['dev', 'local', 'prod'\]"
    ):
        invariants.environment("staging")
    with pytest.raises(UsageError, match=r"unknown leg 'intel'.*\['nvidia', 'amd'\]"):
        invariants.environment("dev").agent_promotion.leg("intel")


def test_the_shipped_file_holds_the_seed_matrix() -> None:
    invariants = load_invariants()
    assert DEFAULT_INVARIANTS.name == "invariants.yaml" and DEFAULT_INVARIANTS.is_file()
    assert set(invariants.environments) == {"dev", "prod", "local"}
    for env, parameter in (("dev", "/radix/dev/"), ("prod", "/radix/prod/")):
        spec = invariants.environment(env)
        promotion = spec.agent_promotion
        assert spec.region == "us-west-2"
        assert promotion.digest_store.kind == "ssm"
        assert promotion.digest_store.parameter == parameter + "agent_digest_approved"
        assert promotion.concurrency_limit == f"gpu-matrix-{env}"
        assert promotion.cleanup_ttl_hours == 4
        assert promotion.purpose_tag_pair == ("radix:purpose", "gpu-matrix")
        assert promotion.instance_profile == "RadixSentinelSSMProfile"
        assert promotion.auth is not None
        assert promotion.auth.username_secret == "radix-test-username"
        assert promotion.auth.password_secret == "radix-test-password"
        assert promotion.auth.token_env == "RADIX_JWT_TOKEN"
        assert promotion.control_plane is not None
        assert promotion.control_plane.url.startswith("https://")
        legs = {
            leg.name: (leg.provider, leg.gpu, leg.ami, leg.instance_type) for leg in promotion.legs
        }
        assert legs == {
            "nvidia": ("ec2", "nvidia", "ami-0c2b8ca305e393e06", "g5.xlarge"),
            "amd": ("ec2", "amd", "ami-0875d33dff2aae0d5", "g4ad.xlarge"),
        }
    dev, prod = (invariants.environment(e).agent_promotion for e in ("dev", "prod"))
    assert dev.installer == prod.installer and dev.legs == prod.legs  # one copy, via anchors
    local = invariants.environment("local")
    assert local.region == "local"
    assert local.agent_promotion.digest_store.kind == "local"
    assert local.agent_promotion.digest_store.parameter == "/radix/local/agent_digest_approved"
    assert local.agent_promotion.auth is None
    assert local.agent_promotion.control_plane is None  # onboarding not_verified (README)
    assert local.agent_promotion.concurrency_limit == "gpu-matrix-local"
    [cpu] = local.agent_promotion.legs
    assert (cpu.name, cpu.vendor, cpu.provider, cpu.gpu) == ("cpu", "cpu", "local", "none")
    assert cpu.timeouts.smoke_seconds < Timeouts().smoke_seconds


def test_shipped_smoke_jobs_print_the_gpu_info() -> None:
    dev = load_invariants().environment("dev").agent_promotion
    assert (
        "nvidia-smi --query-gpu=name,driver_version --format=csv,noheader"
        in dev.leg("nvidia").smoke_job
    )
    assert "rocm-smi --showproductname --showdriverversion" in dev.leg("amd").smoke_job
    assert "docker pull {{digest}}" in dev.installer.script


def test_default_local_store_lives_under_warden_home(tmp_path: Path) -> None:
    store = load_invariants().environment("local").agent_promotion.digest_store
    assert store.path is None
    assert store.resolved_path() == tmp_path / "warden-home" / "matrix" / "digests"


def _bash(script: str, scratch: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WARDEN_SCRATCH": str(scratch)}
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=10, check=False, env=env
    )


def test_local_leg_scripts_install_onboard_and_smoke(tmp_path: Path) -> None:
    # As the flow renders them: {{scratch}} is a shell variable set on the host (with a space
    # in the path here, so the scripts' quoting is exercised too).
    scratch = tmp_path / "scratch dir"
    local = load_invariants().environment("local")
    values = {"digest": DIGEST, "run_id": "r-1", "leg": "cpu", "region": "local"}
    values["scratch"] = "${WARDEN_SCRATCH}"
    promotion, leg = local.agent_promotion, local.agent_promotion.leg("cpu")
    installed = _bash(render(promotion.installer.script, **values), scratch)
    assert installed.returncode == 0, installed.stderr
    pid = int((scratch / "agent" / "pid").read_text())
    try:
        deadline = time.monotonic() + 5
        while _bash(render(leg.onboarding_check, **values), scratch).returncode != 0:
            assert time.monotonic() < deadline, "the local agent never became active"
            time.sleep(0.05)
        smoke = _bash(render(leg.smoke_job, **values), scratch)
        assert smoke.returncode == 0, smoke.stderr
        assert "sum of squares 1..20000 = 2666866670000" in smoke.stdout
        other = _bash(render(leg.smoke_job, **{**values, "digest": DIGEST[:-2] + "cd"}), scratch)
        assert other.returncode != 0  # the agent does not run this digest
    finally:
        os.kill(pid, signal.SIGTERM)


# fmt: off
RENDERED = [
    pytest.param("docker pull {{digest}}", {"digest": DIGEST}, f"docker pull {DIGEST}",
                 id="plain"),
    pytest.param("test -f {{ scratch }}/a", {"scratch": "/tmp/x"}, "test -f /tmp/x/a",
                 id="spaces-inside-braces"),
    pytest.param('ls "{{scratch}}"', {"scratch": "${WARDEN_SCRATCH}"}, 'ls "${WARDEN_SCRATCH}"',
                 id="shell-expression-verbatim"),
    pytest.param("docker inspect -f '{{.State.Running}}' a", {},
                 "docker inspect -f '{{.State.Running}}' a", id="go-template-untouched"),
    pytest.param("echo {{leg}}", {"leg": "amd", "region": "us-west-2"}, "echo amd",
                 id="unused-values-are-fine"),
]
# fmt: on


@pytest.mark.parametrize(("template", "values", "expected"), RENDERED)
def test_render(template: str, values: dict[str, str], expected: str) -> None:
    assert render(template, **values) == expected


@pytest.mark.parametrize(
    ("template", "values", "message"),
    [
        ("echo {{digest}}", {}, r"no value for \['digest'\]"),
        ("echo {{image}}", {"digest": DIGEST}, r"unknown placeholder\(s\) \['image'\]"),
        ("echo", {"tag": "latest"}, r"unknown placeholder value\(s\) \['tag'\]"),
        ("echo {{leg}}", {"leg": "a\nrm -rf /"}, r"\['leg'\] hold a newline or NUL"),
    ],
    ids=["missing-value", "unknown-placeholder", "unknown-value", "multi-line-value"],
)
def test_render_rejects_what_it_cannot_fill(template: str, values: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        render(template, **values)


def test_models_are_frozen_and_strict() -> None:
    leg = LegSpec(
        name="cpu",
        vendor="cpu",
        provider="local",
        gpu="none",
        onboarding_check="true",
        smoke_job="true",
    )
    with pytest.raises(ValidationError) as frozen:
        leg.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError) as extra:
        InvariantsFile.model_validate({"environments": {}, "version": 1})
    assert [error["type"] for error in frozen.value.errors()] == ["frozen_instance"]
    extras = [e["loc"] for e in extra.value.errors() if e["type"] == "extra_forbidden"]
    assert extras == [("version",)]


def test_the_readme_control_plane_example_is_valid() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"### The control plane.*?```yaml\n(.*?)```", readme, re.S)
    assert example, "README lost its control plane example"
    spec = yaml.safe_load(example.group(1))["agent_promotion"]["control_plane"]
    assert ControlPlaneSpec.model_validate(spec).url.startswith("https://")
