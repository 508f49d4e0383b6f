"""Activities of a tiny experiment for the drill runner's unit tests (importable by chaoslib)."""

from __future__ import annotations

from tasks.drills.world import current


class FakeGuard:
    def __init__(self, status: str = "healthy", kill_switch: bool = False) -> None:
        self.status, self.kill_switch = status, kill_switch

    def readiness(self) -> dict:
        return {"status": self.status, "failed": []}

    def kill_switch_on(self) -> bool:
        return self.kill_switch


def status() -> str:
    return current().guard.readiness()["status"]


def act() -> dict:
    current().notes.setdefault("called", []).append("act")
    return {"done": True}


def check(passed: bool) -> dict:
    return current().verification("check", passed, "a fake verification")


def fail() -> dict:
    current().notes.setdefault("called", []).append("fail")
    raise RuntimeError("this action fails")


def undo() -> dict:
    current().notes.setdefault("called", []).append("undo")
    return {"undone": True}
