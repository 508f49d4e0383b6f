"""Where each configuration file is by default. No models here: the CLI reads these names
while building its commands, before it knows whether a command needs the models at all."""

from __future__ import annotations

from pathlib import Path

DEFAULT_GATES_FILE = Path("deployments/gates.yaml")
DEFAULT_WORKFLOWS_FILE = Path("deployments/workflows.yaml")
DEFAULT_LORA_FILE = Path("deployments/lora.yaml")
DEFAULT_INVARIANTS = Path(__file__).resolve().parents[1] / "deployments" / "invariants.yaml"
DEFAULT_GUARD_FILE = Path("deployments/guard.yaml")
DEFAULT_SHED_PLAYBOOK = Path("deployments/playbooks/scheduler_load_shedding.yaml")
DEFAULT_INTENTS_FILE = Path("deployments/intents.yaml")
DEFAULT_AUTOMATIONS_FILE = Path("deployments/automations.yaml")
DEFAULT_DRILLS_FILE = Path("deployments/drills.yaml")
