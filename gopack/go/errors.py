"""Go's own error messages, short, with a hint where gopack knows the fix (pure functions).

A failing ``go list`` or ``go build`` is shown by its stderr alone (``go list``'s
stdout is gopack's JSON, of no use to a reader), cut to a handful of lines.
An import of a known binding under a wrong-case path (``github.com/datadog/go-python3``,
which GOPATH on a case-insensitive disk accepted) or a binding missing from go.mod
gets a hint naming the module's real path and the ``go get`` that adds it: Go's
own suggestion repeats the wrong case, which the module proxy refuses.
A darwin link that zig refuses because a library is for another machine
(``invalid cpu architecture: x86_64``: GOARCH=arm64 against the x86_64-only libpython
of a 3.7 build) says which file, both architectures and the ways out; the plan refuses
that pairing before any work, this is the net under it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from gopack.errors import GopackError
from gopack.go.bindings import KNOWN

#: Lines of Go's output shown; the rest is counted, and -v shows it all.
SHOWN_LINES = 10

_MISSING = re.compile(
    r"^(?P<where>\S+?:\d+):\d+: (?:no required module provides package|cannot find module providing package) (?P<path>[^\s;:]+)",
    re.MULTILINE,
)
#: Anything that looks like a module or package path: host.tld/more.
_PATH = re.compile(r"\b[\w-]+(?:\.[\w-]+)+/[\w./-]*[\w-]")
#: zig's "error: invalid cpu architecture: x86_64" and the "note: while parsing FILE" after it.
_WRONG_ARCH = re.compile(r"invalid cpu architecture: (?P<arch>\S+)(?:\s*\n\s*note: while parsing (?P<file>[^\n]+))?")
#: GOARCH -> the name a Mac gives its machine.
_MAC_ARCH = {"amd64": "x86_64", "arm64": "arm64"}


@dataclass(frozen=True, kw_only=True)
class GoFailure:
    details: str
    hint: str | None


def rewrite(error: GopackError, *, module_dir: Path, goarch: str | None = None) -> GopackError:
    """``error`` (a failed go command's, carrying its stderr) with Go's message cut short
    and gopack's hint where it knows the fix; the same class, so the same exit code.
    ``goarch``: the GOARCH of a darwin build, whose link may meet a library of another machine."""
    wrong = wrong_architecture(error.details or "", goarch=goarch) if goarch is not None else None
    if wrong is not None:
        message, hint = wrong
        return type(error)(message, hint=hint, details=shorten(error.details or ""))
    go_mod = module_dir / "go.mod"
    failure = explain(error.details or "", module_dir=module_dir, go_mod=go_mod.read_text("utf-8", "replace") if go_mod.is_file() else "")
    return type(error)(error.message, hint=failure.hint or error.hint, details=failure.details or None)


def shorten(output: str, *, lines: int = SHOWN_LINES) -> str:
    """The first ``lines`` lines of ``output`` and how many more there are.

    >>> shorten("a\\nb\\nc", lines=2)
    'a\\nb\\n... and 1 more line (run with -v to see all of it)'
    """
    kept = output.strip("\n").splitlines()
    if len(kept) <= lines:
        return "\n".join(kept)
    rest = len(kept) - lines
    return "\n".join(kept[:lines] + [f"... and {rest} more line{'s' if rest != 1 else ''} (run with -v to see all of it)"])


def binding_module(import_path: str) -> str | None:
    """The real module path of a known binding that ``import_path`` names in any case, or None.

    >>> binding_module("github.com/datadog/go-python3")
    'github.com/DataDog/go-python3'
    >>> binding_module("github.com/m-quadra/go-python3-submodule/v11/sub")
    'github.com/M-Quadra/go-python3-submodule/v11'
    >>> binding_module("github.com/example/other") is None
    True
    """
    for known in KNOWN:
        base = known.module_path
        if import_path.lower() == base.lower() or import_path.lower().startswith(base.lower() + "/"):
            major = re.match(r"/v\d+(?=/|$)", import_path[len(base) :])
            return base + (major.group(0) if major else "")
    return None


def explain(stderr: str, *, module_dir: Path, go_mod: str) -> GoFailure:
    """Go's stderr cut short, and a hint when it names a known binding it cannot find.

    ``go_mod`` is the text of the module's go.mod (empty if it has none).
    """
    return GoFailure(details=shorten(stderr), hint=_missing_binding(stderr, module_dir, go_mod) or _wrong_case(stderr, module_dir))


def _go_get(module: str, module_dir: Path) -> str:
    return f"`go get {module}` in {shlex.quote(str(module_dir))}"


def _missing_binding(stderr: str, module_dir: Path, go_mod: str) -> str | None:
    """The hint for ``file.go:N:M: no required module provides package P`` where P is a known binding."""
    for match in _MISSING.finditer(stderr):
        path, where = match.group("path"), match.group("where")
        module = binding_module(path)
        if module is None:
            continue
        required = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+v", go_mod, re.MULTILINE) is not None
        get = "" if required else _go_get(module, module_dir)
        fixed = module + path[len(module) :]
        if fixed == path:
            return f"go.mod does not require the binding {module}: run {get}"
        return (
            f"{path} is the binding {module} spelled in another case (GOPATH on a case-insensitive disk accepted that; "
            f'Go modules and the module proxy do not): import "{fixed}" in {module_dir / where}' + (f", then run {get}" if get else "")
        )
    return None


def _wrong_case(stderr: str, module_dir: Path) -> str | None:
    """The hint for any other message naming a known binding in another case (a go.mod
    ``require`` line, say, which the module proxy answers with 403 or 404)."""
    for path in sorted(set(_PATH.findall(stderr))):
        module = binding_module(path)
        if module is not None and not path.startswith(module):
            return (
                f"{path} is the binding {module} spelled in another case: write {module} in go.mod and in the imports "
                f"(then run {_go_get(module, module_dir)})"
            )
    return None


def wrong_architecture(stderr: str, *, goarch: str) -> tuple[str, str] | None:
    """The message and hint for zig refusing a Mach-O library of another machine, or None.

    >>> message, hint = wrong_architecture(
    ...     "error: invalid cpu architecture: x86_64\\n    note: while parsing /t/libpython3.7m.dylib\\n", goarch="arm64")
    >>> message
    'the program is built for arm64 (GOARCH=arm64), but /t/libpython3.7m.dylib is for x86_64 only: the link cannot mix them'
    >>> "target.arch: x86_64" in hint and "Rosetta 2" in hint and "arm64 build of the interpreter" in hint
    True
    """
    match = _WRONG_ARCH.search(stderr)
    if match is None:
        return None
    theirs = match.group("arch")
    ours = _MAC_ARCH.get(goarch, goarch)
    what = match.group("file") or "a library on the link line"
    message = f"the program is built for {ours} (GOARCH={goarch}), but {what.strip()} is for {theirs} only: the link cannot mix them"
    hint = (
        f"build for {theirs} (target.arch: {theirs} / --target-arch {theirs}); an {theirs} bundle runs on Apple silicon "
        f"under Rosetta 2 (softwareupdate --install-rosetta)"
        if theirs == "x86_64"
        else f"build for {theirs} (target.arch: {theirs} / --target-arch {theirs})"
    )
    hint += f"; or take an {ours} build of the interpreter (python.home: a {ours} CPython tree, e.g. a JavaCPP jar for macosx-{ours})"
    return message, hint
