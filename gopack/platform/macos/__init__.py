"""macOS: Mach-O files, dyld's search, ad-hoc code signatures, the minimum macOS (``macosx_`` tags).

Built from Linux, read and written by Python code (nothing of the target runs here):
:mod:`.macho` reads Mach-O bounded, :mod:`.signature` signs and checks ad hoc,
:mod:`.edit` rewrites load commands and thins fat files, :mod:`.symbols` reads what
an image binds and a library exports, :mod:`.relocate` does
delocate's job over a tree, :mod:`.linkage` is verify's static "would dyld load this",
:mod:`.platform` puts them behind :class:`gopack.platform.base.Platform`.

May import: :mod:`gopack.platform.target` and :mod:`gopack.platform.base`, the helpers, and
:mod:`gopack.platform.linux.linkage`'s ``resolve`` and ``text`` (a stranger's bundle's paths
resolved inside it and its names made printable, by the same rules on both platforms).
"""
