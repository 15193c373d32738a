"""Where a bundle runs: the target, and what differs per platform behind one interface.

``target`` is the frozen value every stage reads to look for files or run
programs (machine, root, glibc floor, emulator); ``base`` is the
:class:`~gopack.platform.base.Platform` protocol the stages call to analyse,
strip, relocate and tag native files and to check them in ``verify``;
``platforms`` picks the implementation by the target's ``system`` (or an
archive's tag); ``linux/`` is the ELF/glibc one (auditwheel's lddtree and
policy, patchelf, strip); ``emulation`` runs another machine's programs under
qemu-user. A second platform (``macos/``) is a folder beside ``linux/``.

May import: :mod:`gopack.errors` and the helpers below it; nothing of Python or Go.
"""
