"""Run one drill's experiment on chaostoolkit-lib and judge its journal.

The experiment is validated whole first (chaoslib's own validation: every provider importable,
every argument known). The journal is written as JSON under the drill's folder. A failure
anywhere (chaoslib raising, an activity's exception) ends as data: the judgement fails closed.
"""

from __future__ import annotations

import copy
import json
import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from chaoslib.experiment import ensure_experiment_is_valid
from chaoslib.run import Runner, Strategy

from tasks.drills.experiment import VERIFY
from tasks.drills.judge import Judgement, judge
from tasks.drills.world import Drill, running

# Rollbacks are the drill's clean-up: played whatever happened (chaoslib's default skips them
# after a failed or interrupted run, which would leave a paused pool behind a kill switch).
SETTINGS = {"runtime": {"rollbacks": {"strategy": "always"}}}


def validate(experiment: dict[str, Any]) -> None:
    """chaoslib's validation (raises ``InvalidExperiment``) on a copy: nothing runs."""
    ensure_experiment_is_valid(copy.deepcopy(experiment))


def run_experiment(drill: Drill, experiment: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    """Run it with ``drill`` as the activities' context; the journal and where it was written."""
    with running(drill), _signals_where_allowed(), Runner(Strategy.DEFAULT) as runner:
        journal = runner.run(copy.deepcopy(experiment), settings=SETTINGS)
    path = drill.folder / "journal.json"
    path.write_text(json.dumps(journal, indent=2, default=str), encoding="utf-8")
    return journal, path


def verdict(journal: dict[str, Any], experiment: dict[str, Any]) -> Judgement:
    expected = [a["name"] for a in experiment["method"] if a["name"].startswith(VERIFY)]
    return judge(journal, expected)


def _signals_where_allowed():
    """chaoslib installs SIGTERM/SIGUSR handlers, which Python allows only on the main thread;
    elsewhere (a Prefect task thread) the run goes on without them (the kill switch, checked
    before each action, is the way to stop a drill)."""
    if threading.current_thread() is threading.main_thread():
        return nullcontext()
    import chaoslib.run as chaos_run

    return _patched(chaos_run, "exit_signals", nullcontext)


class _patched:
    def __init__(self, module: Any, name: str, value: Any) -> None:
        self.module, self.name, self.value = module, name, value

    def __enter__(self) -> None:
        self.saved = getattr(self.module, self.name)
        setattr(self.module, self.name, self.value)

    def __exit__(self, *exc: object) -> None:
        setattr(self.module, self.name, self.saved)
