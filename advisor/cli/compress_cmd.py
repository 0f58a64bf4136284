"""`advisor compress MODEL --setting NAME -o OUT.onnx [--data FILE.npz]`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from advisor.cli.common import handle_errors, human_bytes, print_json, stdout_console
from advisor.cli.inspect_cmd import InputShapeOpt


@handle_errors
def compress(model: Annotated[Path, typer.Argument(help="ONNX model file.")],
             setting: Annotated[str, typer.Option("--setting", "-s", help="Setting name (see 'advisor settings').")],
             out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the compressed model.")],
             data: Annotated[Path | None, typer.Option("--data", help=".npz with inputs (and labels) for "
                                                       "calibration and the fidelity check.")] = None,
             no_check: Annotated[bool, typer.Option("--no-check", help="Skip the output fidelity check.")] = False,
             input_shape: InputShapeOpt = None,
             json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False) -> None:
    """Apply a compression setting to MODEL and write the result (atomically) to OUT."""
    from advisor import api
    from advisor.shapes import parse_input_shapes

    report = api.compress(model, setting, out, data=data, check_fidelity=not no_check,
                          input_shapes=parse_input_shapes(input_shape))
    if json_out:
        print_json(report.to_dict())
        return
    con = stdout_console()
    con.print(f"[bold]{report.setting}[/] -> {report.output}  ({report.seconds:.2f} s)")
    con.print(f"  size        {human_bytes(report.size_bytes_before)} -> {human_bytes(report.size_bytes_after)}"
              f"  ({_pct(report.size_bytes_after, report.size_bytes_before)})")
    con.print(f"  compressed  {human_bytes(report.compressed_size_bytes_before)} -> "
              f"{human_bytes(report.compressed_size_bytes_after)}"
              f"  ({_pct(report.compressed_size_bytes_after, report.compressed_size_bytes_before)}, deflate)")
    for key, value in report.notes.items():
        con.print(f"  {key}: {value}")
    if report.fidelity:
        fid = report.fidelity
        extra = f", top-1 agreement {fid['top1_agreement']:.2f}" if "top1_agreement" in fid else ""
        con.print(f"  fidelity on {fid['n_samples']} samples of {fid['inputs']}: cosine mean "
                  f"{fid['cosine_mean']:.4f} (min {fid['cosine_min']:.4f}){extra}")


def _pct(after: int, before: int) -> str:
    return f"{100 * (after - before) / before:+.1f}%" if before else "n/a"
