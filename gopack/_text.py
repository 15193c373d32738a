"""Text from an archive, made safe to show on a terminal.

A manifest's strings, an entry's name and a smoke program's output are a
stranger's bytes (STYLE.md 19): shown raw, an escape sequence can set a
window title, write the clipboard (OSC 52), move the cursor over an earlier
line or forge an ``ok`` line, and a bidi override can make a name read other
than it is. :func:`shown` is the one function that turns such text into what
gopack prints; the CLI applies it to everything it writes to the terminal.
"""

from __future__ import annotations

#: Characters that change how a terminal or a reader takes the text: C0 controls, DEL,
#: C1 controls, the bidi embeddings, overrides, isolates and marks, and the Unicode line
#: and paragraph separators.
_CONTROLS = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F, 0x2028, 0x2029]
_CONTROLS += [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_TABLE: dict[int, str] = {code: _escape(code) for code in _CONTROLS}
# Bytes that were not UTF-8, as ``surrogateescape`` decoded them, shown as the bytes they were;
# any other lone surrogate by its code point.
_TABLE.update({code: f"\\x{code - 0xDC00:02x}" for code in range(0xDC80, 0xDD00)})
_TABLE.update({code: _escape(code) for code in range(0xD800, 0xE000) if code not in _TABLE})
_OUTPUT_TABLE = {code: text for code, text in _TABLE.items() if code not in (0x09, 0x0A)}


def shown(text: str, *, output: bool = False) -> str:
    r"""``text`` with every control character escaped as ``\xNN`` or ``\uNNNN``; with
    ``output`` (a program's output), line breaks and tabs stay as they are.

    >>> shown("a\x1b]52;c;cHduZWQ=\x07b\r\nok")
    'a\\x1b]52;c;cHduZWQ=\\x07b\\x0d\\x0aok'
    >>> shown("line\tone\nline two\r", output=True)
    'line\tone\nline two\\x0d'
    >>> shown("evil\u202egpj.exe"), shown("caf\udcc3")
    ('evil\\u202egpj.exe', 'caf\\xc3')
    """
    return text.translate(_OUTPUT_TABLE if output else _TABLE)
