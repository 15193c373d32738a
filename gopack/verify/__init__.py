"""``gopack verify``: the static checks of an archive and the confined smoke runs.

``checks`` extracts the archive (through :mod:`gopack.archive.unpack`), checks
every file against the manifest, the SBOM against the manifest (:mod:`gopack.sbom`)
and the platform's linkage, then runs the smoke
test in three places; ``sandbox`` makes those places (namespaces, a glibc-only
root, limits) and runs a program confined in them.

May import: :mod:`gopack.sbom` (reading one), :mod:`gopack.archive`, :mod:`gopack.platform` and the
helpers; nothing that builds.
"""
