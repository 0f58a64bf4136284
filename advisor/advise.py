"""predict / recommend orchestration: model -> features -> bundle predictions + sizes -> candidates.

Called by advisor.api; returns data, never prints. Accuracy with ``data`` is measured on this host
by compressing and running each setting (accuracy does not depend on the target device).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from advisor.decision import Candidate, Constraints, assess, binding_constraint, closest, decide
from advisor.errors import DataError

# Shipped default runtime per device: the first whose bundle exists is used when none is given.
DEFAULT_RUNTIMES = {"host": ("onnxruntime-cpu",),
                    "jetson-tx2": ("onnxruntime-tensorrt", "tensorflow"),
                    "jetson-nano": ("onnxruntime-tensorrt", "tensorrt")}


@dataclass(frozen=True)
class Prediction:
    """Every setting's predicted outcome for one model on one device/runtime."""

    model: dict
    device: str
    runtime: str
    bundle: dict
    candidates: tuple
    measured_accuracy: bool = False

    def to_dict(self) -> dict:
        return {"model": self.model, "device": self.device, "runtime": self.runtime, "bundle": self.bundle,
                "candidates": [c.to_dict() for c in self.candidates]}


@dataclass(frozen=True)
class Recommendation:
    """The choice (``setting`` None when nothing fits), why, and every candidate assessed."""

    model: dict
    device: str
    runtime: str
    constraints: Constraints
    objective: str
    risk: str
    candidates: tuple
    setting: str | None
    reason: str
    bundle: dict = field(default_factory=dict)
    applied: dict | None = None
    verification: dict | None = None

    def to_dict(self) -> dict:
        return {"model": self.model, "device": self.device, "runtime": self.runtime,
                "constraints": self.constraints.to_dict(), "objective": self.objective, "risk": self.risk,
                "candidates": [c.to_dict() for c in self.candidates],
                "recommendation": {"setting": self.setting, "reason": self.reason},
                "bundle": self.bundle, "applied": self.applied, "verification": self.verification}


def resolve_runtime(device: str, runtime: str | None, bundle_dir=None) -> str:
    """``runtime`` or the device's default runtime that has a bundle (first listed otherwise)."""
    from advisor.devices import get_device
    from advisor.predictors.bundle import BundleError, find_bundle

    dev = get_device(device)
    if runtime:
        dev.runtime(runtime)
        return runtime
    options = DEFAULT_RUNTIMES.get(device, tuple(dev.runtimes))
    transferred = []  # bundles carried from another board (advisor.predictors.transfer): only if nothing else
    for r in options:
        try:
            path = find_bundle(device, r, bundle_dir)
        except BundleError:
            continue
        if _is_device_transfer(path):
            transferred.append(r)
            continue
        return r
    return transferred[0] if transferred else options[0]


def _is_device_transfer(path) -> bool:
    import json
    from pathlib import Path

    try:
        m = json.loads((Path(path) / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return str((m.get("calibration") or {}).get("method", "")).startswith("device-transfer")


def predict(model_path, device: str, runtime: str | None = None, data=None, bundle_dir=None,
            input_shapes: dict | None = None, measured_ratios: dict | None = None,
            measured_from: list | None = None) -> Prediction:
    """Predict every registered setting for the model at ``model_path`` on ``device``/``runtime``.
    ``input_shapes`` ({input name: dims}) fixes dynamic input dims (required when it has any).
    ``measured_ratios`` ({setting: latency over the uncompressed model's, measured on the device}):
    those settings report their measurement and update the others (``PredictorBundle.predict``).
    ``measured_from``: profile-record files whose records of this model on ``device``/``runtime`` give
    more measured ratios (``network_update.measured_from_records``)."""
    from advisor.api import file_sha256
    from advisor.compression import get_setting, setting_names
    from advisor.devices import get_device
    from advisor.features import extract_features
    from advisor.modelio import load_model
    from advisor.predictors.applicability import describe
    from advisor.predictors.predictor import load_bundle
    from advisor.predictors.size import estimate_size_bytes

    dev = get_device(device)
    runtime = resolve_runtime(device, runtime, bundle_dir)
    lm = load_model(model_path, input_shapes=input_shapes, require_static=True)
    feats = extract_features(lm)
    bundle = load_bundle(device, runtime, bundle_dir)
    if measured_from:
        measured_ratios = _merged_measurements(measured_ratios, measured_from, file_sha256(model_path), device,
                                               runtime)
    names = [n for n in setting_names() if n in bundle.manifest.get("known_settings", setting_names())]
    reasons = {n: get_setting(n).check(lm) for n in names}
    usable = [n for n in names if not reasons[n]]
    for name in measured_ratios or {}:
        if name in reasons and reasons[name]:
            raise DataError(f"'{name}' was given a measured ratio but does not apply to this model: {reasons[name]}")
    if measured_ratios and not bundle.has_network_update:
        print(f"note: bundle '{bundle.path}' has no table for updating predictions from measured ratios: the measured "
              "settings are reported as measured, the others as predicted (retrain it with 'advisor train' to get "
              "one)", file=sys.stderr)
    structure, sizes = _structure_and_size(lm, usable)
    rows = {r["setting"]: r for r in bundle.predict(feats.values, usable, structure=structure,
                                                     measured=measured_ratios)}
    measured = _measure_accuracy(lm, usable, data) if data else {}

    def size_fn(lm, name):  # one replay per setting serves both the structure features and the size
        return sizes[name] if sizes.get(name) is not None else estimate_size_bytes(lm, name)

    cands = [_candidate(n, reasons[n], rows.get(n), dev, runtime, lm, measured, size_fn, structure.get(n))
             for n in names]
    model = {"path": str(model_path), "sha256": file_sha256(model_path), "params": feats.params_total,
             "macs": feats.macs_total, "name": Path(model_path).stem,
             "beyond_training": (rows.get("none") or {}).get("baseline_beyond_training"),
             "nearest_training": describe(bundle.applicability, feats.values,
                                          (bundle.manifest.get("evaluation") or {}).get("per_family_ratio"))}
    # No budgets here: every applicable setting is feasible, and the Pareto front is marked.
    return Prediction(model=model, device=device, runtime=runtime, bundle=_bundle_summary(bundle),
                      candidates=tuple(assess(cands, Constraints())), measured_accuracy=bool(data))


def _merged_measurements(given: dict | None, paths: list, model_sha256: str, device: str, runtime: str) -> dict:
    """``given`` ratios plus those of the records in ``paths`` (a setting in both is an error)."""
    from advisor.predictors.dataset import load_profiles
    from advisor.predictors.network_update import measured_from_records

    found = measured_from_records(load_profiles(paths), model_sha256, device, runtime,
                                  ", ".join(f"'{p}'" for p in paths))
    both = sorted(set(found) & set(given or {}))
    if both:
        raise DataError(f"'{both[0]}' is given a measured ratio both on the command line and in the records; "
                        "give it once.")
    return {**(given or {}), **found}


def _structure_and_size(lm, names: list[str]) -> tuple[dict, dict]:
    """What each setting does to the graph (the ratio predictor's best inputs) and its size, from one
    replay; ({}, {}) if the replay fails (the bundle then predicts from model features alone and sizes
    are estimated setting by setting)."""
    from advisor.predictors.structure import structure_and_size

    try:
        return structure_and_size(lm, names)
    except Exception as exc:  # an aid to prediction: without it the bundle still predicts, less precisely
        print(f"note: structure replay failed ({type(exc).__name__}); predicting from model features only",
              file=sys.stderr)
        return {}, {}


def _candidate(name, reason, row, dev, runtime, lm, measured, size_fn, structure=None) -> Candidate:
    from advisor.devices import setting_support

    if reason:
        return Candidate(setting=name, applicable=False, notes=(reason,))
    supported, beneficial, why = setting_support(dev, runtime, name)
    notes = []
    source = str(row.get("ratio_source", ""))
    if source == "measured":  # first: it changes the numbers
        notes.append(f"ratio {row['ratio']:.3g} as measured on the device")
    elif source.startswith("updated from measured "):
        names = source[len("updated from measured "):]
        notes.append(f"ratio {row['ratio']:.3g}, updated from the measured ratios of {names}" if ", " in names else
                     f"ratio {row['ratio']:.3g}, updated from {names}'s measured ratio")
    notes += [] if beneficial is not False or name == "none" else [why]
    notes += structure_notes(structure, runtime, dev.cpu.arch)
    if not supported:
        return Candidate(setting=name, applicable=False, notes=(f"not supported on {dev.name}/{runtime}: {why}",))
    acc, acc_iv, acc_src = row.get("accuracy_drop_pct"), None, row.get("accuracy_source")
    if name in measured:
        acc, acc_iv, acc_src = measured[name], None, "measured"
    return Candidate(setting=name, latency_ms=row["latency_ms"], latency_ms_interval=tuple(row["latency_ms_interval"]),
                     energy_mj=row.get("energy_mj"), energy_mj_interval=_tuple(row.get("energy_mj_interval")),
                     energy_is_estimate=bool(row.get("energy_is_estimate", True)),
                     size_bytes=float(size_fn(lm, name)), accuracy_drop_pct=acc, accuracy_drop_interval=acc_iv,
                     accuracy_source=acc_src, ratio_source=row.get("ratio_source"), notes=tuple(notes))


def structure_notes(st: dict | None, runtime: str = "", arch: str = "") -> list[str]:
    """What the setting does to this graph that moves latency against the MAC count, in words.
    ``runtime``/``arch``: notes about onnxruntime's x86 CPU kernels only where those are the target's
    (on Arm, onnxruntime runs int8 activations as they are and fuses those groups)."""
    if not st:
        return []
    out = []
    macs = sum(v for k, v in st.items() if k.startswith("q1_mac_"))
    unfused = st.get("q1_mac_conv_dqw", 0.0) / macs if macs > 0 else 0.0
    converts = st.get("q1_q_act", 0.0) > st.get("q0_q_act", 0.0)
    x86 = arch.lower() in ("x86_64", "amd64", "x86", "i686")
    unfused_note = runtime.startswith("onnxruntime-cpu") and x86 and converts and unfused >= 0.25
    if unfused_note:
        out.append(f"onnxruntime cannot fuse the quantized convolutions holding {unfused:.0%} of its MACs (their "
                   "int8 tensors are read twice, e.g. by a SiLU/GELU/h-swish or a skip connection): they run in "
                   "float, de-quantizing their weights on every run, with quantize/de-quantize work added")
    for m in (8, 16):
        before, after = st[f"v_align{m}_share"] - st[f"v_d_align{m}"], st[f"v_align{m}_share"]
        if before - after >= 0.25:
            out.append(f"leaves channel counts that are not multiples of {m} (Conv MACs in such layers {before:.0%} -> "
                       f"{after:.0%}): blocked convolution kernels may no longer apply, so it can be slower than its "
                       f"{1 - st['v_mac_ratio']:.0%} MAC cut suggests")
            break
    # the unfused note already says the weights are de-quantized on every run
    if not unfused_note and (st["v_log_dq_weight_per_mac"] > -4.0 or st["v_log_dq4_weight_per_mac"] > -4.0):
        per_mac = math.exp(max(st["v_log_dq_weight_per_mac"], st["v_log_dq4_weight_per_mac"]))
        out.append(f"de-quantizes its weights on every run ({per_mac:.2g} weight elements per MAC)")
    return out


def _tuple(v):
    return tuple(v) if v is not None and all(x is not None and math.isfinite(x) for x in v) else None


def _bundle_summary(bundle) -> dict:
    m = bundle.manifest
    return {"path": str(bundle.path), "training": m.get("training_summary") or {k: m.get(k) for k in
            ("n_records", "n_networks", "families", "training_data_hash") if k in m},
            "evaluation": m.get("evaluation_headline") or {}, "interval_method": m.get("conformal", {}).get("method"),
            "held_out": ((m.get("evaluation") or {}).get("protocol") or {}).get("held_out", "family"),
            "noise_floor": _noise_summary((m.get("evaluation") or {}).get("noise_floor")),
            "per_setting_ratio": (m.get("evaluation") or {}).get("per_setting_ratio") or {},
            "calibration": _calibration_summary(m.get("calibration")),
            "best_measured_pair": next(iter((m.get("network_update") or {}).get("best_pairs") or []), None),
            "applicability_check": (m.get("applicability") or {}).get("held_out_check")}


def _noise_summary(nf: dict | None) -> dict | None:
    """How well a repeat measurement agrees with the original (the ceiling for any predictor), if known."""
    rep, passes = (nf or {}).get("repeat") or {}, (nf or {}).get("passes") or {}
    if rep.get("ratio_within_10pct") is None and not passes.get("n"):
        return None
    return {"ratio_within_10pct": rep.get("ratio_within_10pct"), "ratio_spearman_median": rep.get("ratio_spearman_median"),
            "n_ratio_pairs": rep.get("n_ratio_pairs"), "passes_within_10pct": passes.get("within_10pct"),
            "n_passes": passes.get("n")}


def _calibration_summary(cal: dict | None) -> dict | None:
    """What a calibrated or device-transferred bundle was adapted from (None for a plain bundle)."""
    if not cal:
        return None
    base = cal.get("base_bundle") or {}
    return {"method": cal.get("method"), "base": f"{base.get('device')}/{base.get('runtime')}",
            "n_networks": cal.get("n_networks"), "fitted": bool(cal.get("n_networks") or cal.get("n_fit_pairs"))}


def _measure_accuracy(lm, names: list[str], data_path) -> dict:
    """Accuracy drop (pp) with labels, else 100 * (1 - output cosine), per setting, on this host."""
    from advisor.compression import data as cdata
    from advisor.compression import get_setting
    from profiling.accuracy import cosine_per_sample, topk_accuracy
    from profiling.runtimes.ort_session import make_session, run_samples

    calib = cdata.load_npz(data_path, lm)
    feeds = list(calib.feeds())
    ref = run_samples(make_session(lm.model.SerializeToString()), feeds)[0]
    out = {"none": 0.0}
    for name in names:
        if name == "none":
            continue
        model = get_setting(name).apply(lm, calib).model
        got = run_samples(make_session(model.SerializeToString()), feeds)[0]
        if calib.labels is not None and ref.ndim == 2:
            out[name] = 100.0 * (topk_accuracy(ref, calib.labels) - topk_accuracy(got, calib.labels))
        else:
            out[name] = 100.0 * float(1.0 - cosine_per_sample(ref, got).mean())
    return out


def recommend(model_path, device: str, constraints: Constraints, objective: str = "latency",
              runtime: str | None = None, data=None, risk: str = "pessimistic", bundle_dir=None,
              input_shapes: dict | None = None, measured_ratios: dict | None = None,
              measured_from: list | None = None) -> Recommendation:
    """Choose the setting that meets ``constraints`` and is best on ``objective``, with the reason.
    ``measured_ratios``, ``measured_from`` as for ``predict``."""
    pred = predict(model_path, device, runtime, data, bundle_dir, input_shapes, measured_ratios, measured_from)
    outcome = decide(list(pred.candidates), constraints, objective, risk)
    reason = explain(outcome, constraints, objective, risk, pred)
    return Recommendation(model=pred.model, device=pred.device, runtime=pred.runtime, constraints=constraints,
                          objective=objective, risk=risk, candidates=tuple(outcome.candidates),
                          setting=outcome.choice.setting if outcome.choice else None, reason=reason,
                          bundle=pred.bundle)


# Without an accuracy budget the advisor optimises what it was asked to, but says so when the choice is
# expected to cost more accuracy than this (pruning without retraining can cost tens of points).
UNBUDGETED_DROP_PP = 1.0


def explain(outcome, constraints: Constraints, objective: str, risk: str, pred: Prediction) -> str:
    """One paragraph: what was chosen, which constraint binds, what was traded, how sure we are."""
    base = next((c for c in outcome.candidates if c.setting == "none"), None)
    ev = pred.bundle.get("evaluation") or {}
    sure = _sureness(ev, pred, outcome.choice.setting if outcome.choice else None)
    bound = "the pessimistic end of each 90% interval" if risk == "pessimistic" else "point predictions"
    if outcome.choice is None:
        near = closest(outcome.candidates, constraints, 3)
        misses = "; ".join(f"{c.setting} misses {', '.join(c.violations) or 'nothing'}" for c in near)
        return (f"No setting meets the constraints on {pred.device}/{pred.runtime} (judged on {bound}). "
                f"Closest: {misses}. Relax a budget or use --risk expected. {sure}")
    c = outcome.choice
    parts = [f"Recommend '{c.setting}' for {pred.device}/{pred.runtime}: best {objective} among "
             f"{sum(x.feasible for x in outcome.candidates)} feasible settings (judged on {bound})."]
    bind = binding_constraint(c, constraints, risk)
    if bind and bind[1] < 0.25:
        parts.append(f"The binding constraint is {bind[0]} ({100 * bind[1]:.0f}% slack left).")
    elif bind:
        parts.append(f"No budget binds (the tightest, {bind[0]}, has {100 * bind[1]:.0f}% slack left).")
    if base is not None and c.setting != "none" and base.latency_ms and base.size_bytes:
        parts.append(f"Versus the uncompressed model: latency {_pct(c.latency_ms, base.latency_ms)}, "
                     f"size {_pct(c.size_bytes, base.size_bytes)}, accuracy drop "
                     f"{'unknown' if c.accuracy_drop_pct is None else f'{c.accuracy_drop_pct:.2f} pp'}"
                     f" ({c.accuracy_source or 'no estimate'}).")
    elif c.setting == "none":
        parts.append("No compression setting beats the uncompressed model on this objective within the budgets"
                     + _rejected(outcome, c, objective) + ".")
    if c.latency_ms_interval:
        parts.append(f"Predicted latency {c.latency_ms:.3g} ms (90% interval {c.latency_ms_interval[0]:.3g}-"
                     f"{c.latency_ms_interval[1]:.3g} ms).")
    if c.notes:
        parts.append("Note: " + "; ".join(c.notes) + ".")
    beyond = pred.model.get("beyond_training")
    if beyond:
        parts.append(f"This network is larger than any the bundle was trained on (its latency prior is "
                     f"{beyond:.3g}x the slowest one's): its absolute latency rests on the physical prior (layer "
                     "times and op costs), the trees' correction fading out past that range (gone at 2x); the "
                     "ratios are the full model's.")
    if constraints.max_accuracy_drop_pct is None and (c.accuracy_drop_pct or 0.0) > UNBUDGETED_DROP_PP:
        parts.append(f"Warning: no accuracy budget was given, and this choice is expected to lose "
                     f"{c.accuracy_drop_pct:.1f} pp of accuracy ({c.accuracy_source or 'predicted'}); pass "
                     "--max-accuracy-drop (e.g. 1%) to rule such settings out.")
    if constraints.max_accuracy_drop_pct is not None and c.accuracy_source == "predicted":
        parts.append("The accuracy budget was judged on a predicted point value (no interval); pass --data to "
                     "measure the drop on your inputs.")
    parts.append(sure)
    return " ".join(parts)


def _sureness(ev: dict, pred: Prediction, setting: str | None = None) -> str:
    """The bundle's training data and its held-out-family error on the figures the choice rests on, and
    on the chosen ``setting``'s ratio alone where the bundle's evaluation has it."""
    tr = pred.bundle.get("training") or {}
    held = pred.bundle.get("held_out", "family")
    groups = f" ({len(tr.get('families') or [])} families)" if held == "family" else ""
    text = (f"Evidence: predictor bundle for {pred.device}/{pred.runtime} trained on {tr.get('n_records', '?')} "
            f"records of {tr.get('n_networks', '?')} networks{groups}.")
    cal = pred.bundle.get("calibration")
    if cal:
        text += (f" Its model was learned on {cal['base']} and adapted by {cal['method']}"
                 + (f" with {cal['n_networks']} networks of this target." if cal["n_networks"] else
                    ", not fitted on measurements of this target: treat its figures as a prior."))
    parts = []
    for key, label in (("latency_ms", "latency"), ("ratio", "latency ratio"), ("accuracy_drop_pct", "accuracy drop")):
        e = ev.get(key)
        if not e:
            continue
        unit = "pp" if key == "accuracy_drop_pct" else "%"
        err = e.get("median_abs_err_pp", e.get("median_abs_err_pct"))
        parts.append(f"{label} median error {err:.3g}{unit}, {100 * e['within_tol']:.0f}% within "
                     f"{e['tolerance']}, 90% intervals covered {100 * e['coverage']:.0f}%")
    if parts:
        how = {"family": "whole families", "model.name": "each network"}.get(held, f"each '{held}' group")
        text += f" With {how} held out: " + "; ".join(parts) + "."
        own = (pred.bundle.get("per_setting_ratio") or {}).get(setting) if setting not in (None, "none") else None
        if own and own.get("n"):
            text += (f" For '{setting}' alone: latency ratio median error {own['median_abs_err_pct']:.3g}%, "
                     f"{100 * own['within_tol']:.0f}% within 10 pct ({own['n']} held-out predictions).")
        noise = pred.bundle.get("noise_floor") or {}
        if noise.get("ratio_within_10pct") is not None:
            text += (f" Repeatability: re-measured in one later session, a ratio was within ±10% of the "
                     f"original for {100 * noise['ratio_within_10pct']:.0f}% of {noise['n_ratio_pairs']} variants "
                     "(that session's own noise included).")
        if noise.get("n_passes"):
            text += (f" Each ratio label was measured again in quiet passes: two passes within ±10% of each other for "
                     f"{100 * noise['passes_within_10pct']:.1f}% of {noise['n_passes']} variants.")
        text += _nearest_text(pred)
    transfer = []
    if ev.get("board_factor"):
        b = ev["board_factor"]
        transfer.append(f"board factor {b['median_abs_err_pct']:.2g}% median error with each of its {b['n']} "
                        "same-network pairs held out")
    if ev.get("fp16_latency"):
        f = ev["fp16_latency"]
        transfer.append(f"fp16 latency {f['median_abs_err_pct']:.2g}% median error with each of {f['n']} "
                        "published networks held out")
    if transfer:
        text += " Transfer: " + "; ".join(transfer) + "."
    return text


def _nearest_text(pred: Prediction) -> str:
    """The training networks this one resembles (``applicability.describe``), with that family's held-out
    figure, and a caution where it lies farther from all of them than held-out families typically did."""
    near = pred.model.get("nearest_training")
    if not near:
        return ""
    k = sum(near["neighbours"].values())
    text = (f" Its {k} nearest training networks by graph make-up (op shares and size): "
            + ", ".join(f"{n} '{f}'" for f, n in sorted(near["neighbours"].items(), key=lambda x: -x[1])))
    if near.get("family_within_10pct") is not None:
        text += (f"; with the '{near['family']}' family held out, {100 * near['family_within_10pct']:.0f}% of its "
                 "ratios were predicted within ±10%")
    text += "."
    if near.get("far"):
        check = (pred.bundle.get("applicability_check") or {})
        far, close = check.get("far") or {}, check.get("near") or {}
        text += (f" It lies {near['distance_vs_held_out']:.2g}x as far from the nearest training network as a held-out "
                 "family's networks typically lay from the rest, farther than 90% of them: expect larger errors")
        if far.get("within_10pct") is not None and close.get("within_10pct") is not None:
            text += (f" (families held out, such networks had {100 * far['within_10pct']:.0f}% of their ratios "
                     f"within ±10%, the others {100 * close['within_10pct']:.0f}%)")
        text += "."
    return text


def _rejected(outcome, choice, objective: str) -> str:
    """'; better on <objective> but rejected: a (why), b (why)' for up to three candidates."""
    from advisor.decision import metric_of

    attr = metric_of(objective)
    best = getattr(choice, attr)
    better = [c for c in outcome.candidates if c.applicable and not c.feasible and getattr(c, attr) is not None
              and best is not None and getattr(c, attr) < best]
    better.sort(key=lambda c: getattr(c, attr))
    if not better:
        return ""
    return "; better on " + objective + " but rejected: " + ", ".join(
        f"{c.setting} ({c.violations[0]})" for c in better[:3])


def _pct(new: float, old: float) -> str:
    return f"{100 * (new - old) / old:+.0f}%"
