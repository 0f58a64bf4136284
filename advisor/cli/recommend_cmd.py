"""`advisor recommend MODEL --device D [budgets] [--optimize ...]` and `advisor predict MODEL --device D`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from advisor.cli.common import EXIT_INFEASIBLE, handle_errors, human_bytes, print_json, stdout_console
from advisor.cli.inspect_cmd import InputShapeOpt
from advisor.units import parse_energy_mj, parse_percent, parse_size_bytes, parse_time_ms

Model = Annotated[Path, typer.Argument(help="ONNX model file.")]
DeviceOpt = Annotated[str, typer.Option("--device", "-d", help="Target device (see 'advisor devices').")]
RuntimeOpt = Annotated[str | None, typer.Option(help="Runtime on the device (default: the device's default).")]
BundleOpt = Annotated[Path | None, typer.Option("--bundle", help="Predictor bundle folder (overrides the "
                                                "user and shipped bundles).")]
DataOpt = Annotated[Path | None, typer.Option("--data", help=".npz inputs (+labels): measure the accuracy "
                                              "drop on this host instead of predicting it.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
MeasuredOpt = Annotated[list[str] | None, typer.Option(
    "--measured", metavar="SETTING=RATIO",
    help="A setting's latency over the uncompressed model's, measured on the device for this model "
         "(repeatable, e.g. int8-static-pt=1.43): reported as measured, and the related settings' predictions "
         "are updated from it.")]

MeasuredFromOpt = Annotated[list[Path] | None, typer.Option(
    "--measured-from", metavar="FILE",
    help="Profile records (advisor profile, the on-device agent; repeatable) whose records of this model on "
         "this device and runtime give measured ratios, as --measured does.")]


def parse_measured(items: list[str] | None) -> dict[str, str] | None:
    """``SETTING=RATIO`` strings -> {setting: ratio text} (the numbers are checked by the predictor)."""
    from advisor.errors import DataError

    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise DataError(f"--measured takes SETTING=RATIO (e.g. int8-static-pt=1.43), got '{item}'.")
        if name.strip() in out:
            raise DataError(f"--measured gives '{name.strip()}' twice; give each setting once.")
        out[name.strip()] = value.strip()
    return out or None


@handle_errors
def recommend(model: Model, device: DeviceOpt, runtime: RuntimeOpt = None,
              max_latency: Annotated[str | None, typer.Option(help="e.g. 50ms, 0.2s")] = None,
              max_energy: Annotated[str | None, typer.Option(help="e.g. 200mJ, 1J")] = None,
              max_size: Annotated[str | None, typer.Option(help="e.g. 10MB, 512KiB")] = None,
              max_accuracy_drop: Annotated[str | None, typer.Option(help="percentage points, e.g. 1%")] = None,
              optimize: Annotated[str, typer.Option(help="latency | energy | size | accuracy")] = "latency",
              risk: Annotated[str, typer.Option(help="pessimistic (interval's worse end must meet each budget) "
                                                "| expected (point prediction)")] = "pessimistic",
              data: DataOpt = None, bundle: BundleOpt = None,
              apply: Annotated[Path | None, typer.Option("--apply", help="Write the recommended model here.")] = None,
              verify: Annotated[bool, typer.Option("--verify", help="Measure the applied model on this host and "
                                                   "compare with the prediction.")] = False,
              plot: Annotated[Path | None, typer.Option("--plot", help="Write a Pareto chart (PNG).")] = None,
              measured: MeasuredOpt = None, measured_from: MeasuredFromOpt = None, input_shape: InputShapeOpt = None,
              json_out: JsonOpt = False) -> None:
    """Choose the compression setting that meets the budgets and optimises the objective; exit 3 if none fits."""
    from advisor import api
    from advisor.shapes import parse_input_shapes

    shapes = parse_input_shapes(input_shape)
    ratios = parse_measured(measured)
    constraints = api.Constraints(
        max_latency_ms=parse_time_ms(max_latency) if max_latency else None,
        max_energy_mj=parse_energy_mj(max_energy) if max_energy else None,
        max_size_bytes=parse_size_bytes(max_size) if max_size else None,
        max_accuracy_drop_pct=parse_percent(max_accuracy_drop) if max_accuracy_drop else None)
    rec = api.recommend(model, device=device, constraints=constraints, objective=optimize, runtime=runtime,
                        data=data, risk=risk, bundle=bundle, apply=apply, verify=verify, plot=plot,
                        input_shapes=shapes, measured_ratios=ratios, measured_from=measured_from)
    if json_out:
        print_json(rec.to_dict())
    else:
        render(rec)
    if rec.setting is None:
        raise typer.Exit(EXIT_INFEASIBLE)


@handle_errors
def predict(model: Model, device: DeviceOpt, runtime: RuntimeOpt = None, data: DataOpt = None,
            bundle: BundleOpt = None, measured: MeasuredOpt = None, measured_from: MeasuredFromOpt = None,
            input_shape: InputShapeOpt = None, json_out: JsonOpt = False) -> None:
    """Predict every setting's latency, energy, size and accuracy drop (no constraints)."""
    from advisor import api
    from advisor.shapes import parse_input_shapes

    pred = api.predict(model, device=device, runtime=runtime, data=data, bundle=bundle,
                       input_shapes=parse_input_shapes(input_shape), measured_ratios=parse_measured(measured),
                       measured_from=measured_from)
    if json_out:
        print_json(pred.to_dict())
    else:
        con = stdout_console()
        con.print(_table(pred.candidates, f"{pred.model['name']} on {pred.device}/{pred.runtime}", None))
        _nearest_line(con, pred)
        _measure_hint(con, pred)


def render(rec) -> None:
    con = stdout_console()
    con.print(_table(rec.candidates, f"{rec.model['name']} on {rec.device}/{rec.runtime}, optimise "
                     f"{rec.objective}", rec.setting))
    con.print(rec.reason)
    if rec.applied:
        con.print(f"wrote {rec.applied['path']} ({human_bytes(rec.applied['size_bytes'])})")
    if rec.verification:
        v = rec.verification
        lo, hi = v["predicted_interval_ms"]
        con.print(f"verify {v['setting']}: predicted {v['predicted_latency_ms']:.3g} ms [{lo:.3g}, {hi:.3g}], "
                  f"measured {v['measured_latency_ms']:.3g} ms (baseline {v['measured_baseline_ms']:.3g} ms, ratio "
                  f"{v['measured_ratio']:.3f}{_predicted_ratio(v)}) -> {'within' if v['within_interval'] else 'OUTSIDE'} "
                  "the interval")
        if v.get("measured_ratio") and v["setting"] != "none":
            con.print(f"to update the other settings from this measurement, rerun with --measured "
                      f"{v['setting']}={v['measured_ratio']:.3f}")
    _measure_hint(con, rec)


def _nearest_line(con, pred) -> None:
    """The training networks the model resembles (``model.nearest_training``) and that family's held-out
    ratio figure, where the bundle has the table (``recommend`` says it in its reason)."""
    near = pred.model.get("nearest_training")
    if not near:
        return
    fams = ", ".join(f"{n} '{f}'" for f, n in sorted(near["neighbours"].items(), key=lambda x: -x[1]))
    line = f"nearest training networks: {fams}"
    if near.get("family_within_10pct") is not None:
        line += f" ('{near['family']}' held out: {near['family_within_10pct']:.0%} of ratios within ±10%)"
    if near.get("far"):
        line += "; farther from them than 90% of held-out families' networks were: expect larger errors"
    con.print(line)


def _measure_hint(con, result) -> None:
    """One line naming the two settings whose measured ratios sharpened the others most, held out by
    family (the bundle's ``network_update.best_pairs``), when nothing was measured and both apply."""
    best = (result.bundle or {}).get("best_measured_pair")
    cands = {c.setting: c for c in result.candidates}
    if not best or any(c.ratio_source == "measured" for c in result.candidates):
        return
    a, b = best["measured"]
    if not all(getattr(cands.get(s), "applicable", False) for s in (a, b)):
        return
    con.print(f"tip: measuring {a} and {b} on the device sharpens the other settings' predictions (held out by "
              f"family: {best['within_before']:.0%} -> {best['within_after']:.0%} of their ratios within ±10%): "
              f"advisor profile {result.model.get('path', 'MODEL')} --settings {a},{b} --out FILE, then rerun with "
              "--measured-from FILE")


def _predicted_ratio(v: dict) -> str:
    return f" vs predicted {v['predicted_ratio']:.3f}" if v.get("predicted_ratio") else ""


def _table(candidates, title: str, chosen: str | None):
    from rich.table import Table

    t = Table(title=title)
    for col in ("setting", "latency ms (90% int.)", "energy mJ", "size", "acc. drop pp", "feasible", "Pareto", "notes"):
        t.add_column(col)
    for c in candidates:
        mark = "[bold green]>[/] " if c.setting == chosen else ""
        lat = "-" if c.latency_ms is None else f"{c.latency_ms:.3g}" + (
            f" ({c.latency_ms_interval[0]:.3g}-{c.latency_ms_interval[1]:.3g})" if c.latency_ms_interval else "")
        energy = "-" if c.energy_mj is None else f"{c.energy_mj:.3g}" + ("~" if c.energy_is_estimate else "")
        acc = "-" if c.accuracy_drop_pct is None else f"{c.accuracy_drop_pct:.2f} ({c.accuracy_source})"
        notes = "; ".join(list(c.violations) + list(c.notes))
        t.add_row(mark + c.setting, lat, energy, "-" if c.size_bytes is None else human_bytes(c.size_bytes), acc,
                  "yes" if c.feasible else "no", "*" if c.pareto else "", notes[:80])
    if any(c.energy_is_estimate and c.energy_mj is not None for c in candidates):
        t.caption = "~ energy estimated (no power sensor data for this target)"
    return t
