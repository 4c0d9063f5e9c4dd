"""Text hygiene for everything a user types that other users see: one rule, API and gateway alike.

Why: display names, product names and stream titles are shown to every viewer of a room (pinned
products, order notices, chat authors). A bidi override (U+202E) makes text render in a
misleading order, NUL and CR/LF break logs, CSV exports and single-line layouts, and a name made
only of zero-width characters looks like no name at all. So every such text goes through
`clean_text`:

1. NFC normalisation, so the same visible text is stored as the same code points;
2. line breaks and tabs become a space (or, in multi-line texts, `\\n` is kept and CR/LF folds
   to `\\n`);
3. other control characters (Unicode `Cc`), surrogates, private-use and unassigned code points,
   and the bidirectional embedding/override/isolate controls are removed;
   one-line names and titles are `strict`: steps 2-3 refuse the text (422) instead;
4. leading and trailing whitespace is trimmed;
5. a text that is then empty, or made only of invisible characters (spaces, zero-width and other
   format characters, lone combining marks, fillers such as U+3164), is refused.

Removing (descriptions, chat) keeps a pasted text with a stray control character usable;
refusing (names and titles) tells the client exactly what was wrong with a short field; step 5
refuses in both, as nothing visible is left. Format characters inside visible text are kept:
emoji ZWJ sequences and Thai/Indic shaping need them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

# Explicit bidi embeddings, overrides and isolates (LRE RLE PDF LRO RLO LRI RLI FSI PDI) and the
# marks that reorder text without being visible (ALM, LRM, RLM are kept out too).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")
_LINE_BREAKS = frozenset("\r\n\v\f\x85\u2028\u2029")
# Code points that render as nothing although Unicode does not class them as format or space.
_BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u034f")
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn"})
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cf", "Mn", "Me", "Cc"})


class TextRejected(ValueError):
    """The text has nothing visible left (or is too long after cleaning): a client error."""


def is_invisible(ch: str) -> bool:
    """True for a character that shows nothing on its own."""
    return (
        ch in _BLANK_GLYPHS
        or ch.isspace()
        or unicodedata.category(ch) in _INVISIBLE_CATEGORIES
    )


def clean_text(
    raw: str, *, max_chars: int | None = None, multiline: bool = False, strict: bool = False
) -> str:
    """The cleaned text (see the module docstring), or `TextRejected` when none is left.

    `strict` refuses instead of removing (steps 2-3): one-line names and titles, where a control
    character can only be a mistake or an attack, and the client should hear which."""
    if raw.isascii() and raw.isprintable():
        return _clean_printable_ascii(raw, max_chars=max_chars)
    return _clean_unicode(raw, max_chars=max_chars, multiline=multiline, strict=strict)


def _clean_printable_ascii(raw: str, *, max_chars: int | None) -> str:
    """`clean_text` of printable ASCII, the most common text (names, addresses, chat): it is
    already NFC and holds no line break, tab, control or bidi character, and every character
    but the space is visible, so steps 1-3 change nothing whatever the mode and step 5 reduces
    to "not only spaces". The same answers as `_clean_unicode` (tests/shared/test_text.py
    holds them equal) at a fraction of its per-character work: every order's address, and
    every chat line, passes here."""
    cleaned = raw.strip()
    if not cleaned:
        raise TextRejected("text must contain visible characters")
    if max_chars is not None and len(cleaned) > max_chars:
        raise TextRejected(f"text is longer than {max_chars} characters")
    return cleaned


def _clean_unicode(
    raw: str, *, max_chars: int | None, multiline: bool, strict: bool
) -> str:
    text = unicodedata.normalize("NFC", raw)
    if multiline:
        text = text.replace("\r\n", "\n")
    out: list[str] = []
    for ch in text:
        if ch == "\n" and multiline:
            out.append(ch)
        elif ch in _LINE_BREAKS or ch == "\t":
            if strict:
                raise TextRejected("line breaks and tabs are not allowed here")
            out.append(" ")
        elif ch in BIDI_CONTROLS or unicodedata.category(ch) in _DROPPED_CATEGORIES:
            if strict:
                raise TextRejected(
                    "control, bidirectional-override and unassigned characters are not allowed"
                )
        else:
            out.append(ch)
    cleaned = "".join(out).strip()
    if not cleaned or all(is_invisible(ch) for ch in cleaned):
        raise TextRejected("text must contain visible characters")
    if max_chars is not None and len(cleaned) > max_chars:
        raise TextRejected(f"text is longer than {max_chars} characters")
    return cleaned


def line_validator(max_chars: int) -> Callable[[str], str]:
    """A pydantic `AfterValidator` callable for a one-line name or title (strict: refuses)."""

    def validate(value: str) -> str:
        return clean_text(value, max_chars=max_chars, strict=True)

    return validate


def block_validator(max_chars: int, *, allow_empty: bool = False) -> Callable[[str], str]:
    """A pydantic `AfterValidator` callable for a multi-line text (descriptions)."""

    def validate(value: str) -> str:
        if allow_empty and not value.strip():
            return ""
        return clean_text(value, max_chars=max_chars, multiline=True)

    return validate
