"""`advisor train --profiles FILE... [--device D] [--runtime R] [--out DIR] [--json]`."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from advisor.cli.common import handle_errors, print_json, stderr_console, stdout_console
from advisor.cli.evaluate_cmd import (
    CalibrateOpt,
    DeviceOpt,
    FoldsOpt,
    MoreProfiles,
    ProfilesOpt,
    RuntimeOpt,
    check_folds,
    render_calibration,
    render_report,
)
from advisor.predictors import TRAIN_FOLDS


@handle_errors
def train(profiles: ProfilesOpt, more: MoreProfiles = None, device: DeviceOpt = None, runtime: RuntimeOpt = None,
          out: Annotated[Path | None, typer.Option("--out", "-o", help="Bundle folder. Default: the user folder "
                         "($ADVISOR_BUNDLE_DIR or ~/.local/share/advisor/bundles)/DEVICE/RUNTIME; pass "
                         "trained_predictors/DEVICE/RUNTIME to update the shipped bundle.")] = None,
          json_out: Annotated[bool, typer.Option("--json", help="Print the manifest as one JSON document.")] = False,
          calibrate_from: CalibrateOpt = None,
          group_by: Annotated[str | None, typer.Option("--group-by", help="Hold out groups given by this "
                              "dotted record field (e.g. setting.provenance.folder) instead of architecture "
                              "families.")] = None,
          repeat: Annotated[list[Path] | None, typer.Option("--repeat", help="Records re-measuring the same "
                            "record ids in another session: the manifest's noise floor then says how well a "
                            "repeat measurement agrees with the original.")] = None,
          folds: FoldsOpt = TRAIN_FOLDS,
          ) -> None:
    """Fit predictors on one device/runtime's profiles, evaluate them by family, and write a JSON bundle.

    Every row of that device/runtime is used; held-out figures (--folds groups of whole families; the
    manifest says which) go into the bundle's manifest.json next to the XGBoost JSON models, and
    calibrate its intervals. With --calibrate-from BUNDLE, a handful of networks suffice: the base
    bundle's models are copied and a per-device correction (calibration.json) is fitted on top of them;
    its figures hold each network out in turn.
    """
    from advisor.predictors.training import train_bundle

    folds_or_none = check_folds(folds)
    if calibrate_from is not None and folds != TRAIN_FOLDS:
        from advisor.errors import UsageError

        raise UsageError("--folds applies to training from scratch; a calibration (--calibrate-from) holds each "
                         "network out in turn.")
    err = stderr_console()
    command = "advisor " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["train"] else \
        "advisor train"
    if calibrate_from is not None:
        _calibrate(list(profiles) + list(more or []), device, runtime, calibrate_from, out, command, json_out)
        return
    result = train_bundle(list(profiles) + list(more or []), device, runtime, out, command=command,
                          progress=lambda msg: err.print(f"[dim]{msg}[/dim]"), group_by=group_by,
                          repeat_paths=repeat, folds=folds_or_none)
    if json_out:
        from advisor.predictors.predictor import clean_json

        print_json(clean_json({"path": str(result.path), "seconds": result.seconds, "manifest": result.manifest}))
        return
    render_report(result.manifest["evaluation"])
    m = result.manifest
    stdout_console().print(f"bundle written to {result.path} ({m['n_rows']} rows, {m['n_networks']} networks, "
                           f"{len(m['families'])} families) in {result.seconds:.1f} s")


def _calibrate(paths, device, runtime, base, out, command, json_out) -> None:
    from advisor.predictors.calibration import calibrate_bundle
    from advisor.predictors.predictor import clean_json

    result = calibrate_bundle(paths, device, runtime, base, out, command=command)
    if json_out:
        print_json(clean_json({"path": str(result.path), "manifest": result.manifest}))
        return
    render_calibration(result.report)
    cal = result.calibration
    stdout_console().print(f"calibrated bundle written to {result.path} ({cal.n_networks} networks, {cal.n_rows} "
                           f"rows; baseline x{2.718281828 ** cal.base_offset:.3g} at the median, slope "
                           f"{cal.base_slope:.3g}; ratio offsets {cal.ratio_offsets})")
