"""Turn a gates file and the operator's options into the exact list of gates to run.

Everything that can be wrong with a request (an unknown gate or profile, a variable that is
not set, a dependency cycle) is found here, before any gate runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from blocks.errors import ConfigError, UsageError
from blocks.gates import Gate, GatesFile, Scoring
from tasks.platform.variables import expand

DEFAULT_PROFILE = "default"
PROFILE_ENV = "AETHERRA_PROFILE"  # the seed's variable: the profile when none is given
# Fields whose strings may hold ${VAR} or ${VAR:-default}.
_EXPANDED = ("argv", "cwd", "env", "url", "headers", "report", "baseline", "deployment", "path")


class GatePlan(BaseModel):
    """The gates to run, in dependency order, with the profile's settings applied."""

    model_config = ConfigDict(frozen=True)

    profile: str
    gates: list[Gate]
    env: dict[str, str]
    strict_manual: bool
    scoring: Scoring
    notes: list[str] = []

    @property
    def names(self) -> list[str]:
        return [gate.name for gate in self.gates]


def plan_run(
    config: GatesFile,
    *,
    selected: list[str] | None = None,
    all_gates: bool = False,
    profile: str | None = None,
    strict_manual: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> GatePlan:
    """Resolve the profile, the subset and variables; raise UsageError/ConfigError early.

    The profile is ``profile``, else ``$AETHERRA_PROFILE``, else ``default``. ``all_gates``
    runs every gate of the file, whatever the profile lists.
    """
    environ = environ if environ is not None else os.environ
    profile_name, notes = resolve_profile(config, profile, environ)
    if all_gates and selected:
        raise UsageError("give either --all or --gates, not both")
    chosen = config.profiles.get(profile_name)
    if all_gates:
        names = config.names
    else:
        names = selected or (chosen.gates if chosen and chosen.gates else None) or config.names
    unknown = [name for name in names if name not in config.names]
    if unknown:
        raise UsageError(
            f"unknown gate(s): {', '.join(unknown)}; valid gates: {', '.join(config.names)}"
        )
    env = {"WARDEN_PROFILE": profile_name, **(chosen.env if chosen else {})}
    variables = {**environ, **env}
    gates, subset_notes = _subset(config, names)
    gates = [_expand(gate, variables) for gate in _dependency_order(gates)]
    strict = strict_manual if strict_manual is not None else bool(chosen and chosen.strict_manual)
    scoring = chosen.scoring if chosen and chosen.scoring else config.scoring
    return GatePlan(
        profile=profile_name,
        gates=gates,
        env=env,
        strict_manual=strict,
        scoring=scoring,
        notes=subset_notes + notes,
    )


def resolve_profile(
    config: GatesFile, profile: str | None, environ: Mapping[str, str]
) -> tuple[str, list[str]]:
    """The profile's name and a note on where it came from; an unknown one is a UsageError."""
    from_env = (environ.get(PROFILE_ENV) or "").strip()
    if profile:
        name, source = profile, "--profile"
    elif from_env:
        name, source = from_env, PROFILE_ENV
    else:
        name, source = DEFAULT_PROFILE, "default"
    if name != DEFAULT_PROFILE and name not in config.profiles:
        valid = ", ".join([DEFAULT_PROFILE, *sorted(config.profiles)])
        where = f" (from {PROFILE_ENV})" if source == PROFILE_ENV else ""
        raise UsageError(
            f"unknown profile {name!r}{where}; valid profiles: {valid}",
            remediation=f"Pass --profile with a valid name, or set {PROFILE_ENV} to one.",
        )
    return name, [f"profile {name} from {PROFILE_ENV}"] if source == PROFILE_ENV else []


def _subset(config: GatesFile, names: list[str]) -> tuple[list[Gate], list[str]]:
    wanted = set(names)
    gates, notes = [], []
    for gate in config.gates:
        if gate.name not in wanted:
            continue
        missing = [dep for dep in gate.depends_on if dep not in wanted]
        if missing:
            notes.append(f"{gate.name}: dependency {', '.join(missing)} not selected; not awaited")
            kept = [dep for dep in gate.depends_on if dep in wanted]
            gate = gate.model_copy(update={"depends_on": kept})
        gates.append(gate)
    return gates, notes


def _dependency_order(gates: list[Gate]) -> list[Gate]:
    """Order gates so each comes after what it depends on; a cycle is a config error."""
    by_name = {gate.name: gate for gate in gates}
    ordered: list[Gate] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = " -> ".join([*trail[trail.index(name) :], name])
            raise ConfigError(f"gates depend on each other in a cycle: {cycle}")
        state[name] = "visiting"
        for dep in by_name[name].depends_on:
            visit(dep, [*trail, name])
        state[name] = "done"
        ordered.append(by_name[name])

    for gate in gates:
        visit(gate.name, [])
    return ordered


def _expand(gate: Gate, variables: Mapping[str, str]) -> Gate:
    update, missing = {}, []
    for field in _EXPANDED:
        if hasattr(gate, field):
            update[field], unset = expand(getattr(gate, field), variables)
            missing += unset
    if missing:
        raise ConfigError(
            f"gate {gate.name!r} uses unset variable(s): {', '.join(sorted(set(missing)))}",
            remediation="Export them, give a default (${NAME:-value}) or set them in the profile.",
        )
    return gate.model_copy(update=update)
