"""`advisor zoo list|build`: the networks the advisor characterises, and exporting them to ONNX files."""
from __future__ import annotations

import importlib.util
import io
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from advisor.cli.common import handle_errors, human_bytes, print_json, stderr_console, stdout_console

app = typer.Typer(name="zoo", no_args_is_help=True, add_completion=False,
                  help="The network zoo: list the catalogued networks, build them to ONNX files.")

KindOption = Annotated[str | None, typer.Option("--kind", help="Only this kind: study, generated or trained.")]
FamilyOption = Annotated[str | None, typer.Option("--family", help="Only this family label, e.g. residual.")]


@app.command("list")
@handle_errors
def list_networks(kind: KindOption = None, family: FamilyOption = None,
                  json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False) -> None:
    """List the catalogued networks: name, family, kind, description (builds nothing)."""
    entries = _filtered(kind, family)
    if json_out:
        print_json([{"name": e.name, "family": e.family, "kind": e.kind, "description": e.description,
                     "params": e.params} for e in entries])
        return
    if not entries:
        stderr_console().print(f"No {kind or ''} networks are catalogued (their module is not installed).")
        return
    from rich.table import Table

    table = Table(title=f"{len(entries)} networks")
    for column in ("name", "family", "kind", "description"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(e.name, e.family, e.kind, e.description)
    stdout_console().print(table)


@app.command("build")
@handle_errors
def build(names: Annotated[list[str] | None, typer.Argument(help="Networks to build (see 'advisor zoo list').")] = None,
          out: Annotated[Path, typer.Option("--out", "-o", help="Folder for NAME.onnx (and NAME.npz); "
                                            "created if its parent exists.")] = ...,
          kind: KindOption = None, family: FamilyOption = None,
          force: Annotated[bool, typer.Option("--force", help="Rebuild files that already exist.")] = False) -> None:
    """Build NAMEs (or a whole --kind/--family) to OUT/NAME.onnx (+ NAME.npz when it has data).

    Files are written atomically; existing NAME.onnx files are kept unless --force.
    """
    from advisor.errors import UsageError

    if not names and not (kind or family):
        raise UsageError("Name the networks to build, or choose a group with --kind and/or --family "
                         "(see 'advisor zoo list').")
    entries = _select(names, kind, family)
    _prepare_folder(out)
    todo = [e for e in entries if force or not (out / f"{e.name}.onnx").exists()]
    if todo:
        _require_torch()
    start = time.perf_counter()
    written = _build_all(todo, out)
    kept = len(entries) - len(todo)
    stdout_console().print(
        f"Built {len(todo)} network(s) into {out} ({human_bytes(written)}, {time.perf_counter() - start:.1f} s); "
        f"{kept} already there were kept" + (" (--force rebuilds them)." if kept else "."), soft_wrap=True)


def _filtered(kind: str | None, family: str | None) -> list:
    """Entries of ``kind`` (all when None) and ``family`` (all when None); an unknown family is an error."""
    from advisor.errors import AdvisorError
    from advisor.zoo.catalog import all_entries

    entries = all_entries([kind] if kind else None)
    if family is None:
        return entries
    known = sorted({e.family for e in entries})
    if family not in known:
        raise AdvisorError(f"Unknown family '{family}' among the {kind or 'catalogued'} networks. "
                           f"Known: {', '.join(known) or 'none'}.")
    return [e for e in entries if e.family == family]


def _select(names: list[str] | None, kind: str | None, family: str | None) -> list:
    """The named entries (each must match --kind/--family when given), or the whole filtered group."""
    from advisor.errors import ModelError
    from advisor.zoo.catalog import get_entry

    if not names:
        return _filtered(kind, family)
    chosen = []
    for name in dict.fromkeys(names):
        entry = get_entry(name, [kind] if kind else None)
        if family and entry.family != family:
            raise ModelError(f"Network '{name}' is of family '{entry.family}', not '{family}'. "
                             "Drop --family or the name.")
        chosen.append(entry)
    return chosen


def _prepare_folder(out: Path) -> None:
    from advisor.errors import OutputError

    if out.exists() and not out.is_dir():
        raise OutputError(f"Output '{out}' is a file, not a folder. Give a folder for the .onnx files.")
    parent = out.parent if str(out.parent) else Path(".")
    if not out.exists() and not parent.is_dir():
        raise OutputError(f"Output folder '{out}' cannot be created: its parent '{parent}' does not exist. "
                          "Create it first.")
    try:
        out.mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create output folder '{out}': {exc.strerror}.") from exc


def _require_torch() -> None:
    from advisor.errors import AdvisorError

    if importlib.util.find_spec("torch") is None:
        raise AdvisorError("Building zoo networks needs torch, which is not installed. "
                           "Install it with: pip install 'compression-advisor[zoo]'.")


def _build_all(entries: list, out: Path) -> int:
    """Build and write each entry with a progress bar on stderr; return the bytes written."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    written = 0
    columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr_console(), transient=True) as progress:
        task = progress.add_task("building", total=len(entries))
        for e in entries:
            progress.update(task, description=e.name)
            written += _build_one(e, out)
            progress.advance(task)
    return written


def _build_one(entry, out: Path) -> int:
    """Write OUT/NAME.onnx (and OUT/NAME.npz) atomically; return the bytes written."""
    import numpy as np

    from advisor.errors import AdvisorError
    from advisor.modelio import save_model, write_bytes_atomic

    try:
        model, data = entry.build_model()
    except AdvisorError:
        raise
    except Exception as exc:
        if os.environ.get("ADVISOR_DEBUG"):
            raise
        raise AdvisorError(f"Building '{entry.name}' failed ({type(exc).__name__}: {exc}). Files already "
                           "written are kept; rerun with ADVISOR_DEBUG=1 for the traceback.") from exc
    path = save_model(model, out / f"{entry.name}.onnx")
    written = path.stat().st_size
    if data is not None:
        buf = io.BytesIO()
        np.savez(buf, **data)
        write_bytes_atomic(out / f"{entry.name}.npz", buf.getvalue())
        written += buf.tell()
    return written
