"""User-facing errors: one line naming the file, key, shape or value and what was expected.

Entry points catch :class:`UserError` and print ``error: <message>`` with exit status 2 and no
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., int | None])


# every character str.splitlines breaks on, shown escaped (as repr shows it)
_LINE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


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

    return wrapper  # type: ignore[return-value]
