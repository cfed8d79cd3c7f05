"""Walk a huge JSON object member by member without holding it in memory.

AWS's per-region EC2 offer files run to hundreds of MB each (products + every term of every
SKU); `json.load` would need several times that in RAM. This reader keeps a sliding text buffer,
walks the outer objects itself, and hands each small member value (one product, one SKU's terms)
to the C JSON decoder. No dependency beyond the standard library.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from typing import IO, Any

from . import RefreshError

CHUNK = 1 << 20
# One member value larger than this is not a product or a term: the input is not an offer file.
MAX_VALUE = 64 << 20
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class JsonStream:
    """A cursor over a JSON document read from a byte stream in chunks."""

    def __init__(self, stream: IO[bytes], name: str, on_bytes: Callable[[int], None] | None = None) -> None:
        self._stream = stream
        self._name = name
        self._on_bytes = on_bytes
        self._text = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""
        self._pos = 0
        self._eof = False

    def _fill(self) -> bool:
        """Append the next chunk (dropping what was consumed); False at the end of the stream."""
        if self._eof:
            return False
        data = self._stream.read(CHUNK)
        if self._on_bytes is not None and data:
            self._on_bytes(len(data))
        self._eof = not data
        self._buf = self._buf[self._pos :] + self._text.decode(data, final=self._eof)
        self._pos = 0
        return True

    def _fail(self, what: str) -> RefreshError:
        return RefreshError(
            f"{self._name}: not the JSON we expected ({what})",
            "check that the URL or file is the provider's documented format, and re-download it if it was cut short.",
        )

    def peek(self) -> str:
        """The next non-blank character, without consuming it."""
        while True:
            self._pos = _WS.match(self._buf, self._pos).end()  # type: ignore[union-attr]  # always matches
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                raise self._fail("it ends early")

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self._fail(f"expected {char!r} at {self._buf[self._pos : self._pos + 20]!r}")
        self._pos += 1

    def value(self) -> Any:
        """Decode the next whole value (a member that fits in memory)."""
        self.peek()
        while True:
            try:
                obj, end = _DECODER.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if len(self._buf) - self._pos > MAX_VALUE or not self._fill():
                    raise self._fail(exc.msg) from None
                continue
            if end == len(self._buf) and self._fill():  # a number may continue in the next chunk
                continue
            self._pos = end
            return obj

    def members(self) -> Iterator[str]:
        """Yield the keys of the object at the cursor; the caller consumes each value before the next key."""
        self.expect("{")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise self._fail("an object key that is not a string")
            self.expect(":")
            yield key
            char = self.peek()
            self._pos += 1
            if char == "}":
                return
            if char != ",":
                raise self._fail(f"expected ',' or '}}' after member {key!r}")

    def skip(self) -> None:
        """Consume the next value; an object is walked member by member so no member need fit whole."""
        if self.peek() == "{":
            for _ in self.members():
                self.value()
        else:
            self.value()
