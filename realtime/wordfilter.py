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

from shared import text as text_rules
from shared.errors import InvalidInput


def clean_text(raw: str, *, max_chars: int) -> str:
    """The platform's one text rule (`shared.text`): NFC, control and bidi characters removed,
    line breaks and tabs made spaces, trimmed; 1..max characters, and not invisible only."""
    try:
        return text_rules.clean_text(raw, max_chars=max_chars)
    except text_rules.TextRejected as exc:
        raise InvalidInput(str(exc)) from None


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
