"""User-facing errors: one line naming the file, key, shape or value and what was expected.

Entry points catch :class:`UserError` and print ``error: <message>`` with exit status 2 and no
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import reprlib
import sys
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., int | None])


# every character str.splitlines breaks on, shown escaped (as repr shows it)
_LINE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


#: at most this many characters of a value are quoted in a message
QUOTE_CHARS = 200
_REPR = reprlib.Repr()
for _name in ("maxtuple", "maxlist", "maxarray", "maxdict", "maxset", "maxfrozenset", "maxdeque"):
    setattr(_REPR, _name, 8)
_REPR.maxlevel, _REPR.maxlong = 3, 40
_REPR.maxstring = _REPR.maxother = QUOTE_CHARS
_AT_END: list[Callable[[], object]] = []


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` for a message, bounded: at most ``limit`` characters, and nested or long
    containers elided by :mod:`reprlib` before they are expanded (a YAML alias bomb used as a
    value is a list of a billion items sharing one object: its full repr would fill memory)."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def at_command_end(fn: Callable[[], object]) -> None:
    """Call ``fn()`` when a command wrapped in :func:`cli_errors` ends (e.g. release the run
    lock), so a process that runs several commands (a notebook, a test) does not keep them."""
    if fn not in _AT_END:
        _AT_END.append(fn)


class UserError(Exception):
    """Bad input from the user (a file, a key, a shape, a value). The message is one line: a
    line break inside it (a key or tag read from a malformed file may hold one) is escaped."""

    def __init__(self, message="", *args):
        super().__init__(str(message).translate(_LINE_BREAKS), *args)


def cli_errors(main: F) -> F:
    """Wrap a console entry point so a :class:`UserError` prints one line and exits 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        finally:
            for fn in _AT_END:
                fn()

    return wrapper  # type: ignore[return-value]
