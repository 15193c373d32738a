"""The archive: writing one deterministically, and reading one that may be a stranger's.

``write`` makes the tar.gz/tar.zst/zip (sorted, fixed times and owners, parallel
compression, a cached segment for the Python tree) and the manifest's file list;
``entries`` holds the rules every entry of an archive must pass, ``unpack``
reads and extracts by them with bounded cost; ``manifest`` parses a manifest
against its schema; ``contents`` is what ``gopack inspect`` reports; ``oci``
writes a bundle as an OCI image (layout and tar), ``oci_base`` reads a
user's base image for it, as a stranger's, and ``oci_push`` sends one to a
registry with skopeo; ``checksums`` keeps the output folder's SHA256SUMS;
``exe`` puts a launcher, an archive and a trailer into one executable and
finds the archive in it again.

May import: :mod:`gopack.platform` (which binary format a file is, an image's runtime base),
:mod:`gopack.errors` and the helpers; nothing that builds.
"""
