"""`advisor inspect MODEL [--json]`: validate a model and show the features the advisor uses."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from advisor.cli.common import handle_errors, human_bytes, human_count, print_json, stdout_console

# Shared by every command that reads a model (compress, profile, predict, recommend).
InputShapeOpt = Annotated[list[str] | None, typer.Option(
    "--input-shape", metavar="NAME=DIMS", help="Concrete shape for a dynamic input, e.g. input=1x3x224x224 "
    "(repeat for each input); needed when the model has dynamic dims.")]


@handle_errors
def inspect(model: Annotated[Path, typer.Argument(help="ONNX model file.")],
            input_shape: InputShapeOpt = None,
            json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False) -> None:
    """Validate MODEL (checker + shape inference) and show its compression-relevant features."""
    from advisor import api
    from advisor.shapes import parse_input_shapes

    report = api.inspect(model, input_shapes=parse_input_shapes(input_shape))
    if json_out:
        print_json(report.to_dict())
        return
    _render(report)


def _render(report) -> None:
    from rich.table import Table

    f = report.features
    v = f.values
    con = stdout_console()
    con.print(f"[bold]{report.path}[/]  sha256 {report.sha256[:12]}  opset {report.opset}  "
              f"file {human_bytes(report.size_bytes)}")
    for io in report.inputs:
        con.print(f"  input  {io['name']}: {io['shape']}")
    for io in report.outputs:
        con.print(f"  output {io['name']}: {io['shape']}")
    con.print(f"  params {human_count(f.params_total)}   MACs {human_count(f.macs_total)}   "
              f"depth {v.get('depth_longest_path', 0):.0f}   nodes {v.get('n_nodes', 0):.0f}")
    table = Table(title="MACs by operation kind")
    table.add_column("kind")
    table.add_column("MACs", justify="right")
    table.add_column("share", justify="right")
    total = max(f.macs_total, 1)
    for kind, macs in sorted(f.macs_by_op.items(), key=lambda kv: -kv[1]):
        if macs:
            table.add_row(kind, human_count(macs), f"{100 * macs / total:.1f}%")
    con.print(table)
    ops = ", ".join(f"{k} {n}" for k, n in sorted(f.op_histogram.items(), key=lambda kv: -kv[1]))
    con.print(f"  ops: {ops}")
    con.print("  weights: " + ", ".join(
        f"{k} {v[k]:.3g}" for k in ("int8_sqnr_db_min", "int8_pc_sqnr_db_min", "weight_outlier_ratio_max",
                                    "sparsity_existing") if k in v))
    con.print("  (all features with units: advisor inspect --json)")
