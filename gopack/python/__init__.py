"""The Python side of a bundle: the interpreter and the relocatable tree made from it.

``interpreters`` finds and probes a CPython (run as the target runs it); ``home``
reads one from a tree (a folder or an archive) without running it;
``env`` installs the requirements into a prefix with uv (``conda`` and
``_rattler`` for conda environments); ``tree`` makes the cached, pruned,
stripped, relocated and compiled ``python/`` tree (``prune``, ``imports``,
``sources``, ``bytecode``, ``headers`` are its steps); with ``prune.imports``,
``import_index`` reads what each module may import while the sources are there,
and ``reach`` and ``program_imports`` leave out what the program cannot import.

May import: :mod:`gopack.archive`, :mod:`gopack.platform` (through its
:class:`~gopack.platform.base.Platform` for the native files), :mod:`gopack.recipe`,
:mod:`gopack.cache` and the helpers below them; never the Go side or the plan.
"""
