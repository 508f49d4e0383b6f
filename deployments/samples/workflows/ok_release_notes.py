"""Builds release notes from a list of changes."""

CHANGES = ["fix: retry uploads", "feat: canary weights"]


def notes(changes):
    return "\n".join(f"- {change}" for change in changes)


print(notes(CHANGES))
