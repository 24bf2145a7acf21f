"""Reading files a submitter controls: capped, streamed, strictly parsed, never trusted.

Every file of a submission (and every stored entry, which anyone with write access to the folder
can edit) is read through :func:`read_json_file` or :func:`read_jsonl_file`:

- only a regular file is opened, never a symbolic link, FIFO or device (``lstat`` first, then
  ``O_NOFOLLOW`` and an ``fstat`` of what was actually opened);
- its size is capped (the ``MAX_*_BYTES`` limits below) and it is read in bounded pieces (JSONL
  line by line), so a huge or endless file costs at most the cap;
- JSON is parsed strictly: ``NaN``/``Infinity`` and numbers that overflow to infinity are
  refused (a NaN compares unequal to everything, so one slipped past every ``abs(a - b) > tol``
  check), as are integers of more than :data:`MAX_INT_DIGITS` digits, duplicate keys (two
  readers could disagree on which value counts), nesting deeper than :data:`MAX_DEPTH` and
  strings that are not valid Unicode (lone surrogates).

Problems raise :class:`UntrustedInputError` (a ``ValueError``) with a sentence for people; the
caller wraps it into its own rejection. Row-by-row schema checks live in
:mod:`harness.leaderboard.untrusted_rows`.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

MiB = 1 << 20
MAX_RESULTS_BYTES = 8 * MiB
"""``results.json`` (and recipe manifests): metrics, per-task rewards and provenance."""
MAX_TRAJECTORIES_BYTES = 256 * MiB
"""``trajectories.jsonl``: the leaderboard's largest evaluation (500 WebShop episodes) is ~1.3 MB."""
MAX_LINE_BYTES = 16 * MiB
"""One trajectory (one JSONL line)."""
MAX_ENTRY_BYTES = MAX_TRAJECTORIES_BYTES + MAX_RESULTS_BYTES + MiB
"""A stored entry: a result, its trajectories and the submission record."""
MAX_SCORE_BYTES = 16 * MiB
"""A stored action-efficiency score."""
MAX_DEPTH = 32
"""JSON nesting: an entry is ~8 levels deep; deeper input is refused before it can exhaust a recursion."""
MAX_INT_DIGITS = 30
MAX_LINE_PROBLEMS = 20
"""Stop listing bad lines after this many: the submitter has enough to go on."""


class UntrustedInputError(ValueError):
    """A file or value that cannot be accepted; the message says what and how to fix it."""


def open_regular_file(path: Path, limit: int) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file (not a link) of at most ``limit`` bytes."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise UntrustedInputError(f"{path} does not exist") from None
    except OSError as e:
        raise UntrustedInputError(f"{path} cannot be read ({e.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise UntrustedInputError(
            f"{path} is a symbolic link; copy the file itself into the folder"
        )
    if not stat.S_ISREG(st.st_mode):
        raise UntrustedInputError(
            f"{path} is not a regular file (a FIFO, device or folder); submit plain files"
        )
    if st.st_size > limit:
        raise UntrustedInputError(
            f"{path} is {st.st_size:,} bytes, over the limit of {limit:,}; submit the evaluator's own output"
        )
    # O_NOFOLLOW/O_NONBLOCK: a file swapped for a link or FIFO after the lstat is refused, not followed or waited on
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise UntrustedInputError(
            f"{path} cannot be opened ({e.strerror}); submit a plain file"
        ) from None
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (
        st.st_dev,
        st.st_ino,
    ):
        os.close(fd)
        raise UntrustedInputError(
            f"{path} changed while it was opened; submit a folder nothing else is writing to"
        )
    return os.fdopen(fd, "rb")


def _refuse_constant(name: str) -> float:
    raise UntrustedInputError(
        f"{name} is not a number this leaderboard accepts (only finite numbers)"
    )


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UntrustedInputError(f"{text} overflows to infinity (only finite numbers)")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise UntrustedInputError(
            f"an integer of {len(text)} digits (at most {MAX_INT_DIGITS})"
        )
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise UntrustedInputError(f"the key {dup!r} appears twice in one object")
    return obj


def check_shape(value: Any, where: str) -> None:
    """Raise when ``value`` nests deeper than :data:`MAX_DEPTH` or holds a string that is not valid
    Unicode. Iterative, so it cannot itself run out of stack."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise UntrustedInputError(
                    f"{where} holds a string that is not valid Unicode (a lone surrogate)"
                ) from None
        elif isinstance(v, dict | list):
            if depth > MAX_DEPTH:
                raise UntrustedInputError(
                    f"{where} nests deeper than {MAX_DEPTH} levels"
                )
            items = [*v.keys(), *v.values()] if isinstance(v, dict) else v
            stack.extend((x, depth + 1) for x in items)


def loads_strict(text: str | bytes, where: str) -> Any:
    """Parse one JSON document under the rules of this module; raise :class:`UntrustedInputError`."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int,
                           object_pairs_hook=_unique_keys)  # fmt: skip
    except UntrustedInputError as e:
        raise UntrustedInputError(f"{where}: {e}") from None
    except UnicodeDecodeError:
        raise UntrustedInputError(f"{where} is not UTF-8 text") from None
    except RecursionError:  # the C parser's depth guard: nesting far beyond MAX_DEPTH
        raise UntrustedInputError(
            f"{where} nests deeper than {MAX_DEPTH} levels"
        ) from None
    except ValueError as e:  # json.JSONDecodeError and int-conversion limits
        raise UntrustedInputError(f"{where} is not valid JSON ({e})") from None
    check_shape(value, where)
    return value


def read_json_file(path: Path, limit: int | None = None) -> Any:
    """The JSON document in ``path`` (a regular file of at most ``limit`` bytes, default
    :data:`MAX_RESULTS_BYTES`), strictly parsed."""
    limit = MAX_RESULTS_BYTES if limit is None else limit
    with open_regular_file(path, limit) as f:
        # never more than the cap, even if the file grew after the lstat
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UntrustedInputError(f"{path} is over the limit of {limit:,} bytes")
    return loads_strict(data, str(path))


def read_jsonl_file(
    path: Path, limit: int | None = None, line_limit: int | None = None
) -> tuple[list[Any], list[str]]:
    """The values of the non-blank lines of JSONL file ``path``, read line by line; and a problem
    per bad line (at most :data:`MAX_LINE_PROBLEMS`). Raises when the file (default cap
    :data:`MAX_TRAJECTORIES_BYTES`) or a line (:data:`MAX_LINE_BYTES`) is too big."""
    limit = MAX_TRAJECTORIES_BYTES if limit is None else limit
    line_limit = MAX_LINE_BYTES if line_limit is None else line_limit
    values, problems, total, n = [], [], 0, 0
    with open_regular_file(path, limit) as f:
        while True:
            line = f.readline(line_limit + 1)
            if not line:
                break
            n += 1
            total += len(line)
            if total > limit:
                raise UntrustedInputError(
                    f"{path} is over the limit of {limit:,} bytes"
                )
            if len(line) > line_limit:
                raise UntrustedInputError(
                    f"{path.name} line {n} is over the limit of {line_limit:,} bytes for one trajectory"
                )
            if not line.strip():
                continue
            try:
                values.append(loads_strict(line, f"{path.name} line {n}"))
            except UntrustedInputError as e:
                problems.append(str(e))
                if len(problems) >= MAX_LINE_PROBLEMS:
                    problems.append(
                        f"{path.name}: stopped reading after {len(problems)} bad lines"
                    )
                    break
    return values, problems
