"""Shared CLI plumbing: consoles, the error boundary, JSON output.

Exit codes (documented in the README): 0 ok; 1 error; 2 usage; 3 nothing meets the constraints;
130 interrupted.
"""
from __future__ import annotations

import functools
import json
import os
import sys

import typer
from typer.core import TyperGroup

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INFEASIBLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def stdout_console():
    """Rich console for results; wide when piped so tables stay readable in logs."""
    from rich.console import Console
    return Console(width=None if sys.stdout.isatty() else 150)


def stderr_console():
    from rich.console import Console
    return Console(stderr=True)


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """Print ``error: message`` as one line on stderr and return the Exit to raise."""
    text = " ".join(str(message).split())
    print(f"error: {text}", file=sys.stderr)
    return typer.Exit(code)


def _click_class(name: str) -> type:
    """A click exception class as the installed typer raises it (recent typers carry their own click)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


_USAGE_ERROR, _CLICK_EXCEPTION = _click_class("UsageError"), _click_class("ClickException")


class OneLineErrors(TyperGroup):
    """The command group whose usage errors (an unknown option, a missing argument, a bad choice) are
    one ``error:`` line with exit code 2, like every other error, instead of click's framed
    usage panel: ``error: No such option: --thread (Possible options: --threads). See 'advisor
    predict --help'.`` Bare ``advisor`` (or ``advisor zoo``) still prints its help."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _USAGE_ERROR as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `advisor` / `advisor zoo`: the help
                text = exc.format_message()  # the help (rich help is printed as the error is made)
                if text.strip():
                    print(text)
                sys.exit(EXIT_USAGE)
            where = exc.ctx.command_path if exc.ctx else self._command_path(args, prog_name)
            sys.exit(fail(f"{exc.format_message().strip().rstrip('.')}. See '{where} --help'.", EXIT_USAGE).exit_code)
        except _CLICK_EXCEPTION as exc:
            sys.exit(fail(exc.format_message(), exc.exit_code).exit_code)
        except typer.Abort:
            sys.exit(fail("interrupted", EXIT_INTERRUPTED).exit_code)
        # without standalone mode click returns an Exit's code, or the command's own return value
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else EXIT_OK)

    def _command_path(self, args, prog_name) -> str:
        """``advisor recommend`` for an error raised without its context (click leaves it out of some
        parse errors, e.g. an option given no value): the (sub)command names leading ``args``."""
        path, group = [prog_name or self.name or "advisor"], self
        for word in sys.argv[1:] if args is None else args:
            sub = getattr(group, "commands", {}).get(word)
            if sub is None:
                break
            path.append(word)
            group = sub
        return " ".join(path)


def handle_errors(fn):
    """Turn AdvisorError (and any unexpected exception) into a one-line message and an exit code.

    Set ADVISOR_DEBUG=1 to see the traceback of an unexpected error.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from advisor.errors import AdvisorError
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except AdvisorError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_INTERRUPTED) from None
        except Exception as exc:
            if os.environ.get("ADVISOR_DEBUG"):
                raise
            raise fail(f"internal error: {type(exc).__name__}: {exc} "
                       "(rerun with ADVISOR_DEBUG=1 for the traceback and report it)") from None
    return wrapper


def print_json(obj) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(value):
    try:
        import numpy as np
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KB' (decimal units, as storage vendors and the 2018 study use)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} GB"


def human_count(n: float) -> str:
    """12_345_678 -> '12.35 M'."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n:.0f}"
