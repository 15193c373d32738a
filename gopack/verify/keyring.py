"""Start a command cut off from the kernel's keyrings: ``python -I -S keyring.py COMMAND ...``.

The kernel's keyrings are not namespaced. A process started by root shares root's
session keyring (or root's user-session keyring, which links root's user keyring),
and keeps it across a change of uid: it possesses those keyrings, and possession is
what a keyring's permissions mostly grant. A smoke program read, overwrote and added
keys there, and read root's user keyring through it. So, before exec'ing COMMAND:

1. a new anonymous session keyring is joined (``KEYCTL_JOIN_SESSION_KEYRING``): the
   command and all it starts possess only that empty one, and ``/proc/keys`` shows
   them nothing of the caller's;
2. a seccomp filter returns EPERM for ``add_key``, ``request_key`` and ``keyctl``
   (what Docker's default profile does): a key added to the run's own uid's user
   keyring would outlive the run (user keyrings live as long as their user
   namespace, here the host's), and nothing else keeps the command from reaching
   keys by their serial numbers. The filter covers each ABI the host runs
   (x86-64 and its i386 and x32 syscalls; arm64 and its 32-bit arm syscalls), and
   qemu-user's, which are the host's.

Run as a script by :mod:`gopack.verify.sandbox` with the host's interpreter, before
any namespace is made (the sandbox hides every Python): stdlib only, no gopack import.
It exits 111 with a line on stderr where the kernel refuses either step.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys

_KEYCTL_JOIN_SESSION_KEYRING = 1
#: keyctl's number on the machines gopack runs on (the host's own ABI).
_KEYCTL = {"x86_64": 250, "aarch64": 219}

#: AUDIT_ARCH_* -> (add_key, request_key, keyctl) in that ABI, and the bits to clear first (x32's).
_KEY_SYSCALLS = {
    0xC000003E: ((248, 249, 250), 0x40000000),  # x86-64; x32 is the same numbers with bit 30 set
    0x40000003: ((286, 287, 288), 0),  # i386
    0xC00000B7: ((217, 218, 219), 0),  # aarch64
    0x40000028: ((309, 310, 311), 0),  # arm (EABI)
}

_LD_W_ABS, _ALU_AND_K, _JEQ_K, _RET_K = 0x20, 0x54, 0x15, 0x06
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_NR, _ARCH = 0, 4  # offsets in struct seccomp_data


def filter_program() -> list[tuple[int, int, int, int]]:
    """The classic BPF program (code, jt, jf, k): EPERM for the key syscalls, all else allowed."""
    deny_at = sum(4 + (1 if mask else 0) + len(numbers) for numbers, mask in _KEY_SYSCALLS.values()) + 1
    program: list[tuple[int, int, int, int]] = []
    for arch, (numbers, mask) in _KEY_SYSCALLS.items():
        block = [(_LD_W_ABS, 0, 0, _NR), *([(_ALU_AND_K, 0, 0, ~mask & 0xFFFFFFFF)] if mask else [])]
        first = len(program) + 2 + len(block)  # where the first comparison lands
        block += [(_JEQ_K, deny_at - (first + i) - 1, 0, n) for i, n in enumerate(numbers)]
        block.append((_RET_K, 0, 0, _RET_ALLOW))
        program += [(_LD_W_ABS, 0, 0, _ARCH), (_JEQ_K, 0, len(block), arch), *block]
    program.append((_RET_K, 0, 0, _RET_ALLOW))  # an ABI this host does not run
    assert len(program) == deny_at
    program.append((_RET_K, 0, 0, _RET_ERRNO | errno.EPERM))
    return program


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _refuse(what: str, err: int) -> None:
    print(f"gopack-sandbox: cannot {what}: {os.strerror(err)}", file=sys.stderr)
    raise SystemExit(111)


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: keyring.py COMMAND [ARG ...]")
    libc = ctypes.CDLL(None, use_errno=True)
    keyctl = _KEYCTL.get(os.uname().machine)
    if keyctl is None:
        _refuse(f"join a keyring of its own on {os.uname().machine}", errno.ENOSYS)
        return
    if libc.syscall(ctypes.c_long(keyctl), ctypes.c_long(_KEYCTL_JOIN_SESSION_KEYRING), None) < 0:
        _refuse("join a session keyring of its own", ctypes.get_errno())
    code = b"".join(struct.pack("HBBI", *instruction) for instruction in filter_program())
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        _refuse("install the seccomp filter that denies keyring syscalls", ctypes.get_errno())
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
