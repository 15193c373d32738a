"""The one error root. Each class carries the exit code the CLI uses and a hint.

Only :mod:`gopack.cli` catches these and exits; library code raises them with a
message that says what failed and why, and a hint that says what to do next.
"""

from __future__ import annotations


class GopackError(Exception):
    """Something the user can act on. Never shown with a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return self.message


class RecipeError(GopackError):
    """The recipe is malformed or names something that does not exist."""

    exit_code = 2


class ToolchainError(GopackError):
    """Go, the interpreter or the binding is missing or incompatible."""

    exit_code = 3


class BuildError(GopackError):
    """A build step (installing packages, go build, packing) failed."""

    exit_code = 4


class VerifyError(GopackError):
    """A bundle failed verification: a tampered file or a failing smoke test."""

    exit_code = 5


class UsageError(GopackError):
    """The command line names something unusable (a missing archive, say)."""

    exit_code = 6
