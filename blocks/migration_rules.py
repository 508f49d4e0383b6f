"""The migration rules file: regex rewrites of legacy workflow syntax (seed 003).

Rules are applied in file order, each to the whole text of a file (``re.subn``). A rules file
is validated whole before any file is read: every pattern must compile and every replacement
may refer only to groups its pattern has; errors name the file, line and rule.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import reduce
from operator import or_
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from blocks.yaml_source import load_model

RULE_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"

EXAMPLE_RULES_YAML = """\
# Legacy workflow syntax migration (seed 003): rules apply in order, each to a file's whole
# text, with Python's re.subn; a file no rule changes is never written.
rules:
  - name: intent-to-goal
    description: "The legacy 'intent:' keyword is now 'goal:' (indentation kept)."
    pattern: '^([ \\t]*)intent:'
    replacement: '\\1goal:'
    flags: [MULTILINE]
  - name: trailing-whitespace
    description: "Drop spaces and tabs at the end of every line."
    pattern: '[ \\t]+$'
    replacement: ''
    flags: [MULTILINE]
"""


class RegexFlag(StrEnum):
    """The ``re`` flags a rule may ask for (VERBOSE is left out: it changes what '#' means)."""

    MULTILINE = "MULTILINE"
    IGNORECASE = "IGNORECASE"
    DOTALL = "DOTALL"


class MigrationRule(BaseModel):
    """One rewrite: ``pattern`` replaced by ``replacement`` (``\\1``, ``\\g<name>`` allowed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=RULE_NAME)
    pattern: str = Field(min_length=1)
    replacement: str
    flags: list[RegexFlag] = Field(default_factory=list)
    description: str = ""

    @property
    def regex(self) -> re.Pattern[str]:
        """The compiled pattern (``re`` caches compilations, so this is cheap to call)."""
        bits = reduce(or_, (getattr(re, flag.value) for flag in self.flags), 0)
        return re.compile(self.pattern, bits)

    @model_validator(mode="after")
    def _compiles(self) -> MigrationRule:
        try:
            compiled = self.regex
        except re.error as exc:
            raise ValueError(f"rule {self.name!r}: pattern does not compile: {exc}") from exc
        # A match of the same groups (an empty alternative added) checks the replacement's
        # group references now rather than on the first file that matches.
        probe = re.compile(f"{self.pattern}|", compiled.flags).match("")
        try:
            probe.expand(self.replacement)
        except (re.error, IndexError) as exc:
            raise ValueError(f"rule {self.name!r}: invalid replacement: {exc}") from exc
        return self


class RuleSet(BaseModel):
    """A migration rules file: at least one rule, names unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[MigrationRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"duplicate rule name {rule.name!r}")
            seen.add(rule.name)
        return self


def load_rules(path: Path | str) -> RuleSet:
    """Read and validate a rules file; ConfigError (exit code 2) lists every problem."""
    return load_model(path, RuleSet)
