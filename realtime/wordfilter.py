"""Chat text: normalisation and banned-word masking.

Decision: a message with a banned word is delivered with the word masked (`*`), not refused.
Refusing tells the sender exactly which spelling got through next time and stalls a fast chat;
masking keeps the conversation flowing and hides the word from everyone else.

Matching runs on a *skeleton* of the text that defeats the usual evasions:
NFKC (full-width letters and other compatibility forms fold to ASCII), casefold, separators
dropped (spaces, punctuation, symbols, emoji and invisible format characters: `f.u-c k`),
repeated characters collapsed (`fuuuck`). Banned words get the same treatment. Each skeleton
character remembers the span of the original text it came from, so the mask covers exactly the
original characters (separators inside a match included). Matching is by substring, as Chinese
and Thai have no word boundaries to anchor on; a banned word should therefore not be a common
part of innocent words, and because repeats collapse, `butt` also matches `but`.
"""

from __future__ import annotations

import re
import unicodedata

from shared.errors import InvalidInput

# Bidirectional overrides and isolates can make text render in misleading order.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_WHITESPACE_CONTROLS = frozenset("\t\n\r\v\f\x85")


def clean_text(raw: str, *, max_chars: int) -> str:
    """NFC, control characters stripped (line breaks and tabs become spaces), trimmed, 1..max."""
    text = unicodedata.normalize("NFC", raw)
    chars: list[str] = []
    for ch in text:
        if ch in _WHITESPACE_CONTROLS:
            chars.append(" ")
        elif unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS:
            continue
        else:
            chars.append(ch)
    cleaned = "".join(chars).strip()
    if not cleaned:
        raise InvalidInput("text is empty")
    if len(cleaned) > max_chars:
        raise InvalidInput(f"text is longer than {max_chars} characters")
    return cleaned


def _is_separator(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "ZPSC"


def skeleton(text: str) -> tuple[str, list[int], list[int]]:
    """Folded text plus, per folded character, the first and last original index it covers."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, original in enumerate(text):
        for ch in unicodedata.normalize("NFKC", original).casefold():
            if _is_separator(ch):
                continue
            if out and out[-1] == ch:
                ends[-1] = i
                continue
            out.append(ch)
            starts.append(i)
            ends.append(i)
    return "".join(out), starts, ends


class WordFilter:
    def __init__(self, words: list[str]) -> None:
        folded = {skeleton(w)[0] for w in words}
        folded.discard("")
        # Longest first, so an alternation prefers the longer of two overlapping words.
        alternatives = sorted(folded, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def mask(self, text: str) -> str:
        if self._pattern is None:
            return text
        folded, starts, ends = skeleton(text)
        hits = [(starts[m.start()], ends[m.end() - 1]) for m in self._pattern.finditer(folded)]
        if not hits:
            return text
        chars = list(text)
        for first, last in hits:
            for j in range(first, last + 1):
                if not chars[j].isspace():
                    chars[j] = "*"
        return "".join(chars)
