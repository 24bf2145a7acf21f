"""Read the items of a large JSON list one at a time, in bounded memory.

WebShop's product file is one JSON list (780 MiB for 1M generated products). ``json.load``
holds the whole text (2 bytes a character once any non-ASCII character occurs) and every decoded
product at once. This reader decodes the file in chunks with the standard library's own decoder,
so each item is exactly what ``json.load`` would give, and the caller can turn it into its final
form and drop it before the next one is read.

It is an optimisation only: on anything but a well-formed list (or text that is not UTF-8) it
raises :class:`NotAJsonList` and the caller decodes the file whole, for the json module's exact
error message. The file is read as bytes and decoded here, without a text file's newline
translation: that only turns ``\r\n`` between tokens into ``\n`` (inside strings, raw line
breaks are invalid JSON either way), so the decoded items are the same.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

CHUNK_BYTES = 1 << 24  # bytes read and decoded at a time
LOOKAHEAD_CHARS = 1 << 20  # text kept ahead of the decoder, so items are rarely cut by a chunk end
_SPACE = re.compile(r"[ \t\n\r]*")  # what the json module skips between tokens
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")  # characters that could still continue a number


class NotAJsonList(Exception):
    """The text is not a well-formed JSON list (or the chunked reader could not tell)."""


class _Buffer:
    """The text read so far, minus what has been consumed."""

    def __init__(self, f: BinaryIO):
        self.f = f
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.text = ""
        self.pos = 0
        self.eof = False

    def more(self, rest: bool = False) -> bool:
        """Append the next chunk (or the rest of the file); False when the file was already exhausted."""
        if self.eof:
            return False
        data = self.f.read() if rest else self.f.read(CHUNK_BYTES)
        if rest or not data:
            self.eof = True
        try:
            chunk = self.decoder.decode(data, final=self.eof)
        except UnicodeDecodeError:
            raise NotAJsonList from None
        self.text = self.text[self.pos :] + chunk
        self.pos = 0
        return True

    def next_char(self) -> str:
        """Skip whitespace; the next character, or "" at the end of the file."""
        while True:
            self.pos = _SPACE.match(self.text, self.pos).end()
            if self.pos < len(self.text) or not self.more():
                return self.text[self.pos : self.pos + 1]


def iter_json_list(f: BinaryIO) -> Iterator[Any]:
    """Yield the items of the JSON list in UTF-8 file ``f`` (opened in binary mode), each as ``json.load`` would decode it.

    Raises :class:`NotAJsonList`, possibly after yielding some items, when the file is not a
    well-formed JSON list.
    """
    decode = json.JSONDecoder().raw_decode
    buf = _Buffer(f)
    if buf.next_char() != "[":
        raise NotAJsonList
    buf.pos += 1
    if buf.next_char() == "]":
        buf.pos += 1
    else:
        while True:
            yield _item(buf, decode)
            sep = buf.next_char()
            if sep == "]":
                buf.pos += 1
                break
            if sep != ",":
                raise NotAJsonList
            buf.pos += 1
            buf.next_char()
    if buf.next_char() != "":
        raise NotAJsonList


def _item(buf: _Buffer, decode: Callable[[str, int], tuple[Any, int]]) -> Any:
    """Decode one value at the buffer's position, reading more text while it may be cut off."""
    if not buf.eof and len(buf.text) - buf.pos < LOOKAHEAD_CHARS:
        buf.more()
    extended = 0
    while True:
        try:
            value, end = decode(buf.text, buf.pos)
            # Objects, arrays and strings end with their own delimiter, but a number read up to
            # the end of the text so far ("1." of "1.5") may continue in the next chunk.
            maybe_cut = type(value) in (int, float) and _NUMBER_TAIL.match(buf.text, end).end() == len(buf.text)
            if buf.eof or not maybe_cut:
                buf.pos = end
                return value
        except json.JSONDecodeError:
            if buf.eof:
                raise NotAJsonList from None
        # Cut off by the chunk boundary: read one more chunk, then (a value longer than a chunk,
        # or a real error) the whole rest of the file, then give up.
        buf.more(rest=extended > 0)
        extended += 1
