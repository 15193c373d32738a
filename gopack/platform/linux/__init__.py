"""Linux: ELF files on glibc.

``analysis`` reads (lddtree, symbol versions, the manylinux policy), ``strip``
and ``patch`` edit, ``relocate`` vendors and rewrites RUNPATHs and sets the
floor; ``platform`` puts them behind :class:`gopack.platform.base.Platform`.

May import: :mod:`gopack.platform.target` and :mod:`gopack.platform.base`, the helpers.
"""
