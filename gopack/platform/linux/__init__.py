"""Linux: ELF files on glibc.

``analysis`` reads (lddtree, symbol versions, the manylinux policy), ``strip``
and ``patch`` edit, ``relocate`` vendors and rewrites RUNPATHs and sets the
floor; ``runtime`` gathers what an image's runtime base holds; ``dpkg`` says which
Debian package a vendored library came from (dpkg's database in the target's root);
``platform`` puts them behind :class:`gopack.platform.base.Platform`.

May import: :mod:`gopack.platform.target` and :mod:`gopack.platform.base`, the helpers.
"""
