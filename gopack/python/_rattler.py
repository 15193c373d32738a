"""py-rattler, run in a child process: ``python -m gopack.python._rattler`` reads one JSON request on stdin.

py-rattler 0.28 sometimes crashes while the interpreter shuts down after a solve
or an install (a segfault, or ``PyGILState_Release: thread state must be
current``), after the work is done: a few runs in a hundred. gopack therefore
never calls it in its own process: the child prints its answer, flushes, and
leaves with ``os._exit`` before any finalisation can crash it.

:func:`request` is the parent's side: it starts the child and returns its answer.

Requests (JSON):
    {"op": "solve", "channels": [...], "specs": [...]}
        -> {"packages": [[url, sha256], ...]}
    {"op": "install", "channels": [...], "specs": [...], "prefix": P, "cache_dir": C, "expect": [[url, sha256], ...]}
        -> {"installed": n}   (solves again; refuses if the answer is not ``expect``)
On failure: {"error": "spec" | "solve" | "channel" | "install" | "changed", "message": ...}.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


class NoAnswer(Exception):
    """The child stopped without answering (it crashed before printing)."""

    def __init__(self, returncode: int, stderr: str) -> None:
        super().__init__(f"py-rattler stopped with exit code {returncode} and no answer")
        self.stderr = stderr.strip()[-4000:]


def request(payload: dict[str, Any]) -> dict[str, Any]:
    """Run ``payload`` in a child ``python -m gopack.python._rattler``; return its answer
    (``{"error": ...}`` included: the caller says what an error means to its user)."""
    proc = subprocess.run(
        [sys.executable, "-m", "gopack.python._rattler"], input=json.dumps(payload), capture_output=True, text=True, check=False
    )
    try:
        answer: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise NoAnswer(proc.returncode, proc.stderr) from None
    return answer


# asyncio and rattler are imported in the child only: gopack's own start-up does not pay for them.
def _records(request: dict[str, Any]) -> list[Any]:
    import asyncio

    import rattler

    specs = [rattler.MatchSpec(s) for s in request["specs"]]
    return list(
        asyncio.run(
            rattler.solve(
                sources=request["channels"],
                specs=specs,
                platforms=[rattler.Platform.current(), rattler.Platform("noarch")],
                virtual_packages=rattler.VirtualPackage.detect(),
            )
        )
    )


def _identity(records: list[Any]) -> list[list[str]]:
    def sha(record: Any) -> str:
        value = record.sha256
        return value.hex() if isinstance(value, bytes) else str(value or "")

    return sorted([str(r.url), sha(r)] for r in records)


def handle(request: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    import rattler
    from rattler import exceptions

    try:
        records = _records(request)
    except (exceptions.InvalidMatchSpecError, exceptions.InvalidPackageNameError, exceptions.InvalidVersionSpecError) as exc:
        return {"error": "spec", "message": str(exc)}
    except exceptions.SolverError as exc:
        return {"error": "solve", "message": str(exc)}
    except (exceptions.FetchRepoDataError, exceptions.GatewayError, exceptions.InvalidChannelError) as exc:
        return {"error": "channel", "message": str(exc)}
    if request["op"] == "solve":
        return {"packages": _identity(records)}
    if _identity(records) != request["expect"]:
        return {"error": "changed", "message": "the channels answered differently between two solves"}
    try:
        asyncio.run(
            rattler.install(
                records, target_prefix=request["prefix"], cache_dir=request["cache_dir"], show_progress=False, execute_link_scripts=False
            )
        )
    except (
        exceptions.FetchRepoDataError,
        exceptions.InstallerError,
        exceptions.LinkError,
        exceptions.TransactionError,
        exceptions.ExtractError,
    ) as exc:
        return {"error": "install", "message": str(exc)}
    return {"installed": len(records)}


def main() -> None:
    try:
        answer = handle(json.loads(sys.stdin.read()))
        code = 0
    except BaseException as exc:  # noqa: BLE001  # the parent reports it; never a traceback from here
        answer, code = {"error": "internal", "message": f"{type(exc).__name__}: {exc}"}, 1
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
