"""``gopack verify``: prove an archive is intact and runs where no Python exists,
without trusting it (it may come from anyone, and verify often runs as root).

1. Read the whole archive before writing anything, then extract it relative to
   directory descriptors, never through a link (:mod:`gopack.archive.unpack`): one
   top-level folder, a manifest that matches its schema, every entry's name,
   type and size checked against it, the smoke command inside the bundle.
2. Check every file against the manifest, and that nothing unlisted was added;
   the SBOM (``sbom.cdx.json``), where the manifest lists one (every bundle gopack makes),
   is CycloneDX 1.6, names this bundle and gives every file it names (the Go binary,
   each vendored library) the manifest's sha256.
3. Check statically that no ELF search path is absolute or leaves the bundle and that
   every DT_NEEDED resolves inside the bundle or to a host library the policy allows,
   reading only inside the bundle, bounded, never trusting an ELF file
   (:mod:`gopack.platform.linux.linkage`).
4. Run the smoke test stored in the manifest in three places, each confined
   (:func:`gopack.verify.sandbox.run_confined`: no network, host read-only or absent,
   private /tmp and HOME, a uid of its own, limits, the process tree killed at
   the end):
   a. a root holding only the policy's libraries (glibc, libgcc_s, libstdc++),
      the loader and /bin/sh;
   b. the host with every Python hidden and decoys set (every variable
      CPython's path search reads and LD_LIBRARY_PATH pointing at wrong places,
      PYTHONEXECUTABLE and __PYVENV_LAUNCHER__ at a fake python3 first on PATH);
   c. read-only, at a path with spaces and non-ASCII characters.
   a and c name a locale the machine lacks (:data:`LOCALE_ENV`).

A macOS bundle gets 1 to 3 (3 as dyld would load it, signatures and floor included:
:mod:`gopack.platform.macos.linkage`) and, off a Mac, one line saying its smoke test needs
a Mac and did not run (the platform says so: :meth:`Platform.smoke_elsewhere`).

A bundle of another machine (aarch64 on x86_64) runs in the same three places
under qemu-user, with that machine's glibc (:mod:`gopack.platform.emulation`): in a, the
root holds that glibc and a static qemu instead; in b and c, qemu takes that
glibc from its prefix. Where no emulator or no such glibc is found, the smoke
test is reported as not run, saying what to install.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gopack import sbom
from gopack.archive import unpack
from gopack.archive import write as archive
from gopack.errors import UsageError, VerifyError
from gopack.platform import emulation, platforms
from gopack.platform import target as targets
from gopack.platform.base import Platform
from gopack.platform.emulation import Emulation
from gopack.verify import sandbox

#: Every variable CPython's path search reads (2.7 to 3.13), and the loader's, pointing at wrong
#: places; PYTHONEXECUTABLE and __PYVENV_LAUNCHER__ name the fake python3 (a file that exists).
DECOYS = {
    "PYTHONHOME": "/nonexistent/gopack-decoy-home",
    "PYTHONPATH": "/nonexistent/gopack-decoy-path",
    "PYTHONPLATLIBDIR": "gopack-decoy-lib",
    "LD_LIBRARY_PATH": "/nonexistent/gopack-decoy-lib",
}
_DECOY_EXECUTABLE = ("PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__")
MOVED_TO = "moved here ünïcødé 日本"
#: The locale the glibc-only root and the moved run name: LC_CTYPE (what decides how paths are
#: encoded) a locale most servers and containers lack, LANG (the other categories) one the root
#: lacks. Where setlocale fails the C locale stays, whose ASCII cannot name the moved run's path
#: unless the bundle starts in UTF-8 mode (gopack/cgo/gopack_home.h).
LOCALE_ENV = {"LANG": "C.UTF-8", "LC_CTYPE": "en_US.UTF-8"}
_FAKE_PYTHON = "#!/bin/sh\necho 'gopack decoy python3 was run' >&2\nexit 97\n"


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    ok: bool
    detail: str
    output: str = ""


#: The longest a smoke run may take unless the command line says otherwise (``verify --timeout``).
DEFAULT_TIMEOUT = 600.0


def verify(path: Path, *, allow_unsandboxed: bool = False, sysroot: Path | None = None, timeout: float = DEFAULT_TIMEOUT) -> list[Check]:
    """``sysroot``: a root of the bundle's machine, whose glibc its smoke runs take when
    that machine is not this one (else Debian's cross glibc, see :mod:`gopack.platform.emulation`).
    ``timeout``: the most seconds each smoke run may take; the manifest's ``smoke.timeout``
    (which the archive's maker wrote, up to a day) is taken only where it is shorter."""
    if not timeout > 0:
        raise UsageError(f"--timeout {timeout:g}: a smoke run needs some time", hint="give a number of seconds above 0, e.g. --timeout 600")
    try:
        readable = path.is_file() and os.access(path, os.R_OK)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    if not readable:
        raise UsageError(f"{path}: no such archive, or not readable by this user", hint="pass the .tar.gz that gopack bundle wrote")
    with unpack.opened(path) as arc:
        listing = arc.scan()  # every check that needs no extraction, before anything is written
        platform = platforms.of_tag(listing.manifest["platform"])
        if platform is None:
            raise VerifyError(
                f"{path}: its manifest says it is for the platform {listing.manifest['platform']!r}, which gopack cannot check",
                hint=f"gopack verifies bundles for {', '.join(platforms.PLATFORMS)}",
            )
        # A bundle whose smoke test cannot run here (macOS's on Linux) gets the static checks only.
        elsewhere = platform.smoke_elsewhere()
        why_not = sandbox.can_sandbox() if elsewhere is None else None
        if why_not is not None and not allow_unsandboxed:
            raise VerifyError(
                f"cannot make the sandboxes verify runs the smoke test in: {why_not}",
                hint="run as root with util-linux's unshare, setpriv and prlimit, or pass --allow-unsandboxed to run the smoke test on this host as it is",
            )
        machine = listing.machines.get(listing.manifest["go"]["binary"])
        foreign = elsewhere is None and machine is not None and machine != targets.host_machine()
        if sysroot is not None and not foreign:
            raise UsageError(
                f"--sysroot {sysroot}: the bundle is for {machine}, this machine's own; its smoke test runs with this machine's glibc",
                hint="--sysroot is for a bundle of another machine (aarch64 on x86_64): leave it out",
            )
        emulated = emulation.find(machine, sysroot=sysroot) if foreign and machine is not None else None
        with tempfile.TemporaryDirectory(prefix="gopack-verify-") as tmp:
            work = Path(tmp)
            root = arc.extract(listing, work / "extracted")
            return _check(root, listing.manifest, work, why_not, emulated, platform, timeout, elsewhere)


def _check(
    root: Path,
    manifest: dict[str, Any],
    work: Path,
    why_not: str | None,
    emulated: Emulation | str | None,
    platform: Platform,
    timeout: float,
    elsewhere: str | None = None,
) -> list[Check]:
    checks = [
        check_files(root, manifest),
        check_sbom(root, manifest),
        check_linkage(root, platform, accepted=_unresolved(manifest), tag=manifest["platform"]),
    ]
    if not all(c.ok for c in checks):
        return checks
    if elsewhere is not None:
        return [*checks, Check(name="smoke", ok=True, detail=elsewhere)]
    smoke = {**manifest["smoke"], "timeout": min(float(manifest["smoke"]["timeout"]), timeout)}
    if isinstance(emulated, str):
        return [*checks, Check(name="smoke", ok=False, detail=f"not run: {emulated}")]
    if why_not is not None:
        argv = [str(root / smoke["command"][0]), *smoke["command"][1:]]
        where = f"ran on this host as it is, as {_who()}: {why_not}"
        if emulated is not None:
            argv, where = emulated.argv(argv), f"{where}; {emulation.describe(emulated)}"
        result = sandbox.run_plain(argv, cwd=Path("/"), env=smoke_env(), timeout=smoke["timeout"])
        return [*checks, _judge("smoke (unsandboxed)", result, smoke, where)]
    limits = sandbox.Limits(timeout=float(smoke["timeout"]))
    checks.append(_in_glibc_root(root, smoke, work / "glibc-root", limits, emulated, platform))
    checks.append(_with_python_hidden(root, smoke, work / "decoy-bin", limits, emulated))
    checks.append(_moved_read_only(root, smoke, limits, emulated))
    return checks


def smoke_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every smoke run gets over the sandbox's minimal one (PATH, HOME, TMPDIR)."""
    return {**(extra or {})}


def _who() -> str:
    return "root" if os.geteuid() == 0 else f"uid {os.geteuid()}"


def check_files(root: Path, manifest: dict[str, Any]) -> Check:
    listed = {f["path"]: f for f in manifest["files"]}
    found = {e.path: e for e in archive.file_entries(root) if e.path != archive.MANIFEST}
    problems = []
    for rel in sorted(set(listed) - set(found)):
        problems.append(f"{rel}: listed in the manifest but missing")
    for rel in sorted(set(found) - set(listed)):
        problems.append(f"{rel}: present but not in the manifest")
    for rel in sorted(set(listed) & set(found)):
        want, have = listed[rel], found[rel]
        if want.get("link") != have.link:
            problems.append(f"{rel}: link target differs from the manifest")
        elif not have.link and (want["size"] != have.size or want["sha256"] != have.sha256):
            problems.append(f"{rel}: content differs from the manifest (sha256 {have.sha256[:12]}..., expected {want['sha256'][:12]}...)")
    if problems:
        return Check(
            name="files", ok=False, detail="; ".join(problems[:20]) + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else "")
        )
    return Check(name="files", ok=True, detail=f"{len(listed)} files match the manifest")


def check_sbom(root: Path, manifest: dict[str, Any]) -> Check:
    """The SBOM against the manifest (whose files :func:`check_files` checks against the bundle)."""
    listed = {f["path"]: f for f in manifest["files"]}
    if sbom.NAME not in listed:
        # Made by a gopack before SBOMs, or by hand: nothing to check (a sbom.cdx.json the manifest
        # does not list is an unlisted file, which check_files refuses).
        return Check(name="sbom", ok=True, detail=f"none: the manifest lists no {sbom.NAME} (bundles made by gopack bundle carry one)")
    if "sha256" not in listed[sbom.NAME]:
        return Check(name="sbom", ok=False, detail=f"the manifest lists {sbom.NAME} as a link, not a file")
    try:
        with (root / sbom.NAME).open("rb") as f:
            data = f.read(sbom.MAX_BYTES + 1)
    except OSError as exc:
        return Check(name="sbom", ok=False, detail=f"{sbom.NAME}: cannot read: {exc.strerror}")
    if len(data) > sbom.MAX_BYTES:
        return Check(name="sbom", ok=False, detail=f"{sbom.NAME} is larger than the {sbom.MAX_BYTES >> 20} MiB an SBOM may have")
    try:
        document = sbom.parse(data)
    except (ValueError, RecursionError) as exc:
        return Check(name="sbom", ok=False, detail=f"{sbom.NAME} is not JSON: {_printable(str(exc))[:200]}")
    problem = sbom.validate(data)
    if problem is not None:
        return Check(name="sbom", ok=False, detail=f"{sbom.NAME} is not CycloneDX 1.6: {_printable(problem)[:300]}")
    problems = []
    app = (document.get("metadata") or {}).get("component") or {}
    if (app.get("name"), app.get("version")) != (manifest["name"], manifest["version"]):
        problems.append(
            f"it describes {app.get('name')!r} {app.get('version')!r}, the manifest {manifest['name']!r} {manifest['version']!r}"
        )
    hashes = sbom.file_hashes(document)
    for path, digest in sorted(hashes.items()):
        if path not in listed:
            problems.append(f"{_printable(path)}: named by the SBOM, not in the manifest")
        elif digest != listed[path].get("sha256"):
            problems.append(
                f"{path}: the SBOM's sha256 {_printable(digest[:12])}... differs from the manifest's {str(listed[path].get('sha256'))[:12]}..."
            )
    named = {PurePosixPath(p).name for p in hashes}
    problems += [f"vendored {v['name']}: not in the SBOM" for v in manifest["vendored"] if v["name"] not in named]
    if manifest["go"]["binary"] not in hashes:
        problems.append(f"{manifest['go']['binary']}: the Go program is not in the SBOM")
    if problems:
        return Check(
            name="sbom", ok=False, detail="; ".join(problems[:20]) + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else "")
        )
    return Check(
        name="sbom",
        ok=True,
        detail=f"CycloneDX 1.6, {sum(sbom.counts(document).values())} components; the {len(hashes)} files it names match the manifest",
    )


def _printable(text: str) -> str:
    r"""Text an archive supplied, one line, with what a terminal would act on escaped.

    >>> _printable("a\x1b[31m b\n c")
    'a\\x1b[31m b c'
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in " ".join(text.split()))


def _unresolved(manifest: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """What the build found missing everywhere and shipped as the wheel had it (see relocate)."""
    return frozenset((u["path"], u["needs"]) for u in manifest.get("unresolved", ()))


def check_linkage(root: Path, platform: Platform, *, accepted: frozenset[tuple[str, str]] = frozenset(), tag: str = "") -> Check:
    found = platform.linkage(root, accepted=accepted, tag=tag)
    if found.problems:
        return Check(name="linkage", ok=False, detail="; ".join(found.problems[:20]))
    return Check(name="linkage", ok=True, detail=found.summary)


def _argv(at: PurePosixPath, smoke: dict[str, Any]) -> list[str]:
    return [str(at / smoke["command"][0]), *smoke["command"][1:]]


def _judge(name: str, result: sandbox.Result, smoke: dict[str, Any], where: str) -> Check:
    if result.confinement:
        where = f"{where}; {result.confinement}"
    missing = [e for e in smoke["expect"] if e not in result.output]
    if result.returncode != 0:
        return Check(name=name, ok=False, detail=f"{smoke['command'][0]} exited with {result.returncode} ({where})", output=result.output)
    if missing:
        return Check(name=name, ok=False, detail=f"output lacks {', '.join(map(repr, missing))} ({where})", output=result.output)
    return Check(name=name, ok=True, detail=f"{len(smoke['expect'])} expected strings seen ({where})", output=result.output)


def _in_glibc_root(
    root: Path, smoke: dict[str, Any], place: Path, limits: sandbox.Limits, emulated: Emulation | None, platform: Platform
) -> Check:
    sandbox.make_glibc_root(place, sorted(platform.system_libraries), emulation=emulated)
    at = PurePosixPath("/bundle")
    argv = _argv(at, smoke) if emulated is None else emulated.argv_in_root(_argv(at, smoke))
    result = sandbox.run_confined(
        argv, bundle=root, at=at, cwd=PurePosixPath("/"), limits=limits, env=smoke_env(LOCALE_ENV), glibc_root=place
    )
    held = "glibc, libgcc_s, libstdc++, the loader and /bin/sh"
    if emulated is not None:
        held = f"{targets.ARCH_OF_MACHINE[emulated.machine]}'s glibc, libgcc_s, libstdc++ and loader from {emulated.prefix}, and {emulated.emulator.name}"
    return _judge("glibc-only root", result, smoke, f"chroot holding only {held}; {_locale()}")


#: Where the confined runs of another machine's bundle see that machine's glibc (qemu's -L).
_PREFIX_AT = sandbox.PRIVATE_TMP / "gopack-target-glibc"


def _emulated(argv: list[str], emulated: Emulation | None) -> tuple[list[str], dict[Path, PurePosixPath], str]:
    """``argv`` as a confined run starts it, the folders it must see, and what to add to its report."""
    if emulated is None:
        return argv, {}, ""
    return emulated.argv(argv, prefix=_PREFIX_AT), {emulated.prefix: _PREFIX_AT}, f"; {emulation.describe(emulated)}"


def _with_python_hidden(root: Path, smoke: dict[str, Any], decoy_bin: Path, limits: sandbox.Limits, emulated: Emulation | None) -> Check:
    decoy_bin.mkdir()
    fake = decoy_bin / "python3"
    fake.write_text(_FAKE_PYTHON)
    fake.chmod(0o755)
    decoys_at = sandbox.PRIVATE_TMP / "gopack-decoy-bin"
    at = sandbox.PRIVATE_TMP / "gopack-verify" / root.name
    fake_at = str(decoys_at / "python3")
    env = smoke_env({**DECOYS, **dict.fromkeys(_DECOY_EXECUTABLE, fake_at), "PATH": f"{decoys_at}:{sandbox.SAFE_PATH}"})
    argv, also, how = _emulated(_argv(at, smoke), emulated)
    result = sandbox.run_confined(
        argv, bundle=root, at=at, cwd=PurePosixPath("/"), limits=limits, env=env, also={decoy_bin: decoys_at, **also}
    )
    return _judge(
        "no python, decoys", result, smoke, f"every Python hidden; {', '.join([*DECOYS, *_DECOY_EXECUTABLE])} and python3 are decoys{how}"
    )


def _moved_read_only(root: Path, smoke: dict[str, Any], limits: sandbox.Limits, emulated: Emulation | None) -> Check:
    at = sandbox.PRIVATE_TMP / MOVED_TO / root.name
    argv, also, how = _emulated(_argv(at, smoke), emulated)
    result = sandbox.run_confined(argv, bundle=root, at=at, cwd=at.parent, limits=limits, env=smoke_env(LOCALE_ENV), also=also)
    return _judge("moved, read-only", result, smoke, f"mounted read-only at {str(at.parent)!r}; {_locale()}{how}")


def _locale() -> str:
    return " ".join(f"{k}={v}" for k, v in LOCALE_ENV.items())
