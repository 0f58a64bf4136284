"""Shared test assertion: a CLI result that failed with one ``error:`` line and no traceback."""
from __future__ import annotations


def one_line_error(result, *needles: str, code: int = 1, after_progress: bool = False) -> str:
    """Assert ``result`` (typer CliRunner) exited ``code`` with a one-line ``error:`` message holding each
    needle (case-insensitive); with ``after_progress`` the message is the last stderr line (a progress
    bar may precede it). Returns the message."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    err = result.stderr.strip()
    assert "Traceback" not in result.stdout + result.stderr
    if after_progress:
        err = err.splitlines()[-1]
    assert err.startswith("error: ") and "\n" not in err, err
    for needle in needles:
        assert needle.lower() in err.lower(), (needle, err)
    return err
