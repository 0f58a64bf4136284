"""`advisor evaluate --profiles FILE... [--device D] [--runtime R] [--json] [--report FILE.json]`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from advisor.cli.common import handle_errors, print_json, stderr_console, stdout_console

ProfilesOpt = Annotated[list[Path], typer.Option("--profiles", help="Profile record files (.jsonl/.jsonl.gz) "
                                                 "from 'advisor profile'; repeat the option or list files after it.")]
MoreProfiles = Annotated[list[Path] | None, typer.Argument(help="More profile files.", show_default=False)]
DeviceOpt = Annotated[str | None, typer.Option(help="Device name in the records (default: the only one).")]
RuntimeOpt = Annotated[str | None, typer.Option(help="Runtime name in the records (default: the only one).")]
CalibrateOpt = Annotated[Path | None, typer.Option("--calibrate-from", help="Base bundle folder (e.g. "
                         "trained_predictors/jetson-tx2/tensorflow) to calibrate with these few networks' profiles "
                         "instead of training from scratch; device/runtime may differ from the profiles'.")]
FoldsOpt = Annotated[int, typer.Option("--folds", min=0, help="Cross-validation folds: this many groups of whole "
                     "families, about equal in rows (faster); 0: one family a fold.")]


def check_folds(folds: int) -> int | None:
    """``--folds`` as the workflows take it (None: one family a fold); 1 is a usage error."""
    from advisor.errors import UsageError

    if folds == 1:
        raise UsageError("--folds must be 0 (one family a fold) or at least 2, got 1.")
    return folds or None


@handle_errors
def evaluate(profiles: ProfilesOpt, more: MoreProfiles = None, device: DeviceOpt = None, runtime: RuntimeOpt = None,
             repeat: Annotated[list[Path] | None, typer.Option("--repeat", help="Records re-measuring the same "
                               "items, for the noise floor.")] = None,
             json_out: Annotated[bool, typer.Option("--json", help="Print the report as one JSON document.")] = False,
             report: Annotated[Path | None, typer.Option("--report", help="Also write the JSON report here.")] = None,
             calibrate_from: CalibrateOpt = None,
             seed: Annotated[int, typer.Option(help="Seed of every random draw in the fitting (XGBoost's "
                             "row and column sampling, the layer-time model's sample of layers). 0, the default, "
                             "is the seed bundles are trained with; other seeds show how far the figures move "
                             "with the draw alone.")] = 0,
             folds: FoldsOpt = 0,
             ) -> None:
    """Leave-one-family-out figures of the predictors against two baselines (MACs, per-setting median)
    (--folds N: N groups of whole families instead, as advisor train's manifest has them).

    With --calibrate-from BUNDLE: the base bundle's errors on these profiles before and after a few-shot
    calibration, each network held out in turn (the correction fitted on the other networks).
    """
    from advisor.errors import OutputError, UsageError
    from advisor.predictors.training import evaluate_profiles

    if seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {seed}.")
    if seed and calibrate_from is not None:
        raise UsageError("--seed applies to the fitting from scratch; a calibration (--calibrate-from) draws nothing.")
    folds_or_none = check_folds(folds)
    if report is not None and not report.parent.is_dir():  # before minutes of fitting, not after
        raise OutputError(f"Cannot write the report to '{report}': folder '{report.parent}' does not exist.")
    err = stderr_console()
    if calibrate_from is not None:
        from advisor.predictors.calibration import evaluate_calibration

        result = evaluate_calibration(list(profiles) + list(more or []), device, runtime, calibrate_from).report
        if report is not None:
            write_report(report, result)
        print_json(_clean(result)) if json_out else render_calibration(result)
        return
    result = evaluate_profiles(list(profiles) + list(more or []), device, runtime, repeat,
                               progress=lambda msg: err.print(f"[dim]{msg}[/dim]"), seed=seed, folds=folds_or_none)
    if report is not None:
        write_report(report, result)
    if json_out:
        from advisor.predictors.predictor import clean_json

        print_json(clean_json(result))
    else:
        render_report(result)


def write_report(path: Path, report: dict) -> None:
    """The JSON report, written through a temp file and a rename (an earlier report survives a failure)."""
    from advisor.modelio import write_bytes_atomic
    from advisor.predictors.predictor import clean_json

    write_bytes_atomic(path, (json.dumps(clean_json(report), indent=1, default=str) + "\n").encode("utf-8"))


_UNITS = {"pct": "%", "pp": "pp", "abs": ""}


def _fmt(v, unit: str = "") -> str:
    if v is None:
        return "-"
    return f"{100 * v:.0f}%" if unit == "share" else f"{v:.3g}{unit}"


def _update_table(title: str, rows):
    """The measured-update figures as a rich Table: per (label, {"n", "within_before", "within_after"})."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("measured", "n", "model", "updated"):
        table.add_column(col, justify="left" if col == "measured" else "right", no_wrap=True)
    for label, f in rows:
        table.add_row(label, str(f["n"]), f"{f['within_before']:.1%}", f"{f['within_after']:.1%}")
    return table


def _row(target: str, method: str, f: dict) -> list[str]:
    if not f.get("n"):
        return [target, method, "0"] + ["-"] * 5
    value, unit = f["tolerance"].split()
    u = _UNITS.get(unit, unit)
    med = next(v for k, v in f.items() if k.startswith("median_abs_err"))
    p90 = next(v for k, v in f.items() if k.startswith("p90_abs_err"))
    return [target, method, str(f["n"]), _fmt(med, u), _fmt(p90, u), f"{_fmt(f['within_tol'], 'share')} ±{value}{u}",
            _fmt(f["spearman_median"]), _fmt(f["coverage"], "share")]


def render_report(report: dict, console=None) -> None:
    """The figures as a rich table (stdout), then the noise floor and the data summary."""
    from rich.table import Table

    console = console or stdout_console()
    d = report["data"]
    held = (report.get("protocol") or {}).get("held_out", "family")
    groups = "families" if held == "family" else f"groups of {held}"
    table = Table(title=f"Held out by {held}: {d['device']}/{d['runtime']}, {d['n_rows']} rows, "
                  f"{d['n_networks']} networks, {len(d['families'])} {groups}", title_justify="left")
    for col in ("target", "method", "n", "med|err|", "p90|err|", "within", "rho/net", "cov90"):
        table.add_column(col, justify="left" if col in ("target", "method") else "right", no_wrap=True)
    for target, t in report["targets"].items():
        for i, (method, f) in enumerate(t["methods"].items()):
            table.add_row(*_row(target if i == 0 else "", method, f))
    console.print(table)
    by_setting = report.get("per_setting_ratio") or {}
    if by_setting:
        table = Table(title=f"Latency ratio by setting (model; each row predicted with its {held} held out)",
                      title_justify="left")
        for col in ("setting", "n", "med|err|", "p90|err|", "within"):
            table.add_column(col, justify="left" if col == "setting" else "right", no_wrap=True)
        for name, f in sorted(by_setting.items(), key=lambda kv: kv[1]["within_tol"]):
            table.add_row(name, str(f["n"]), _fmt(f["median_abs_err_pct"], "%"), _fmt(f.get("p90_abs_err_pct"), "%"),
                          f"{_fmt(f['within_tol'], 'share')} ±10%")
        console.print(table)
    upd = report.get("measured_update") or {}
    gains = {k: v for k, v in (upd.get("summary") or {}).items() if v["within_after"] > v["within_before"]}
    if gains:
        console.print(_update_table(
            f"One setting measured on each network (--measured): the ratios of its other settings within ±10%, "
            f"model alone -> updated ({held} held out)",
            sorted(gains.items(), key=lambda kv: kv[1]["within_before"] - kv[1]["within_after"])))
    if upd.get("best_pairs"):
        console.print(_update_table(
            f"Two settings measured on each network: the ratios of its other settings within ±10%, model alone -> "
            f"updated jointly ({held} held out; 90% intervals covered "
            f"{_fmt((upd.get('joint') or {}).get('coverage'), 'share')})",
            [(" + ".join(f["measured"]), f) for f in upd["best_pairs"]]))
    nf = report.get("noise_floor") or {}
    if nf.get("ratio_pct") is not None:
        console.print(f"noise floor (ratio): {nf['ratio_pct']:.1f}% ({nf['method']}; n={nf['n']})")
    if nf.get("baseline_latency_pct") is not None:
        console.print(f"noise floor (absolute latency): {nf['baseline_latency_pct']:.1f}% median deviation of the "
                      "baseline re-measured in each variant's process")
    rep = nf.get("repeat") or {}
    if rep.get("ratio_within_10pct") is not None:
        rho = rep.get("ratio_spearman_median")
        console.print(f"a repeat measurement vs the original: ratio within ±10% for {rep['ratio_within_10pct']:.0%} "
                      f"of {rep['n_ratio_pairs']} variants" + (f", settings ranked alike at rho {rho:.3g} "
                                                                  f"({rep['n_rank_networks']} networks)" if rho is not None
                                                                  else "") + " (one later session, its own errors"
                      " included; benchmarks/label_noise.py measures how well the labels repeat)")
    passes = nf.get("passes") or {}
    if passes.get("n"):
        console.print(f"re-measured labels: {passes['n']} variant ratios measured again in quiet passes; two passes within "
                      f"±10% of each other for {passes['within_10pct']:.1%} (each label: the median of the passes and "
                      "the sweep's ratio; datasets/remeasure.py)")
    ceiling = nf.get("ci_ceiling") or {}
    if ceiling.get("within_10pct") is not None:
        console.print(f"a repeat drawn from the records' own CIs (optimistic: no between-session drift): "
                      f"{ceiling['within_10pct']:.0%} within ±10%, "
                      f"rho/net {_fmt(ceiling.get('spearman_median'))}")
    seed = report.get("seed")
    console.print(f"energy: {report.get('energy', {}).get('mode')}; families: {', '.join(d['families'])}"
                  + (f"; seed {seed}" if seed is not None else ""))
    console.print("rho/net: median over networks of the Spearman correlation across its settings; cov90: "
                  "coverage of nominal 90% intervals calibrated without the held-out group")


def _clean(obj):
    from advisor.predictors.predictor import clean_json

    return clean_json(obj)


def render_calibration(report: dict, console=None) -> None:
    """Before/after calibration figures (leave-one-network-out) as a rich table."""
    from rich.table import Table

    console = console or stdout_console()
    d, b = report["data"], report["base_bundle"]
    table = Table(title=f"Calibrating {b['device']}/{b['runtime']} to {d['device']}/{d['runtime']}: "
                  f"{d['n_networks']} networks, {d['n_rows']} rows, each network held out", title_justify="left")
    for col in ("target", "n", "med|err| before", "after", "p90|err| before", "after ", "within ±10% after",
                "cov90 after"):
        table.add_column(col, justify="left" if col == "target" else "right", no_wrap=True)
    for target, before in report["before"].items():
        after = report["after"][target]
        if not before.get("n"):
            continue
        table.add_row(target, str(before["n"]), _fmt(before["median_abs_err_pct"], "%"),
                      _fmt(after["median_abs_err_pct"], "%"), _fmt(before["p90_abs_err_pct"], "%"),
                      _fmt(after["p90_abs_err_pct"], "%"), _fmt(after["within_tol"], "share"),
                      _fmt(after["coverage"], "share"))
    console.print(table)
    console.print(f"protocol: {report['protocol']}; cov90: the base bundle's nominal 90% intervals, shifted")
