"""Measure one setting (or two), predict the others: the host bundle's predictions for a model before
and after measured ratios (``--measured``), against ratios measured here.

    .venv/bin/python benchmarks/measured_update.py [MODEL] [--measure int8-static-pt] \
        [--check int8-static-pc,chprune25+int8-static-pc,chprune50+int8-static-pc,wq8,wq4] [--pairs 60]

Every setting of ``--measure`` and ``--check`` is compressed (``advisor.api.compress``) and its ratio
measured interleaved with the original in this process (``profiling.measure.measure_interleaved``, one
thread, 5 warm-up pairs, ``--pairs`` pairs, median of the per-pair ratios, as the data set's labels).
Then ``api.predict`` runs twice on the host bundle: alone, and with the ``--measure`` settings' measured
ratios (a comma list: two give the joint update, e.g. ``--measure int8-static-pc,wq4``); each checked setting's predicted ratio is printed with its error against the measurement, and
where its update came from. Default model: ``examples/resnet8.onnx``. Prints figures; asserts nothing.
About a minute. Measure on a quiet machine: nothing else running.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def measured_ratio(base: Path, variant: Path, pairs: int) -> float:
    from label_noise import _one_ratio

    from profiling.measure import Protocol

    protocol = Protocol(warmup_runs=5, min_runs=pairs, max_runs=pairs, target_rel_ci=0.001, time_budget_s=1e6)
    return _one_ratio({"base": str(base), "variant": str(variant)}, protocol)


def _ratios(pred) -> dict:
    c = {x.setting: x for x in pred.candidates if x.latency_ms}
    return {s: (x.latency_ms / c["none"].latency_ms, x.notes[0] if x.notes else "") for s, x in c.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", type=Path, default=REPO / "examples" / "resnet8.onnx")
    ap.add_argument("--measure", default="int8-static-pt",
                    help="the settings whose measured ratios are given (comma-separated)")
    ap.add_argument("--check", default="int8-static-pc,chprune25+int8-static-pc,chprune50+int8-static-pc,wq8,wq4",
                    help="settings measured to check the predictions (comma-separated)")
    ap.add_argument("--pairs", type=int, default=60)
    args = ap.parse_args()
    from advisor import api

    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's per-weight warnings
    check = [s for s in args.check.split(",") if s]
    given = [s for s in args.measure.split(",") if s]
    measured = {}
    with tempfile.TemporaryDirectory() as tmp:
        for s in [*given, *check]:
            var = Path(tmp) / f"{s.replace('+', '_')}.onnx"
            api.compress(args.model, s, var, check_fidelity=False)
            measured[s] = measured_ratio(args.model, var, args.pairs)
    before = _ratios(api.predict(args.model, device="host"))
    after = _ratios(api.predict(args.model, device="host", measured_ratios={s: measured[s] for s in given}))
    print(f"{args.model.name} on host/onnxruntime-cpu; measured " + ", ".join(
        f"{s} {measured[s]:.3f} (predicted {before[s][0]:.3f})" for s in given))
    print(f"   {'setting':<26} {'measured':>8}  {'predicted':>9} {'error':>7}  {'updated':>8} {'error':>7}  source")
    for s in check:
        m, (p0, _), (p1, note) = measured[s], before[s], after[s]
        print(f"   {s:<26} {m:>8.3f}  {p0:>9.3f} {p0 / m - 1:>+7.1%}  {p1:>8.3f} {p1 / m - 1:>+7.1%}  "
              f"{note if note.startswith('ratio') else 'no pair: as predicted'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
