"""The on-device agent.

    python -m profiling run PLAN.json --out FILE.jsonl [--wait]
    python -m profiling measure-one JOB.json RESULT.json     (internal: one item, in a child)

A plan is JSON: {"device": {"name": ...}, "runtime": "onnxruntime-cpu", "threads": 1,
"protocol": {...}, "power": "auto", "timeout_s": 300, "items": [{"model_path", "model": {"name",
"sha256"}, "setting": {"name"}, "baseline_path"?, "data_path"?}]}. Relative paths in items are
resolved against the plan's folder. Exit codes: 0 ok, 1 error, 2 usage, 130 interrupted.
"""
import argparse
import json
import os
import sys


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one ``error:`` line and exit 2, like every other error of the agent."""

    def error(self, message):
        sys.stderr.write("error: {}. See '{} --help'.\n".format(" ".join(message.split()), self.prog))
        sys.exit(2)


def main(argv=None):
    parser = _OneLineParser(prog="python -m profiling", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="{run}")  # measure-one is internal
    run = sub.add_parser("run", help="measure every item of a plan into an append-only JSONL file")
    run.add_argument("plan")
    run.add_argument("--out", required=True)
    run.add_argument("--wait", action="store_true", help="wait for the device lock instead of refusing")
    one = sub.add_parser("measure-one")
    one.add_argument("job")
    one.add_argument("result")
    args = parser.parse_args(argv)
    if args.command == "measure-one":
        return _measure_one(args.job, args.result)
    if args.command == "run":
        return _run(args.plan, args.out, args.wait)
    parser.print_help(sys.stderr)
    return 2


def _measure_one(job_path, result_path):
    from profiling.runner import measure_item
    from profiling.sweep import die_with_parent
    die_with_parent()
    with open(job_path) as fh:
        job = json.load(fh)
    rec = measure_item(job["item"], job["plan"])
    tmp = result_path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(rec, fh)
    os.rename(tmp, result_path)
    return 0


def _run(plan_path, out_path, wait):
    from profiling.sweep import LockBusyError, run_plan
    try:
        with open(plan_path) as fh:
            plan = json.load(fh)
        _check_plan(plan, plan_path)
        _resolve_paths(plan, os.path.dirname(os.path.abspath(plan_path)))
        plan["wait_for_lock"] = wait or plan.get("wait_for_lock", False)
        counts = run_plan(plan, out_path, progress=_print_progress)
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted; rerun the same command to resume\n")
        return 130
    except (IOError, OSError, ValueError, KeyError, LockBusyError) as exc:
        sys.stderr.write("error: {}\n".format(" ".join(str(exc).split())))
        return 1
    sys.stdout.write(json.dumps(counts) + "\n")
    return 0


def _check_plan(plan, path):
    """ValueError naming the first thing a plan lacks (a plan is JSON from the workstation)."""
    if not isinstance(plan, dict) or not isinstance(plan.get("items"), list):
        raise ValueError("plan {} must be a JSON object with an 'items' list".format(path))
    if not isinstance(plan.get("device", {}), dict) or not isinstance(plan.get("protocol", {}), dict):
        raise ValueError("plan {}: 'device' and 'protocol' must be JSON objects".format(path))
    for i, item in enumerate(plan["items"]):
        ok = (isinstance(item, dict) and isinstance(item.get("model"), dict)
              and isinstance(item["model"].get("sha256"), str) and isinstance(item.get("setting"), dict)
              and isinstance(item["setting"].get("name"), str)
              and (isinstance(item.get("model_path"), str) or isinstance(item.get("record"), dict)))
        if not ok:
            raise ValueError("plan {}: item {} needs 'model_path', 'model.sha256' and 'setting.name'".format(path, i))


def _resolve_paths(plan, base):
    for item in plan.get("items", []):
        for key in ("model_path", "baseline_path", "data_path"):
            if item.get(key) and not os.path.isabs(item[key]):
                item[key] = os.path.join(base, item[key])


def _print_progress(event, item, rec):
    if event == "done":
        sys.stderr.write("{} {} {}\n".format(rec["status"], item["model"]["name"], item["setting"]["name"]))


if __name__ == "__main__":
    sys.exit(main())
