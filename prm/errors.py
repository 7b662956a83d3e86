"""The toolkit's error types: what is wrong, where, and the fix.

Public: `OptionError`, `OutputBusyError`. Bad input records raise `prm.data.errors.DataError` (file, line, field,
what was expected); configs raise `ValueError` naming the field, the value and the choices.

All of them are `ValueError`s, so the command line (`prm.cli.main`) reports any of them as one
line, `prm VERB: error: ...`, with exit code 2; missing files are `OSError`s and reported alike.
"""

from __future__ import annotations

from typing import Any

_UNSET = object()


class OptionError(ValueError):
    """A bad command-line option or combination of options.

    option: the option as typed (e.g. "--shard"); value: what was given (omit where the
    problem is a combination); problem: what is wrong; fix: what to do instead.
    """

    def __init__(self, option: str, problem: str, fix: str | None = None, value: Any = _UNSET) -> None:
        self.option = option
        self.value = None if value is _UNSET else value
        self.problem = problem
        self.fix = fix
        message = option if value is _UNSET else f"{option} {value!r}"
        message += f": {problem}"
        if fix:
            message += f"; {fix}"
        super().__init__(message)


class OutputBusyError(OSError):
    """Another process holds the output's writer lock; the message names its pid and the fix."""

    def __str__(self) -> str:  # no "[Errno ...]" prefix: the message is the whole story
        return str(self.args[0]) if self.args else ""
