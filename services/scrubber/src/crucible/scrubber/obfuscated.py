"""Contact details written so that scrapers miss them: "john dot smith at gmail dot com",
"jsmith [at] yahoo [dot] com", "anna.k(at)proton.me", and handles named by their platform without
an "@" ("insta: jenny.k89", "my snap is jkl_22").

People write an address this way precisely because it identifies them, so it is as personal as
the plain form, but the email pattern (`structured.py`) needs the "@". Here:

- an email is a local part, "at" and a domain ending in a known top-level domain, where "at" and
  "dot" may be spelled out, bracketed ("[at]", "(dot)") or spaced ("john @ gmail . com"). A plain
  " at " is read as "@" only when the rest could not be a sentence: the local part holds a dot, a
  digit or an underscore, or the domain is a mail provider ("look at google dot com" stays).
- a handle is the word after a platform's name (Instagram / IG, Snapchat, Discord: the gate below
  says why only these) and a colon or "is" ("insta: jenny.k89", "my snap
  is jkl_22", "discord - wolfie#2231"), when it holds a digit, a dot or an underscore, or is not an
  English word ("my insta is jennykowalska"; "my insta is private" stays).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from crucible.scrubber.lexicon import COMMON_ZIPF, Lexicon
from crucible.scrubber.spans import Span

_LABEL = r"[A-Za-z0-9][A-Za-z0-9_+-]*"
_AT = r"(?:\s*(?:\[at\]|\(at\)|\{at\}|<at>)\s*|\s+@\s*|\s*@\s+|\s+at\s+)"
_DOT = r"(?:\s*(?:\[dot\]|\(dot\)|\{dot\}|<dot>)\s*|\s+dot\s+|\s+\.\s+|\.)"
# Generic top-level domains people write in chat, and any two-letter country code.
_TLDS = r"(?:com|net|org|edu|gov|mil|info|biz|io|me|co|app|dev|email|mail|online|xyz|[a-z]{2})"
OBFUSCATED_EMAIL = re.compile(
    rf"(?<![\w.@-])(?P<local>{_LABEL}(?:{_DOT}{_LABEL})*)(?P<at>{_AT})(?P<domain>{_LABEL}(?:{_DOT}{_LABEL})*)"
    rf"{_DOT}(?P<tld>{_TLDS})(?![\w@-])",
    re.IGNORECASE,
)
# Mail providers: after one of these a plain " at " is an "@" ("anna at gmail dot com").
_MAIL_PROVIDERS_TEXT = (
    "gmail googlemail yahoo ymail hotmail outlook live msn icloud me mac aol proton protonmail pm gmx "
    "web mail yandex zoho fastmail hey tutanota tuta mailbox posteo orange free laposte libero virgilio "
    "seznam wp onet interia o2 t-online btinternet sky comcast verizon att"
)
MAIL_PROVIDERS = frozenset(_MAIL_PROVIDERS_TEXT.split())
_SPELLED = re.compile(r"[\[({<]\s*(?:at|dot)\s*[\])}>]|\s@|@\s|\sdot\s|\s\.\s", re.IGNORECASE)

_PLATFORMS = r"insta(?:gram)?|ig|snap(?:chat)?|discord"
PLATFORM_HANDLE = re.compile(
    rf"\b(?:{_PLATFORMS})(?:\s+(?:handle|username|user ?name|name|id|account|acct|tag))?"
    r"\s*(?::|-|=|\bis\b)\s*@?(?P<handle>[A-Za-z0-9_][A-Za-z0-9_.#$-]{2,29})",
    re.IGNORECASE,
)
# Substrings without which neither pattern can match, tested with `in` (about 100 ns each on a
# short message; ten of them cost about 0.6 % of detection, where a case-blind scan with the
# patterns cost 9 us a text and an Aho-Corasick pass over thirty platform names 1.9 us, 2-4 %).
# So only the platforms people name most are read: Instagram / IG, Snapchat, Discord.
_EMAIL_KEYS = ("dot", "DOT", "at]", "at)", " @")
_PLATFORM_KEYS = ("nsta", "nap", "ig:", "IG", "iscord")


def find_obfuscated(text: str, lex: Lexicon) -> list[Span]:
    """EMAIL_ADDRESS and SOCIAL_HANDLE spans written without their usual shape."""
    out: list[Span] = []
    if any(map(text.__contains__, _EMAIL_KEYS)):
        out.extend(_emails(text))
    if any(map(text.__contains__, _PLATFORM_KEYS)):
        out.extend(_handles(text, lex))
    return out


def _emails(text: str) -> Iterator[Span]:
    for m in OBFUSCATED_EMAIL.finditer(text):
        value = m.group()
        if "@" in value and _SPELLED.search(value) is None:
            continue  # a plain email: structured.py has it
        if m.group("at").strip().lower() == "at":
            local, domain = m.group("local"), m.group("domain").lower()
            first_label = re.split(r"\s|\.|\[|\(|\{|<", domain, maxsplit=1)[0]
            if not (re.search(r"[\d._]|\bdot\b", local, re.IGNORECASE) or first_label in MAIL_PROVIDERS):
                continue
        yield Span(m.start(), m.end(), "EMAIL_ADDRESS")


def _handles(text: str, lex: Lexicon) -> Iterator[Span]:
    for m in PLATFORM_HANDLE.finditer(text):
        handle = m.group("handle").rstrip(".-")
        if not handle:
            continue
        marked = any(c.isdigit() or c in "._#$" for c in handle)
        if marked or (handle.isalpha() and lex.frequency(handle.lower()) < COMMON_ZIPF):
            start = m.start("handle")
            if text[start - 1 : start] == "@":
                start -= 1
            yield Span(start, m.start("handle") + len(handle), "SOCIAL_HANDLE")
