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


class UserError(Exception):
    """Bad input from the user (a file, a key, a shape, a value). The message is one line."""


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
