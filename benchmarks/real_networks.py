"""The host predictor on real-size networks it was never trained on: the study's networks (Qin et al.
2018: Inception v1-v4, ResNet-50/101/152, MobileNet v1; VGG-16/19 on request), 2-45 times the MACs of
the largest network in the host data set.

    .venv/bin/python benchmarks/real_networks.py [--networks mobilenet_v1,resnet50] \
        [--settings int8-static-pt,chprune25,...] [--work /tmp/advisor-real]

Builds each network from the zoo (random weights, nothing downloaded), predicts every setting with the
shipped host bundle, then in this process, one thread: times the uncompressed network, and for each
of ``--settings`` writes the compressed model (``advisor.api.compress``) and times it interleaved with
the original (the profiling protocol's ratio). Prints predicted vs measured latency ratio and
latency, with the predicted 90% intervals, and the share of measurements inside them. Asserts
nothing. Each network is measured in a process of its own. About 10 minutes for the defaults; VGG-16/19
can be named too (``--networks vgg16``: 9 minutes more, its static int8 quantization alone 70 s and
4.1 GB).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

NETWORKS = ("mobilenet_v1", "inception_v1", "inception_v2", "inception_v3", "inception_v4", "resnet50", "resnet101",
            "resnet152")
SETTINGS = ("int8-static-pt", "int8-dynamic", "fp16", "wq8", "chprune25", "chprune50")


def _inside(value: float, interval) -> bool:
    return interval is not None and interval[0] <= value <= interval[1]


def measure_network(name: str, settings: list[str], work: Path, advisor: str) -> list[dict]:
    """Predicted and measured figures for ``name`` under each setting (one dict per setting)."""
    import subprocess

    from advisor import api
    from advisor.advise import _structure_and_size
    from advisor.compression import data as cdata
    from advisor.features import extract_features
    from advisor.modelio import load_model
    from advisor.predictors.predictor import load_bundle
    from profiling.measure import Protocol, measure, measure_interleaved
    from profiling.runtimes.ort_session import make_session

    path = work / f"{name}.onnx"
    if not path.is_file():
        subprocess.run([advisor, "zoo", "build", name, "-o", str(work)], check=True, stdout=subprocess.DEVNULL)
    lm = load_model(path)
    wanted = ["none"] + settings
    structure, _ = _structure_and_size(lm, wanted)
    pred = {r["setting"]: r for r in load_bundle("host", "onnxruntime-cpu").predict(extract_features(lm).values, wanted,
                                                                                    structure=structure)}
    feed = next(cdata.synthetic(lm, n_samples=1).feeds())
    base = make_session(str(path), threads=1)
    protocol = Protocol(warmup_runs=3, min_runs=8, max_runs=60, time_budget_s=10)
    lat, _ = measure(lambda: base.run(None, feed), protocol)
    none = pred["none"]
    rows = [{"network": name, "setting": "none", "ratio": 1.0, "pred_ratio": 1.0, "ratio_interval": None,
             "latency_ms": lat["median_ms"], "pred_latency_ms": none["latency_ms"],
             "latency_interval": none["latency_ms_interval"]}]
    for s in settings:
        out = work / f"{name}-{s}.onnx"
        try:
            api.compress(path, s, out, check_fidelity=False)
        except Exception as exc:  # noqa: BLE001 - a setting that does not apply costs its row
            print(f"  {name} {s}: not applied ({str(exc).splitlines()[0][:100]})", file=sys.stderr)
            continue
        var = make_session(str(out), threads=1)
        _, v, r = measure_interleaved(lambda: base.run(None, feed), lambda sess=var: sess.run(None, feed), protocol)
        c = pred[s]
        rows.append({"network": name, "setting": s, "ratio": r["ratio_median"], "pred_ratio": c["ratio"],
                     "ratio_interval": c["ratio_interval"], "latency_ms": v["median_ms"],
                     "pred_latency_ms": c["latency_ms"], "latency_interval": c["latency_ms_interval"]})
        del var
        out.unlink(missing_ok=True)
    return rows


def _in_child(name: str, settings: list[str], work: Path) -> list[dict] | None:
    """``measure_network`` in a process of its own (memory held by one network's sessions and
    compressions is returned to the system before the next), or None if it failed."""
    import json
    import subprocess

    done = subprocess.run([sys.executable, __file__, "--one", name, "--settings", ",".join(settings), "--work", str(work)],
                          stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        print(f"{name}: measurement failed (exit {done.returncode})", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default=",".join(NETWORKS))
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--work", type=Path, default=Path("/tmp/advisor-real"))
    ap.add_argument("--one", help=argparse.SUPPRESS)  # the child: measure this network, print its rows as JSON
    args = ap.parse_args()
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    if args.one:
        import json

        print(json.dumps(measure_network(args.one, settings, args.work, str(Path(sys.executable).with_name("advisor")))))
        return 0
    from advisor.zoo.catalog import all_entries

    nets = [n.strip() for n in args.networks.split(",") if n.strip()]
    unknown = sorted(set(nets) - {e.name for e in all_entries()})
    if unknown:
        print(f"error: unknown zoo network(s) {', '.join(unknown)}; see 'advisor zoo list'", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"{'network':13s} {'setting':15s} {'ratio meas.':>11s} {'pred. [90% int.]':>22s} {'err':>6s} "
          f"{'latency ms meas.':>16s} {'pred. [90% int.]':>24s} {'err':>6s}")
    rows, t0 = [], time.time()
    for name in nets:
        for r in _in_child(name, settings, args.work) or []:
            rows.append(r)
            ri = r["ratio_interval"]
            ratio_iv = f"[{ri[0]:.3f}, {ri[1]:.3f}]" if ri else ""
            li = r["latency_interval"]
            print(f"{r['network']:13s} {r['setting']:15s} {r['ratio']:11.3f} {r['pred_ratio']:7.3f} {ratio_iv:>14s} "
                  f"{(r['pred_ratio'] / r['ratio'] - 1) * 100:+5.0f}% {r['latency_ms']:16.1f} {r['pred_latency_ms']:8.1f} "
                  f"[{li[0]:6.1f}, {li[1]:6.1f}] {(r['pred_latency_ms'] / r['latency_ms'] - 1) * 100:+5.0f}%", flush=True)
    var = [r for r in rows if r["setting"] != "none"]
    if var:
        within = sum(abs(r["pred_ratio"] / r["ratio"] - 1) <= 0.1 for r in var)
        inside = sum(_inside(r["ratio"], r["ratio_interval"]) for r in var)
        print(f"ratio: {within} of {len(var)} within +-10%, {inside} of {len(var)} inside the 90% interval")
    inside = sum(_inside(r["latency_ms"], r["latency_interval"]) for r in rows)
    base_err = sorted(abs(r["pred_latency_ms"] / r["latency_ms"] - 1) * 100 for r in rows if r["setting"] == "none")
    print(f"latency: {inside} of {len(rows)} inside the 90% interval; uncompressed latency median error "
          f"{base_err[len(base_err) // 2]:.1f}% over {len(base_err)} networks ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
