"""What a bundle needs from the Linux system it runs on, as files: an image's runtime base.

A bundle carries everything but glibc, gcc's runtime (libgcc_s, libstdc++) and the
loader (:data:`analysis.HOST_LIBRARIES`); an image has no host, so its lowest layer
holds them, taken from the target's root (``target.sysroot``) or, without one, from
this machine: the glibc the bundle was linked and checked against. Two more things a
program reads from its system go in only where the bundle's code uses them:

- CA certificates (the root's ``ca-certificates.crt``, with ``SSL_CERT_FILE`` naming
  it), when Python's ``_ssl`` is in the tree or the Go program links ``crypto/x509``.
  certifi, where a package brings it, ships its own copy for requests and friends;
  Python's ``ssl.create_default_context`` and Go's TLS read the system's.
- Time zones (``/usr/share/zoneinfo`` without ``right/``), when the Go program calls
  ``time.LoadLocation`` or the tree has Python's ``zoneinfo`` and no ``tzdata``
  distribution (which would ship its own).

Each file goes where its root keeps it, the directory's symbolic links followed
(Debian's ``/lib`` is ``usr/lib``): the loader's built-in search path finds it with no
``ld.so.cache``. The loader goes where programs name it (``/lib64/ld-linux-x86-64.so.2``).
The record lists every file, where it came from and, in a Debian root, the package
and version that installed it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from gopack._fs import sha256_file
from gopack.errors import BuildError
from gopack.platform.base import RuntimeBase, RuntimeFile
from gopack.platform.linux import analysis
from gopack.platform.target import Target, loader_of

#: Where a root keeps its CA certificates, first found wins (Debian, Fedora/RHEL, Alpine/Arch).
CERTIFICATE_FILES = ("etc/ssl/certs/ca-certificates.crt", "etc/pki/tls/certs/ca-bundle.crt", "etc/ssl/cert.pem")
#: Where the image keeps them (Go's first choice; SSL_CERT_FILE tells OpenSSL).
CERTIFICATES = "etc/ssl/certs/ca-certificates.crt"
ZONEINFO = "usr/share/zoneinfo"
_TRUSTED = ("lib64", "usr/lib64", "lib", "usr/lib")
_LOADER = re.compile(r"^(ld-linux.*|ld64\.so\.[12])$")


def needs_certificates(root: Path, program: str) -> str | None:
    """Why the bundle at ``root`` needs CA certificates, or None."""
    if any(root.glob("python/lib/python*/lib-dynload/_ssl*.so")):
        return "Python's ssl module (_ssl) is in the tree"
    if b"crypto/x509." in (root / program).read_bytes():
        return "the Go program links crypto/x509"
    return None


def needs_zoneinfo(root: Path, program: str) -> str | None:
    """Why the bundle at ``root`` needs the time zone database, or None."""
    if b"time.LoadLocation" in (root / program).read_bytes():
        return "the Go program calls time.LoadLocation"
    for stdlib in root.glob("python/lib/python3.*/zoneinfo"):
        if not any((stdlib.parent / "site-packages").glob("tzdata")):
            return "Python's zoneinfo module is in the tree and no tzdata distribution ships its own"
    return None


def runtime_base(root: Path, *, program: str, host_libraries: Sequence[str], target: Target) -> RuntimeBase:
    """The files of the bundle staged at ``root``'s image base (see the module's docstring)."""
    top = target.sysroot or Path("/")
    files: list[RuntimeFile] = []
    loader = loader_of(target.goarch)
    found_loader = target.real(loader)
    if not found_loader.is_file():
        raise BuildError(f"the image's runtime base needs the loader {loader}, which {_where(target)} lacks")
    files.append(RuntimeFile(path=loader.lstrip("/"), source=found_loader, why="the loader every program of the bundle names"))
    for name, (path, needed_by) in sorted(_libraries(host_libraries, target).items()):
        files.append(
            RuntimeFile(path=path.relative_to(top).as_posix(), source=target.real(path), why="needed by " + ", ".join(sorted(needed_by)))
        )
    env: list[tuple[str, str]] = []
    record: dict[str, Any] = {"certificates": None, "zoneinfo": None}
    certificates = needs_certificates(root, program)
    if certificates is not None:
        why = certificates
        source = next((target.inside(f"/{c}") for c in CERTIFICATE_FILES if target.inside(f"/{c}").is_file()), None)
        if source is None:
            record["certificates"] = {"left_out": f"{why}, but {_where(target)} has none of {', '.join(CERTIFICATE_FILES)}"}
        else:
            files.append(RuntimeFile(path=CERTIFICATES, source=source.resolve() if target.sysroot is None else source, why=why))
            env.append(("SSL_CERT_FILE", f"/{CERTIFICATES}"))
            record["certificates"] = {"path": f"/{CERTIFICATES}", "why": why, "from": f"/{source.relative_to(top).as_posix()}"}
    zoneinfo = needs_zoneinfo(root, program)
    if zoneinfo is not None:
        why = zoneinfo
        zones = list(_zoneinfo(top / ZONEINFO, why))
        files += zones
        record["zoneinfo"] = (
            {"path": f"/{ZONEINFO}", "why": why, "files": len(zones)} if zones else {"left_out": f"{why}, but {_where(target)} has none"}
        )
    owners = _dpkg_owners(top)
    record["files"] = [
        {
            "path": f"/{f.path}",
            "from": f"/{f.source.relative_to(top).as_posix()}",
            "sha256": sha256_file(f.source),
            "why": f.why,
            **({"package": owners[f"/{f.path}"]} if f"/{f.path}" in owners else {}),
        }
        for f in files
        if not f.path.startswith(ZONEINFO + "/")
    ]
    if record["zoneinfo"] is not None and f"/{ZONEINFO}/UTC" in owners:
        record["zoneinfo"]["package"] = owners[f"/{ZONEINFO}/UTC"]
    record = {"root": "the target's root" if target.sysroot is not None else "this machine", "glibc": target.libc, **record}
    return RuntimeBase(files=tuple(files), env=tuple(env), record=record)


def _where(target: Target) -> str:
    return "this machine" if target.sysroot is None else f"the root {target.sysroot}"


def _search_dirs(target: Target) -> list[Path]:
    top = target.sysroot or Path("/")
    dirs = [Path(d) for d in target.ld_paths] + [top / d for d in _TRUSTED]
    return list(dict.fromkeys(target.real(d) for d in dirs if d.is_dir()))


def _libraries(host_libraries: Sequence[str], target: Target) -> dict[str, tuple[Path, set[str]]]:
    """name -> (where the root keeps it, its directory's links followed; who needs it), for
    ``host_libraries`` and what they need in turn (the loader apart)."""
    dirs = _search_dirs(target)
    found: dict[str, tuple[Path, set[str]]] = {}
    wanted = [(name, "the bundle") for name in sorted({*host_libraries, "libc.so.6"})]
    while wanted:
        name, by = wanted.pop(0)
        if name in found:
            found[name][1].add(by)
            continue
        path = next((d / name for d in dirs if (d / name).is_file() and analysis.elf_machine(d / name) == target.machine), None)
        if path is None:
            raise BuildError(
                f"the bundle needs {name} from its host, which {_where(target)} does not have for {target.machine}",
                hint="build against a root that has it (target.sysroot), or put the image on a base that does (--base)",
            )
        found[name] = (path, {by})
        info = analysis.elf_info(path.parent, name, versions=False)
        for need in info.needed if info is not None else ():
            if not _LOADER.match(need) and need in analysis.HOST_LIBRARIES:
                wanted.append((need, name))
    return found


def _zoneinfo(folder: Path, why: str) -> Iterator[RuntimeFile]:
    """The zone files (links kept where they stay inside), without right/ (leap-second
    variants no program asks for by default) and localtime (this machine's own zone)."""
    if not folder.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not (here == folder and d == "right"))
        for name in sorted(filenames) + [d for d in dirnames if (here / d).is_symlink()]:
            full = here / name
            rel = full.relative_to(folder).as_posix()
            if rel == "localtime":
                continue
            path = f"{ZONEINFO}/{rel}"
            if full.is_symlink():
                link = os.readlink(full)
                target = (here / link) if not os.path.isabs(link) else folder.parent.parent.parent / link.lstrip("/")
                if not os.path.normpath(target).startswith(str(folder)):
                    continue
                yield RuntimeFile(path=path, source=full, why=why, link=os.path.relpath(os.path.normpath(target), here))
            elif full.is_file():
                yield RuntimeFile(path=path, source=full, why=why)


def _dpkg_owners(top: Path) -> dict[str, str]:
    """Path (as installed, and with ``/lib`` and ``/usr/lib`` both tried) -> "package version",
    from a Debian root's dpkg database; empty elsewhere."""
    info = top / "var/lib/dpkg/info"
    status = top / "var/lib/dpkg/status"
    if not info.is_dir() or not status.is_file():
        return {}
    versions: dict[str, str] = {}
    for block in status.read_text(errors="replace").split("\n\n"):
        fields = dict(re.findall(r"^(Package|Version|Architecture): (.+)$", block, re.MULTILINE))
        if "Package" in fields and "Version" in fields:
            versions[fields["Package"]] = fields["Version"]
            versions[f"{fields['Package']}:{fields.get('Architecture', '')}"] = fields["Version"]
    owners: dict[str, str] = {}
    for listing in sorted(info.glob("*.list")):
        package = listing.name[: -len(".list")]
        owned = f"{package.split(':')[0]} {versions.get(package, '?')}"
        for line in listing.read_text(errors="replace").splitlines():
            owners.setdefault(line, owned)
            if line.startswith("/lib"):
                owners.setdefault("/usr" + line, owned)
    return owners
