"""Text taken from file names, made safe to show a person. Pure.

A file name may hold anything but ``/`` and NUL: line breaks, terminal escape
sequences, or a right-to-left override (U+202E) that makes ``gpj.exe`` look like
``exe.jpg``. :func:`printable` is the one place that makes such a name harmless
for error files, the status page, logs and notifications.
"""

from __future__ import annotations

import re

__all__ = ["BIDI_CONTROLS", "printable"]

# Characters that reorder text around them (Unicode bidi embeddings, overrides,
# isolates and marks). Zero-width joiners stay: scripts and emoji need them.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# C0 controls, DEL, C1 controls, line/paragraph separators, bidi controls, and the
# lone surrogates that stand for undecodable bytes in names from os.listdir.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
                     + "".join(sorted(BIDI_CONTROLS)) + "]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(name: str) -> str:
    """``name`` with control characters escaped: ``\\x1b``, ``\\x85``, ``\\u202e``.

    Escaped: C0 controls (tab and line breaks included), DEL, C1 controls, U+2028/
    U+2029, bidirectional controls (:data:`BIDI_CONTROLS`) and lone surrogates (an
    undecodable byte ``\\xff`` read with ``surrogateescape`` shows as ``\\xff``).
    Everything else, accents, CJK, emoji and backslashes included, is left as is.
    """
    return _UNSAFE.sub(_escape, name)
