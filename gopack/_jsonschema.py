"""jsonschema, imported without the RFC 3987 parser that its import would build.

cyclonedx-python-lib's ``json-validation`` extra installs rfc3987-syntax, and
jsonschema imports it when jsonschema itself is imported, to register the
``iri`` and ``iri-reference`` format checks: rfc3987-syntax builds an Earley
parser of RFC 3987 as it is imported, 0.65 s of CPU in every gopack command
(a rebuild took 2 s, a third of it that). Only the SBOM's schema uses those
formats, and only ``gopack verify`` checks it. So jsonschema is imported with
rfc3987-syntax out of sight, and the same two checks are registered on the
draft 7, 2019-09 and 2020-12 format checkers, importing rfc3987-syntax the
first time one runs: what jsonschema checks is unchanged, only when its cost
is paid. :mod:`gopack` imports this module first, before anything imports
jsonschema.

The other optional libraries jsonschema imports for its format checks
(isoduration with arrow, webcolors, fqdn, idna, jsonpointer, uri_template,
rfc3986_validator: some 50 ms of every command) check formats that no schema
gopack validates uses: its own use none, CycloneDX 1.6 uses ``date-time``
(rfc3339_validator, which stays), ``idn-email`` and ``iri-reference``. They are
kept out of sight the same way, and their formats are not registered;
tests/test_sbom.py checks that every format those schemas use still is.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys

#: What jsonschema would check with rfc3987-syntax: format -> its grammar rule.
_IRI_FORMATS = {"iri": "iri", "iri-reference": "iri_reference"}
#: Optional libraries of jsonschema's format checks for formats no schema gopack validates uses.
_UNUSED = ("isoduration", "webcolors", "fqdn", "idna", "jsonpointer", "uri_template", "rfc3986_validator")


def _iri(rule: str, instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    return bool(importlib.import_module("rfc3987_syntax").is_valid_syntax(rule, instance))


def _import_quickly() -> None:
    """Import jsonschema without the format libraries no validated schema needs, registering the IRI
    checks lazily where it would have built their parser."""
    lazy = (
        "jsonschema" not in sys.modules
        and "rfc3987_syntax" not in sys.modules
        and importlib.util.find_spec("rfc3987_syntax") is not None
        and importlib.util.find_spec("rfc3987") is None  # with rfc3987 installed, jsonschema uses that one
    )
    if not lazy:
        return
    hidden = ["rfc3987_syntax", *(name for name in _UNUSED if name not in sys.modules)]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # None in sys.modules: its import raises ImportError
    try:
        import jsonschema
    finally:
        for name in hidden:
            del sys.modules[name]
    for validator in (jsonschema.Draft7Validator, jsonschema.Draft201909Validator, jsonschema.Draft202012Validator):
        for name, rule in _IRI_FORMATS.items():
            validator.FORMAT_CHECKER.checks(name, raises=ValueError)(functools.partial(_iri, rule))


_import_quickly()
