"""`advisor train --profiles FILE... [--device D] [--runtime R] [--out DIR] [--json]`."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from advisor.cli.common import handle_errors, print_json, stderr_console, stdout_console
from advisor.cli.evaluate_cmd import DeviceOpt, MoreProfiles, ProfilesOpt, RuntimeOpt, render_report


@handle_errors
def train(profiles: ProfilesOpt, more: MoreProfiles = None, device: DeviceOpt = None, runtime: RuntimeOpt = None,
          out: Annotated[Path | None, typer.Option("--out", "-o", help="Bundle folder. Default: the user folder "
                         "($ADVISOR_BUNDLE_DIR or ~/.local/share/advisor/bundles)/DEVICE/RUNTIME; pass "
                         "trained_predictors/DEVICE/RUNTIME to update the shipped bundle.")] = None,
          json_out: Annotated[bool, typer.Option("--json", help="Print the manifest as one JSON document.")] = False,
          ) -> None:
    """Fit predictors on one device/runtime's profiles, evaluate them by family, and write a JSON bundle.

    Every row of that device/runtime is used; the held-out figures (leave-one-family-out) go into the
    bundle's manifest.json next to the XGBoost JSON models.
    """
    from advisor.predictors.training import train_bundle

    err = stderr_console()
    command = "advisor " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["train"] else \
        "advisor train"
    result = train_bundle(list(profiles) + list(more or []), device, runtime, out, command=command,
                          progress=lambda msg: err.print(f"[dim]{msg}[/dim]"))
    if json_out:
        from advisor.predictors.predictor import clean_json

        print_json(clean_json({"path": str(result.path), "seconds": result.seconds, "manifest": result.manifest}))
        return
    render_report(result.manifest["evaluation"])
    m = result.manifest
    stdout_console().print(f"bundle written to {result.path} ({m['n_rows']} rows, {m['n_networks']} networks, "
                           f"{len(m['families'])} families) in {result.seconds:.1f} s")
