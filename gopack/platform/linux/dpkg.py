"""Which Debian package installed a file, read from dpkg's own database in the target's root.

``dpkg -S`` answers for the host alone; a root made by debootstrap (``target.sysroot``)
has its own database at ``<root>/var/lib/dpkg``. Both are read the same way here:
``info/<package>[:<arch>].list`` names each package's files, ``status`` its version
and architecture, ``etc/os-release`` the distribution. A root without dpkg (or a file
no package owns: built from source, copied by hand) gives no answer, never an error.

Paths are matched as dpkg recorded them and through the /usr merge: Debian 12's dpkg
lists ``/lib/x86_64-linux-gnu/libz.so.1``, which the loader finds as
``/usr/lib/x86_64-linux-gnu/libz.so.1`` (and the other way round on newer releases).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from gopack.platform.base import Origin

_MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: A status file or a list larger than this is not dpkg's: it is left unread.
_MAX_BYTES = 256 << 20


def origins(files: Iterable[str], *, root: Path) -> dict[str, Origin]:
    """file -> the Debian package that installed it, for each of ``files`` (paths as the
    root sees them, ``/usr/lib/...``) some package of ``root`` lists."""
    wanted: dict[str, str] = {}  # a spelling dpkg may have recorded -> the file asked about
    for file in files:
        for alias in _aliases(file):
            wanted.setdefault(alias, file)
    info = root / "var" / "lib" / "dpkg" / "info"
    if not wanted or not info.is_dir():
        return {}
    owners: dict[str, str] = {}  # file asked about -> "name" or "name:arch", as the list file is named
    for listing in sorted(info.glob("*.list")):
        try:
            if listing.stat().st_size > _MAX_BYTES:
                continue
            text = listing.read_text("utf-8", "surrogateescape")
        except OSError:
            continue
        for line in text.splitlines():
            asked = wanted.get(line)
            if asked is not None:
                owners.setdefault(asked, listing.name[: -len(".list")])
    if not owners:
        return {}
    packages = status(_read(root / "var" / "lib" / "dpkg" / "status"))
    distro, distro_version = os_release(_read(root / "etc" / "os-release") or _read(root / "usr" / "lib" / "os-release"))
    found = {}
    for file, owner in owners.items():
        name, _, arch = owner.partition(":")
        record = packages.get((name, arch)) or packages.get((name, "")) or next((v for k, v in packages.items() if k[0] == name), None)
        if record is None:
            continue
        found[file] = Origin(
            manager="deb",
            namespace=distro,
            name=name,
            version=record[0],
            arch=arch or record[1],
            distro=distro_version and f"{distro}-{distro_version}",
        )
    return found


def _aliases(file: str) -> list[str]:
    """The spellings dpkg may have recorded ``file`` under.

    >>> _aliases("/usr/lib/x86_64-linux-gnu/libz.so.1"), _aliases("/lib64/ld-linux-x86-64.so.2")
    (['/usr/lib/x86_64-linux-gnu/libz.so.1', '/lib/x86_64-linux-gnu/libz.so.1'], ['/lib64/ld-linux-x86-64.so.2', '/usr/lib64/ld-linux-x86-64.so.2'])
    """
    path = PurePosixPath(os.path.normpath(file))
    parts = path.parts
    spellings = [str(path)]
    if len(parts) > 2 and parts[1] == "usr" and parts[2] in _MERGED:
        spellings.append(str(PurePosixPath("/", *parts[2:])))
    elif len(parts) > 1 and parts[1] in _MERGED:
        spellings.append(str(PurePosixPath("/usr", *parts[1:])))
    return spellings


def status(text: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(package, architecture) -> (version, architecture) of each installed package in dpkg's status file.

    >>> status("Package: libz1\\nStatus: install ok installed\\nArchitecture: amd64\\nVersion: 1:1.2.13\\n\\n"
    ...        "Package: gone\\nStatus: deinstall ok config-files\\nArchitecture: all\\nVersion: 1\\n")
    {('libz1', 'amd64'): ('1:1.2.13', 'amd64'), ('libz1', ''): ('1:1.2.13', 'amd64')}
    """
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for stanza in text.split("\n\n"):
        fields = _fields(stanza)
        name, version, arch = fields.get("Package"), fields.get("Version"), fields.get("Architecture", "")
        if not name or not version or not fields.get("Status", "").endswith(" installed"):
            continue
        found[(name, arch)] = (version, arch)
        found.setdefault((name, ""), (version, arch))
    return found


def os_release(text: str) -> tuple[str, str]:
    """The distribution's ID and VERSION_ID (``debian``, ``12``); ``debian`` when the file says nothing.

    >>> os_release('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\\nVERSION_ID="12"\\nID=debian\\n')
    ('debian', '12')
    """
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("\"'")
    return values.get("ID") or "debian", values.get("VERSION_ID", "")


def _fields(stanza: str) -> Mapping[str, str]:
    fields = {}
    for line in stanza.splitlines():
        if line[:1] in (" ", "\t"):
            continue  # a continuation line (Description, Conffiles)
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > _MAX_BYTES:
            return ""
        return path.read_text("utf-8", "surrogateescape")
    except OSError:
        return ""
