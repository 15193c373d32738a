"""The host as a confined run sees it: every file as it is, read-only, and no host socket that answers.

Read-only bind mounts do not stop ``connect()`` on a unix socket: a 0666 socket under
/run took data from a smoke program. Hiding the usual places (/run, /var/run, /dev/log,
/var/lib, home folders) leaves every other folder a daemon may bind in; seccomp cannot
read the address ``connect()`` is given; Landlock restricts abstract sockets only (the
run's new network namespace already has none of the host's) and not connecting to a
path. What this module does instead covers every path socket, present or to come:

Each mount of the host is shown to the run through an overlayfs mount with the host's
folder as its only lower layer (read-only, no upper layer). ld.so, /bin/sh and every
other file read the same bytes through it; but a socket is found by the inode it was
bound to, and the overlay's inode is another one: ``connect()`` gets ECONNREFUSED for
every socket of the host, including those bound after the run started. Sockets the run
binds itself, in its private /tmp, work as anywhere (multiprocessing's and joblib's
listeners, socketpair).

Filesystems that cannot hold a socket (proc, sysfs, cgroup, ...) are bound as they are,
read-only; a mount that is itself a socket (a bind-mounted docker.sock) is covered by
/dev/null; one that overlayfs refuses, or whose path the overlay option cannot carry,
is covered by an empty read-only tmpfs, with a line saying so in the run's output.
"""

from __future__ import annotations

import os
import shlex
import stat

#: Filesystems in which no process can bind a socket: shown as they are (read-only).
NO_SOCKETS = frozenset(
    {
        "sysfs",
        "cgroup",
        "cgroup2",
        "securityfs",
        "debugfs",
        "tracefs",
        "pstore",
        "bpf",
        "configfs",
        "fusectl",
        "efivarfs",
        "mqueue",
        "binfmt_misc",
        "nsfs",
        "selinuxfs",
    }
)
#: Filesystems neither overlaid nor shown: looking into an autofs mount would mount it.
HIDDEN = frozenset({"autofs"})


def unescape(field: str) -> str:
    r"""mountinfo writes a space as \040, a tab as \011, a newline as \012, a backslash as \134."""
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def host_mounts() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of this namespace's mounts, one per point (the one on
    top, which a path reaches), parents before their children."""
    found: dict[str, str] = {}
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields, _, tail = line.partition(" - ")
            parts, kind = fields.split(), tail.split()
            if len(parts) >= 5 and kind:
                point = unescape(parts[4])
                found.pop(point, None)
                found[point] = kind[0]
    return sorted(found.items(), key=lambda item: 0 if item[0] == "/" else item[0].count("/"))


def without_sockets(root: str, empty: str, *, replaced: tuple[str, ...]) -> list[str]:
    """Shell lines that make ``root`` the host as the run sees it (see the module's doc).
    ``empty``: an empty folder outside ``root``, overlayfs's second lower layer.
    ``replaced``: mount points the caller puts its own in place of, with all below them."""
    script = []
    for point, kind in host_mounts():
        if any(point == r or point.startswith(r.rstrip("/") + "/") for r in replaced):
            continue
        target = shlex.quote(root + (point if point != "/" else ""))
        hidden = f"mount -n -t tmpfs -o ro,size=4k,mode=755 gopack-hidden {target}"
        if kind in HIDDEN:
            show = hidden
        elif kind in NO_SOCKETS:
            show = f"mount -n --bind {shlex.quote(point)} {target}"
        else:
            try:
                mode = os.stat(point).st_mode
            except OSError:
                continue  # gone meanwhile, or not reachable: nothing to show
            if stat.S_ISSOCK(mode):
                show = f"mount -n --bind /dev/null {target}"
            elif not stat.S_ISDIR(mode):
                show = f"mount -n --bind {shlex.quote(point)} {target}"
            elif any(c in point for c in ":,\\\n"):  # overlayfs's option would need escapes: do without
                show = f"echo gopack-sandbox: {shlex.quote(point)} is hidden: its name cannot be given to overlayfs >&2; {hidden}"
            else:
                lower = shlex.quote(f"lowerdir={point}:{empty}")
                why = f"echo gopack-sandbox: {shlex.quote(point)} is hidden: overlayfs cannot show it >&2"
                show = f"mount -n -t overlay -o ro,{lower} gopack-host {target} || {{ {why}; {hidden}; }}"
        # A point the overlay of its parent does not show (a mount below one mounted over) is left out.
        script.append(f"if [ -e {target} ] && [ ! -L {target} ]; then {show}; fi")
    return script
