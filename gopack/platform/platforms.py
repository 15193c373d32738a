"""The platforms gopack builds for, by name, and which one a target or an archive is for."""

from __future__ import annotations

from gopack.platform.base import Platform
from gopack.platform.linux.platform import LINUX
from gopack.platform.macos.platform import MACOS
from gopack.platform.target import Target

PLATFORMS: dict[str, Platform] = {LINUX.name: LINUX, MACOS.name: MACOS}


def of(target: Target) -> Platform:
    """The platform ``target`` builds for."""
    return PLATFORMS[target.system]


def of_tag(tag: str) -> Platform | None:
    """The platform of an archive, from the tag its manifest carries (``manylinux_2_34_x86_64``,
    ``linux_x86_64``); None for a tag no platform claims."""
    return next((p for p in PLATFORMS.values() if tag.startswith(p.tag_prefixes)), None)


def machine_of(head: bytes) -> str | None:
    """The machine a file's first bytes name, in whichever platform's binary format it is."""
    return next((m for p in PLATFORMS.values() if (m := p.machine_of(head)) is not None), None)
