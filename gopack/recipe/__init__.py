"""The recipe: what a user writes, read and checked before anything else runs.

``model`` loads ``recipe.yaml`` against ``schemas/recipe.schema.json`` into frozen
values, with file:line:field errors; ``limits`` holds the checks a schema cannot
say (paths inside ``inputs_root``, prune rules that would remove what every
bundle needs); ``placeholders`` the ``{python.include}``-style values of go
keys; ``prune_rules`` the pruning language (globs, gopack's defaults).

May import: :mod:`gopack.errors` only. Everything else reads the recipe.
"""
