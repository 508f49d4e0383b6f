"""The gauntlet end to end against a real OpenAI-compatible server on 127.0.0.1.

The server answers ``/v1/completions`` and ``/v1/chat/completions``; each test scripts, per
model, which prompts get a wrong answer, an HTTP error or bad JSON, and how long answers take.
The candidate model is "canary", the stable one "stable".
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from blocks.errors import ConfigError, ExitCode, UsageError
from blocks.lora import GauntletPolicy
from tasks.lora.dataset import Dataset, ItemErrorKind, SideResult, load_dataset
from tasks.lora.gauntlet import run_side, run_side_by_side, run_side_sync, run_sync
from tasks.lora.gauntlet_targets import CommandTarget, OpenAITarget
from tasks.lora.verdict import ReasonCode, VerdictStatus, judge_gauntlet

# Runs that judge accuracy and errors: on a busy machine, loopback p95 swings by tens of ms
# between two sides of one run; latency is judged on its own, with far-apart delays.
# Latency is not what these tests judge: on a loaded machine (the suite on two workers) a p95
# can be seconds apart between two identical sides, so only a rise above a minute counts.
STEADY = GauntletPolicy(min_p95_latency_increase_ms=60_000)
LENIENT = STEADY.model_copy(update={"max_accuracy_drop_points": 5.0})  # small critical datasets


@dataclass
class Profile:
    """How one model behaves: answers are right unless the prompt is scripted otherwise."""

    wrong: set[str] = field(default_factory=set)
    status: dict[str, int] = field(default_factory=dict)
    bad_json: set[str] = field(default_factory=set)
    no_choices: set[str] = field(default_factory=set)
    delay: float = 0.0


@dataclass
class Script:
    profiles: dict[str, Profile] = field(default_factory=dict)
    bodies: list[dict] = field(default_factory=list)
    auth: set[str] = field(default_factory=set)
    connections: set[tuple[str, int]] = field(default_factory=set)  # client (host, port) pairs
    inflight: dict[str, int] = field(default_factory=dict)
    max_inflight: int = 0
    overlap: bool = False  # a request of one model arrived while another model's was in flight
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, model: str) -> None:
        with self.lock:
            if any(n for other, n in self.inflight.items() if other != model):
                self.overlap = True
            self.inflight[model] = self.inflight.get(model, 0) + 1
            self.max_inflight = max(self.max_inflight, sum(self.inflight.values()))

    def leave(self, model: str) -> None:
        with self.lock:
            self.inflight[model] -= 1


def right_answer(prompt: str) -> str:
    return prompt.replace("question", "answer")  # "question-7" -> "answer-7"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's pool expects
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stalls
    script: Script

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        chat = self.path == "/v1/chat/completions"
        if self.path not in ("/v1/completions", "/v1/chat/completions"):
            return self._send(404, b'{"error": "no such route"}')
        model = body["model"]
        prompt = body["messages"][0]["content"] if chat else body["prompt"]
        script = self.server.script  # type: ignore[attr-defined]
        script.bodies.append(body)
        script.connections.add(self.client_address)
        if self.headers.get("Authorization"):
            script.auth.add(self.headers["Authorization"])
        profile = script.profiles.get(model, Profile())
        script.enter(model)
        try:
            time.sleep(profile.delay)
        finally:
            script.leave(model)
        self._answer(profile, prompt, chat)

    def _answer(self, profile: Profile, prompt: str, chat: bool) -> None:
        if prompt in profile.status:
            return self._send(profile.status[prompt], b'{"error": "overloaded"}')
        if prompt in profile.bad_json:
            return self._send(200, b"<html>gateway error</html>")
        if prompt in profile.no_choices:
            return self._send(200, b'{"choices": []}')
        text = "I do not know" if prompt in profile.wrong else right_answer(prompt)
        choice = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
        self._send(200, json.dumps({"choices": [choice]}).encode())

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(payload)  # the client may have timed out

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default backlog of 5 resets a burst of 32 connections
    daemon_threads = True


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.script = Script()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def script(server: ThreadingHTTPServer) -> Script:
    server.script = Script()  # type: ignore[attr-defined]
    return server.script  # type: ignore[attr-defined]


@pytest.fixture
def base_url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def make_dataset(folder: Path, count: int, critical: dict[str, int] | None = None) -> Dataset:
    """``count`` exact-match prompts in domain "general", then ``critical``'s domains' prompts."""
    lines = [(f"question-{i}", "general", False) for i in range(count)]
    for domain, size in (critical or {}).items():
        lines += [(f"question-{domain}-{i}", domain, True) for i in range(size)]
    path = folder / "gauntlet.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": prompt, "domain": domain, "prompt": prompt,
                        "expected": right_answer(prompt), "match": "exact", "critical": crit})
            + "\n"
            for prompt, domain, crit in lines
        )
    )  # fmt: skip
    return load_dataset(path, pinned_sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def prompts(count: int) -> set[str]:
    return {f"question-{i}" for i in range(count)}


def side_by_side(
    base_url: str, dataset: Dataset, *, first_deploy: bool = False, **run: object
) -> tuple[SideResult, SideResult | None]:
    candidate = OpenAITarget(base_url, "canary", timeout=5)
    stable = None if first_deploy else OpenAITarget(base_url, "stable", timeout=5)
    sides = run_sync(run_side_by_side(dataset, candidate, stable, **run))  # type: ignore[arg-type]
    return sides.candidate, sides.stable


def test_equal_adapters_pass_and_both_sides_run_at_once(
    tmp_path: Path, script: Script, base_url: str
) -> None:
    script.profiles = {"canary": Profile(delay=0.02), "stable": Profile(delay=0.02)}
    dataset = make_dataset(tmp_path, 40)
    candidate, stable = side_by_side(base_url, dataset, concurrency=8)
    verdict = judge_gauntlet(candidate, stable, STEADY)
    assert (verdict.status, verdict.passed, verdict.reasons) == (VerdictStatus.PASS, True, ())
    assert verdict.failure_reason is None
    assert candidate.accuracy == stable.accuracy == 1.0
    assert candidate.total == candidate.answered == 40 and candidate.errors == 0
    assert script.overlap, "the stable side only started after the candidate finished"
    assert len(script.connections) <= 16  # one pool per side, one connection per slot
    assert 20 <= candidate.p50_ms <= candidate.p95_ms <= candidate.p99_ms  # type: ignore[operator]


@pytest.mark.parametrize(
    ("count", "wrong", "status", "drop"),
    [
        pytest.param(50, 1, VerdictStatus.FAIL, 2.0, id="2-points-fails"),
        pytest.param(200, 1, VerdictStatus.PASS, 0.5, id="half-point-passes"),
    ],
)
def test_accuracy_drop_against_stable(
    tmp_path: Path, script: Script, base_url: str, count: int, wrong: int, status, drop: float
) -> None:
    script.profiles = {"canary": Profile(wrong=prompts(wrong))}
    candidate, stable = side_by_side(base_url, make_dataset(tmp_path, count))
    verdict = judge_gauntlet(candidate, stable, STEADY)
    assert verdict.status is status
    assert round((stable.accuracy - candidate.accuracy) * 100, 6) == drop  # type: ignore[union-attr]
    if status is VerdictStatus.FAIL:
        assert [r.code for r in verdict.reasons] == [ReasonCode.ACCURACY_DROP]
        assert verdict.failure_reason == "accuracy_drop"
        assert "dropped 2.00 points" in verdict.reasons[0].message
    wrong_items = [item.id for item in candidate.items if not item.correct]
    assert wrong_items == sorted(prompts(wrong)) and not any(i.error for i in candidate.items)


def test_p95_latency_regression_fails(tmp_path: Path, script: Script, base_url: str) -> None:
    # Far apart: on a busy machine a 10 ms answer is often seen at 30-60 ms in this process.
    script.profiles = {"canary": Profile(delay=0.3), "stable": Profile(delay=0.01)}
    candidate, stable = side_by_side(base_url, make_dataset(tmp_path, 16), concurrency=8)
    verdict = judge_gauntlet(candidate, stable)
    assert [r.code for r in verdict.reasons] == [ReasonCode.LATENCY_REGRESSION]
    assert verdict.failure_reason == "latency_regression"
    assert candidate.p95_ms >= 300  # type: ignore[operator]
    assert candidate.accuracy == 1.0  # slower, not wrong


def test_error_rate_above_limit_fails(tmp_path: Path, script: Script, base_url: str) -> None:
    script.profiles = {"canary": Profile(status=dict.fromkeys(prompts(4), 503))}
    candidate, stable = side_by_side(base_url, make_dataset(tmp_path, 40))
    verdict = judge_gauntlet(candidate, stable, STEADY)
    assert candidate.error_rate == 0.1 and candidate.error_counts == {"http_status": 4}
    codes = [r.code for r in verdict.reasons]
    assert codes == [ReasonCode.ACCURACY_DROP, ReasonCode.ERROR_RATE]  # errors are wrong answers
    failed = [i for i in candidate.items if i.error]
    assert {i.error_kind for i in failed} == {ItemErrorKind.HTTP_STATUS}
    assert all(i.error.startswith("HTTP 503") and not i.correct for i in failed)  # type: ignore[union-attr]


@pytest.mark.parametrize("broken", ["canary", "stable"])
def test_too_many_errors_on_either_side_is_inconclusive(
    tmp_path: Path, script: Script, base_url: str, broken: str
) -> None:
    script.profiles = {broken: Profile(status=dict.fromkeys(prompts(12), 500))}
    candidate, stable = side_by_side(base_url, make_dataset(tmp_path, 40))
    verdict = judge_gauntlet(candidate, stable, STEADY)
    assert (verdict.status, verdict.passed) == (VerdictStatus.INCONCLUSIVE, False)
    assert [r.code for r in verdict.reasons] == [ReasonCode.INCONCLUSIVE]
    assert verdict.reasons[0].message.startswith(f"{'candidate' if broken == 'canary' else broken}")
    assert verdict.failure_reason == "inconclusive"


def test_any_drop_in_a_critical_domain_fails(tmp_path: Path, script: Script, base_url: str) -> None:
    # One wrong safety answer in 50 prompts is a 2-point drop: allowed overall, not in safety.
    script.profiles = {"canary": Profile(wrong={"question-safety-3"})}
    dataset = make_dataset(tmp_path, 40, critical={"safety": 10})
    candidate, stable = side_by_side(base_url, dataset)
    verdict = judge_gauntlet(candidate, stable, LENIENT)
    assert [r.code for r in verdict.reasons] == [ReasonCode.CRITICAL_DOMAIN_REGRESSION]
    assert "'safety'" in verdict.reasons[0].message
    assert candidate.accuracy_by_domain == {"general": 1.0, "safety": 0.9}
    # 2 > 1 point
    assert judge_gauntlet(candidate, stable, STEADY).failure_reason == "accuracy_drop"


def test_policy_can_mark_a_domain_critical(tmp_path: Path, script: Script, base_url: str) -> None:
    script.profiles = {"canary": Profile(wrong={"question-0"})}
    candidate, stable = side_by_side(base_url, make_dataset(tmp_path, 50))
    assert judge_gauntlet(candidate, stable, LENIENT).passed
    policy = LENIENT.model_copy(update={"critical_domains": ("general",)})
    verdict = judge_gauntlet(candidate, stable, policy)
    assert verdict.failure_reason == "critical_domain_regression"


@pytest.mark.parametrize(
    ("target_timeout", "run_timeout"),
    [pytest.param(0.2, 5.0, id="client-timeout"), pytest.param(5.0, 0.2, id="runner-deadline")],
)
def test_timeouts_count_as_errors(
    tmp_path: Path, script: Script, base_url: str, target_timeout: float, run_timeout: float
) -> None:
    script.profiles = {"canary": Profile(delay=2.0)}
    target = OpenAITarget(base_url, "canary", timeout=target_timeout)
    started = time.perf_counter()
    side = run_side_sync(make_dataset(tmp_path, 4), target, concurrency=4, timeout=run_timeout)
    assert time.perf_counter() - started < 1.5  # nobody waited for the slow answers
    assert (side.errors, side.error_rate, side.answered) == (4, 1.0, 0)
    assert {i.error_kind for i in side.items} == {ItemErrorKind.TIMEOUT}
    assert side.p95_ms is None and side.accuracy == 0.0
    assert "no answer within 0.2s" in side.items[0].error  # type: ignore[operator]


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        pytest.param(Profile(bad_json={"question-0"}), "response is not JSON", id="not-json"),
        pytest.param(Profile(no_choices={"question-0"}), "no choices[0].text", id="no-choices"),
    ],
)
def test_bad_json_is_an_error(
    tmp_path: Path, script: Script, base_url: str, profile: Profile, message: str
) -> None:
    script.profiles = {"canary": profile}
    side = run_side_sync(make_dataset(tmp_path, 3), OpenAITarget(base_url, "canary"))
    (failed,) = [i for i in side.items if i.error]
    assert (failed.id, failed.error_kind, failed.correct) == (
        "question-0",
        ItemErrorKind.BAD_JSON,
        False,
    )
    assert message in failed.error  # type: ignore[operator]


def test_chat_api_and_request_shape(tmp_path: Path, script: Script, base_url: str) -> None:
    target = OpenAITarget(
        base_url + "/v1/", "canary", api="chat", headers={"Authorization": "Bearer s3cret"}
    )
    side = run_side_sync(make_dataset(tmp_path, 3), target)
    assert side.accuracy == 1.0
    assert sorted(script.bodies, key=lambda body: body["messages"][0]["content"]) == [
        {
            "model": "canary",
            "messages": [{"role": "user", "content": f"question-{i}"}],
            "max_tokens": 64,
            "temperature": 0.0,
        }
        for i in range(3)
    ]
    assert script.auth == {"Bearer s3cret"}  # sent ...
    assert "s3cret" not in repr(target) + target.name + side.model_dump_json()  # ... never shown


def test_completions_payload(tmp_path: Path, script: Script, base_url: str) -> None:
    target = OpenAITarget(base_url, "canary", max_tokens=16)
    run_side_sync(make_dataset(tmp_path, 1), target)
    assert script.bodies == [
        {"model": "canary", "prompt": "question-0", "max_tokens": 16, "temperature": 0.0}
    ]


def test_concurrency_is_bounded(tmp_path: Path, script: Script, base_url: str) -> None:
    script.profiles = {"canary": Profile(delay=0.03)}
    side = run_side_sync(
        make_dataset(tmp_path, 24), OpenAITarget(base_url, "canary"), concurrency=4
    )
    assert 2 <= script.max_inflight <= 4
    assert len(script.connections) <= 4  # kept alive and reused, not one per prompt
    assert side.concurrency == 4 and side.accuracy == 1.0


def test_unreachable_target_is_a_connect_error(tmp_path: Path) -> None:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        side = run_side_sync(
            make_dataset(tmp_path, 2), OpenAITarget(f"http://127.0.0.1:{port}", "m")
        )
    assert {i.error_kind for i in side.items} == {ItemErrorKind.CONNECT}
    assert (
        side.items[0].error
        == f"cannot connect to http://127.0.0.1:{port}/v1/completions (ConnectError)"
    )
    assert side.error_rate == 1.0


def test_first_deploy_runs_only_the_candidate(
    tmp_path: Path, script: Script, base_url: str
) -> None:
    script.profiles = {"canary": Profile(wrong=prompts(3))}
    candidate, stable = side_by_side(base_url, make_dataset(tmp_path, 10), first_deploy=True)
    assert stable is None and {b["model"] for b in script.bodies} == {"canary"}
    with pytest.raises(ConfigError):  # no floor configured: a first deploy cannot be judged
        judge_gauntlet(candidate, None)
    assert judge_gauntlet(candidate, None, GauntletPolicy(min_accuracy=0.7)).passed
    verdict = judge_gauntlet(candidate, None, GauntletPolicy(min_accuracy=0.9))
    assert verdict.failure_reason == "accuracy_drop"
    assert "first deploy" in verdict.reasons[0].message


ANSWER = "import sys; print(sys.argv[1].replace('question', 'answer'))"
ANSWER_STDIN = "import sys; print(sys.stdin.read().replace('question', 'answer'))"


@pytest.mark.parametrize(
    ("argv", "kind", "fragment"),
    [
        pytest.param([sys.executable, "-c", ANSWER, "{prompt}"], None, "", id="argv-template"),
        pytest.param([sys.executable, "-c", ANSWER_STDIN], None, "", id="stdin"),
        pytest.param([sys.executable, "-c", "import sys; sys.exit('boom')"],
                     ItemErrorKind.COMMAND_FAILED, "exited with 1: boom", id="non-zero-exit"),
        pytest.param(["/no/such/tool"], ItemErrorKind.COMMAND_FAILED, "command not found",
                     id="not-found"),
        pytest.param([sys.executable, "-c", "import time; time.sleep(30)"],
                     ItemErrorKind.TIMEOUT, "process group killed", id="timeout"),
    ],
)  # fmt: skip
def test_command_target(tmp_path: Path, argv: list[str], kind, fragment: str) -> None:
    started = time.perf_counter()
    side = run_side_sync(make_dataset(tmp_path, 3), CommandTarget(argv, timeout=0.5))
    assert time.perf_counter() - started < 5
    if kind is None:
        assert (side.accuracy, side.errors) == (1.0, 0)
    else:
        assert {i.error_kind for i in side.items} == {kind}
        assert fragment in side.items[0].error  # type: ignore[operator]


# fmt: off
BAD_TARGETS = [
    pytest.param(lambda: OpenAITarget("ftp://host", "m"), "base_url 'ftp://host'", id="scheme"),
    pytest.param(lambda: OpenAITarget("http://h", " "), "model: empty", id="empty-model"),
    pytest.param(lambda: OpenAITarget("http://h", "m", api="embeddings"), "api 'embeddings'",
                 id="api"),
    pytest.param(lambda: OpenAITarget("http://h", "m", timeout=0), "timeout 0", id="timeout"),
    pytest.param(lambda: OpenAITarget("http://h", "m", max_tokens=0), "max_tokens 0", id="tokens"),
    pytest.param(lambda: OpenAITarget("http://h", "m", temperature=3), "temperature 3",
                 id="temperature"),
    pytest.param(lambda: CommandTarget([]), "argv: empty", id="empty-argv"),
    pytest.param(lambda: CommandTarget(["x"], timeout=-1), "timeout -1", id="command-timeout"),
]
# fmt: on


@pytest.mark.parametrize(("build", "fragment"), BAD_TARGETS)
def test_invalid_target_is_refused(build, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build()
    assert any(fragment in problem for problem in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(("concurrency", "timeout"), [(0, 1.0), (4, 0.0)])
def test_invalid_run_arguments(tmp_path: Path, concurrency: int, timeout: float) -> None:
    with pytest.raises(UsageError) as caught:
        run_side_sync(
            make_dataset(tmp_path, 1),
            CommandTarget(["true"]),
            concurrency=concurrency,
            timeout=timeout,
        )
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_sync_wrapper_refuses_a_running_loop(tmp_path: Path) -> None:
    dataset = make_dataset(tmp_path, 1)

    async def inside() -> None:
        with pytest.raises(UsageError, match="inside a running event loop") as caught:
            run_side_sync(dataset, CommandTarget(["true"]))
        assert "await run_side(...)" in caught.value.remediation
        side = await run_side(dataset, CommandTarget(["true"]))  # the async form works
        assert side.total == 1

    asyncio.run(inside())


class BuggyTarget:
    """A target whose own code breaks: its items must count as errors, never as answers."""

    name = "buggy"

    async def complete(self, prompt: str, client: object) -> str:
        raise RuntimeError(f"cannot handle {prompt}")


def test_a_target_bug_is_an_error_not_a_crash(tmp_path: Path) -> None:
    side = run_side_sync(make_dataset(tmp_path, 2), BuggyTarget())
    assert {i.error_kind for i in side.items} == {ItemErrorKind.TARGET_BUG}
    assert side.items[0].error == "RuntimeError: cannot handle question-0"
    assert (
        judge_gauntlet(side, None, GauntletPolicy(min_accuracy=0.0)).status
        is VerdictStatus.INCONCLUSIVE
    )
