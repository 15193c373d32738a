"""The external linker gopack gives ``go build``: the C compiler, with Go's trial links answered once.

Before Go's linker links a cgo program with the C compiler, it asks the compiler
whether it takes each of a few flags (``--build-id``, ``--export-dynamic-symbol``,
``-Qunused-arguments``, ``-no-pie``) by linking a trivial C file with it: four more
links on every build (a rebuild's ``go build`` of the sklearn example took 0.47 s
with them, 0.27 s with them answered here). Go keeps no answer from one build to
the next. They depend only on the toolchain
and on the arguments of the trial, so gopack passes ``go build`` its own external
linker (``-ldflags=-extld=``): a shell script that answers a trial it was asked
before, with the same arguments and the same toolchain, from gopack's cache, and
otherwise runs the real compiler and keeps what it said. Every other call (the
program's link) goes to the real compiler unchanged.

What is kept is what Go would conclude the same from: a success (exit status 0,
no "unrecognized" or "unknown" in the output, Go's test) or a refusal that says
so. Any other failure (a full disk, a killed compiler) is not kept. The script
and its answers live in ``cache/extld/<key>/``, the key naming the compiler's and
``ld``'s files (path, size, modification time), PATH and the script's text: a
new compiler or binutils starts afresh. With ``-trimpath`` (which gopack always
passes) Go does not record ``-ldflags`` in the program's build information, so
the script's path is in no binary; the link is keyed to it, and redone anyway
whenever the program changes.

Only for the C compiler Go would use itself: one word found on PATH (a zig
target's ``zig cc -target ...`` keeps Go's own trials), a program without C++
(Go links that with CXX), and no ``-extld`` of the recipe's own.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path

from gopack import _fs
from gopack.go import includes

#: How the script is named in its folder; the answers are in ``answers/`` beside it.
NAME = "cc"

_SCRIPT = r"""#!/bin/sh
# Written by gopack (gopack/go/extld.py): go build's external linker. It answers Go's
# trial links (a trivial.c linked with one flag) from answers/ when asked the same before,
# and passes every other call to the real compiler.
real=@REAL@
answers=@ANSWERS@
for last; do :; done
case "$last" in
*/trivial.c) ;;
*) exec "$real" "$@" ;;
esac
dir=${last%/trivial.c}
asked=$(for a; do case "$a" in "$dir"/*) printf '@/%s\n' "${a#"$dir"/}" ;; *) printf '%s\n' "$a" ;; esac; done)
key=$(printf '%s' "$asked" | cksum | tr ' ' '-')
if [ -f "$answers/$key.rc" ] && [ "$(cat "$answers/$key.args")" = "$asked" ]; then
	cat "$answers/$key.out"
	exit "$(cat "$answers/$key.rc")"
fi
out=$("$real" "$@" 2>&1)
rc=$?
printf '%s\n' "$out"
case "$rc:$out" in
*unrecognized* | *unknown*) ;;
0:*) ;;
*) exit "$rc" ;;
esac
# Kept if it can be (the cache may be read-only, or cleaned meanwhile), silently: Go reads this output.
part="$answers/.$key.$$"
{
	if printf '%s' "$asked" >"$part.args" && printf '%s\n' "$out" >"$part.out" && printf '%s\n' "$rc" >"$part.rc"; then
		mv -f "$part.args" "$answers/$key.args" && mv -f "$part.out" "$answers/$key.out" && mv -f "$part.rc" "$answers/$key.rc"
	fi
	rm -f "$part.args" "$part.out" "$part.rc"
} 2>/dev/null
exit "$rc"
"""


def flag(compiler: tuple[str, ...], *, ldflags: str, cxx: bool, cache_dir: Path) -> str:
    """``-extld=<script>`` for ``go build -ldflags``, or "" where Go's own trials stay (see above)."""
    if cxx or len(compiler) != 1 or any(f.lstrip("-").partition("=")[0] == "extld" for f in includes.split_flags(ldflags)):
        return ""
    real = shutil.which(compiler[0])
    if real is None:
        return ""
    script = write(Path(real), cache_dir / "extld")
    return "" if script is None else f"-extld={script}"


def write(real: Path, where: Path) -> Path | None:
    """The script for ``real`` under ``where`` (written once); None if its path cannot be one
    word of ``-ldflags``."""
    key = hashlib.sha256(_SCRIPT.encode())
    ld = shutil.which("ld")
    for path in (real, *([Path(ld)] if ld else [])):
        st = path.resolve().stat()
        key.update(f"{path}\0{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    key.update(os.environ.get("PATH", "").encode())
    folder = where / key.hexdigest()[:16]
    script = folder / NAME
    if any(c.isspace() or c in "'\"\\" for c in str(script)):
        return None
    if not script.is_file():
        (folder / "answers").mkdir(parents=True, exist_ok=True)
        text = _SCRIPT.replace("@REAL@", shlex.quote(str(real))).replace("@ANSWERS@", shlex.quote(str(folder / "answers")))
        _fs.write_once(script, text, executable=True)
    return script


def compiler(env: Mapping[str, str], default: tuple[str, ...]) -> tuple[str, ...]:
    """The C compiler go build uses: CC of the environment gopack gives it, else ``default``
    (go env CC, which has the caller's environment and go env's file)."""
    cc = env.get("CC")
    return tuple(includes.split_flags(cc)) if cc else default
