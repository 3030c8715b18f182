"""The errors that are the user's to fix: the CLI shows their message as one line, exit code 1.

Every module's own error type that means "bad input, bad URI, bad setting" derives from
UserError, so the CLI catches exactly these and a bug anywhere else keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """An error whose message says everything the user needs: what, where, and what to do."""


class DataError(UserError, ValueError):
    """Bad input data; the message names the file, column, row or value."""


class ConfigError(UserError, ValueError):
    """A setting that cannot work (a fraction out of range, an unknown option, a changed resume)."""
