"""Errors that the CLI turns into one line and an exit code."""

from __future__ import annotations

import errno
import os
import re


class EdgekitError(Exception):
    """An error the user can act on. The CLI prints its message on one line."""

    exit_code = 1


class UsageError(EdgekitError):
    """Bad arguments: unknown model, bad knob value, missing file. Exit code 2."""

    exit_code = 2


class ModelFileError(EdgekitError):
    """A model file that exists but cannot be read (corrupt, truncated, unsupported)."""

    exit_code = 1


LONGEST = 240       # characters of a library's message that an error line keeps


def first_line(e: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name if it has none):
    library errors often carry pages of context; a CLI error is one line, and a short one
    (LiteRT repeats a refusal for every tensor, on one line)."""
    text = str(e).strip()
    line = text.splitlines()[0] if text else type(e).__name__
    return line if len(line) <= LONGEST else line[:LONGEST - 1].rstrip() + "…"


class OutputClosed(SystemExit):
    """The reader of stdout went away (``edgekit analyze m.onnx | head -1``): the command
    ends quietly, as coreutils do, with no message and exit 141 (128 + SIGPIPE), the status
    a shell shows for ``seq 100000 | head -1``. A ``SystemExit``, so that no ``except
    Exception`` on the way turns it into an error; ``finally`` blocks still clean up."""

    def __init__(self):
        super().__init__(128 + 13)


def closed_output(e: BaseException | None) -> bool:
    """Is ``e`` (or an error it was raised from or during) a write to a closed pipe?"""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (OutputClosed, BrokenPipeError)) or (
                isinstance(e, OSError) and e.errno == errno.EPIPE):
            return True
        e = e.__cause__ or e.__context__
    return False


# ---- one line -------------------------------------------------------------------------------

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {0x200E, 0x200F, 0x061C}


def _shown(ch: str) -> str:
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if code < 0x20 or 0x7F <= code < 0xA0:
        return f"\\x{code:02x}"
    if code in (0x2028, 0x2029) or code in _BIDI:
        return f"\\u{code:04x}"
    if 0xDC80 <= code <= 0xDCFF:       # a byte that is not UTF-8 (os.fsdecode's escape)
        return f"\\x{code - 0xDC00:02x}"
    return ch


_SPECIAL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                      "\u200e\u200f\u061c\udc80-\udcff]")


def one_line(text: str) -> str:
    """``text`` as one line that shows what it holds: newlines, carriage returns, escape
    sequences and every other control character (and the characters that reorder or end a
    line: U+2028/9, bidirectional controls; bytes that are not UTF-8) are written as
    Python escapes (``\\n``, ``\\x1b``, ``\\u202e``), a backslash as ``\\\\`` only where
    something was escaped (a Windows-style path stays readable). Every line edgekit prints
    about the user's text (errors, warnings, 'wrote PATH') goes through it."""
    text = str(text)
    if not _SPECIAL.search(text):
        return text
    return "".join(_shown(ch) for ch in text)


def quoted(text, keep: int = 120) -> str:
    """A name the user gave, in quotes, as :func:`one_line` shows it; a long one as its
    start and end around '…', then its length: a 5,000-byte path in an error line is
    recognisable, not a screenful."""
    text = os.fsdecode(text) if isinstance(text, bytes) else str(text)
    if len(text) <= keep:
        return f"'{one_line(text)}'"
    half = keep // 2
    short = one_line(text[:half]) + "…" + one_line(text[-half:])
    return f"'{short}' ({len(os.fsencode(text)):,} bytes)"


# ---- operating system errors, in words ------------------------------------------------------

NAME_MAX = 255      # bytes in one name of a path (every Linux and macOS file system)
PATH_MAX = 4096     # bytes in a path the kernel accepts, its terminating NUL included

# errno -> (words, exit code): about the path the user gave (2: usage), or the machine (1)
OS_ERRORS = {
    errno.ENAMETOOLONG: ("file name too long (at most 255 bytes a name, 4,095 a path)", 2),
    errno.ENOENT: ("no such file or folder", 2),
    errno.ENOTDIR: ("a part of the path is not a folder", 2),
    errno.EISDIR: ("it is a folder", 2),
    errno.ELOOP: ("its symbolic links form a loop", 2),
    errno.EEXIST: ("it already exists", 2),
    errno.EACCES: ("permission denied", 2),
    errno.EPERM: ("operation not permitted", 2),
    errno.EROFS: ("read-only file system", 2),
    errno.ETXTBSY: ("the file is a running program", 2),
    errno.ENOSPC: ("no space left on the device", 1),
    errno.EDQUOT: ("disk quota exceeded", 1),
    errno.EFBIG: ("file too large for the file system", 1),
    errno.EMFILE: ("too many open files", 1),
    errno.ENFILE: ("too many open files in the system", 1),
    errno.ENOMEM: ("out of memory", 1),
    errno.EIO: ("input/output error (the disk or the connection)", 1),
    errno.EXDEV: ("cannot move across file systems", 1),
}


def os_error(e: OSError) -> EdgekitError:
    """An ``OSError`` that no command turned into its own message, as one line that names
    what happened in words and the path(s) it happened to: ``file name too long ...:
    'aaaa…aaa' (5,000 bytes)``. Its class gives the exit code: a path the user gave that
    cannot be used is a usage error (2), a full disk or a failing device is 1."""
    words, code = OS_ERRORS.get(e.errno, (None, 1))
    if words is None:
        words = (e.strerror or first_line(e)).lower() if e.errno else first_line(e)
    paths = [p for p in (e.filename, e.filename2) if p not in (None, "")]
    where = " -> ".join(quoted(p) for p in paths)
    message = f"{words}: {where}" if where else words
    return (UsageError if code == 2 else EdgekitError)(message)
