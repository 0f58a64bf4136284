"""`advisor settings [--json]`: the registered compression settings."""
from __future__ import annotations

from typing import Annotated

import typer

from advisor.cli.common import handle_errors, print_json, stdout_console


@handle_errors
def settings(json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False) -> None:
    """List every compression setting: family, what it touches, and its fidelity floor."""
    from rich.table import Table

    from advisor import api

    rows = api.settings()
    if json_out:
        print_json(rows)
        return
    table = Table(title="Compression settings")
    for col in ("name", "family", "touches", "min cosine", "description"):
        table.add_column(col)
    for s in rows:
        table.add_row(s["name"], s["family"], ",".join(s["touches"]), f"{s['min_cosine']:.4f}", s["description"])
    stdout_console().print(table)
