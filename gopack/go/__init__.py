"""The Go side of a bundle: the toolchain, the binding, and the program built against the tree.

``toolchain`` finds ``go`` and lists the program's packages (``go list -deps``);
``bindings`` recognises the cgo binding (DataDog/go-python3, cpy3, ...) and the
Pythons it compiles against; ``includes`` reads what the cgo code includes and
links; ``headers`` matches those includes to the headers the tree kept;
``cgoflags`` resolves the recipe's go values into the build's flags; ``build``
runs ``go build`` with the home-finding file added (``darwin``: what a macOS link
needs from zig: the SDK's stubs, the rpath, each library once); ``buildinfo`` reads back which
modules the binary holds (for the SBOM); ``errors`` shortens Go's; ``launcher``
builds the one-file executable's launcher (``gopack/launcher``, static Go).

May import: :mod:`gopack.python` (the interpreter, the tree), :mod:`gopack.platform`,
:mod:`gopack.recipe` and the helpers below them; never the plan (the build reads
it through :class:`~gopack.go.toolchain.BuildPlan`) or the pipeline.
"""
