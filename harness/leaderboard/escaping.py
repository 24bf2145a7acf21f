"""Submitted text made inert for each medium it is shown in: one function per medium.

Names, labels and task ids come from submitters. Whatever the checks at submission let through
(or whatever was edited into a stored file later), every string shown is passed through exactly
one of these functions, chosen by where it is shown:

- :func:`terminal_text` for the terminal (tables, log lines, rejection messages);
- :func:`markdown_text` for ``README.md`` (and :func:`markdown_code` for ids shown as code);
- :func:`html_text` for ``index.html``.

All three first make the text one plain line (:func:`plain_line`): ANSI escape sequences are
removed, whitespace runs become one space, and any other control or format character (C0/C1
controls, bidi overrides, zero-width characters, lone surrogates) becomes U+FFFD, so a forged
name is visibly odd instead of invisibly active.
"""

from __future__ import annotations

import re
import unicodedata
from html import escape

REPLACEMENT = "\ufffd"
# CSI (ESC [ ... final, or the 8-bit CSI 0x9b), OSC (ESC ] ... BEL or ST) and two-byte ESC sequences
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]"
)
_WHITESPACE = re.compile(r"\s+")
# Everything markdown (GitHub flavour) may read as syntax inside a table cell or a line:
# links and images ([]()!), emphasis (*_~), code (`), HTML (<>&: entities below), table cells
# (|), headings (#), math ($) and the characters bare autolinks need (: . @).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|~:.@$])")


def plain_line(text: object) -> str:
    """``text`` as one inert line: ANSI sequences removed, whitespace collapsed, other control and
    format characters replaced by U+FFFD."""
    s = _WHITESPACE.sub(" ", _ANSI.sub("", str(text))).strip()
    return "".join(
        REPLACEMENT if unicodedata.category(c) in ("Cc", "Cf", "Cs") else c for c in s
    )


def terminal_text(text: object) -> str:
    """Text for a terminal: no escape sequence can reach it (:func:`plain_line`)."""
    return plain_line(text)


def markdown_text(text: object) -> str:
    """Text for a markdown table cell or line, shown literally: every markdown special character
    is backslash-escaped, ``& < >`` become entities, so no link, image, HTML or autolink forms."""
    s = _MARKDOWN_SPECIAL.sub(r"\\\1", plain_line(text))
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown_code(text: object) -> str:
    """Text as an inline markdown code span (for ids and versions), whatever backticks it holds."""
    s = plain_line(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def html_text(text: object) -> str:
    """Text for HTML element content or a quoted attribute value (:func:`html.escape` with quotes)."""
    return escape(plain_line(text), quote=True)
