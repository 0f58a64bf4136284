"""Measure one item through a command template: the companion-machine path for boards whose Python
is too old for Dask (Jetson TX2, Python 3.6).

The job folder holds ``job.json`` (item + plan, model paths relative to the folder), copies of the
item's model/baseline/data files, and is where ``result.json`` must appear. The command runs through
the shell with the folder as working directory. Placeholders (each value shell-quoted):

    {job}      absolute path of job.json          {result}   absolute path result.json must have
    {dir}      the job folder                     {python}   this interpreter (sys.executable)
    {host}     the board's host name (``host`` argument; e.g. the Dask worker name)

Local (tests):  ``{python} -m profiling measure-one {job} {result}``
Over ssh:       ``ssh {host} mkdir -p /tmp/adv && scp -q {dir}/* {host}:/tmp/adv/ &&
                ssh {host} 'cd /tmp/adv && python3 -m profiling measure-one job.json result.json' &&
                scp -q {host}:/tmp/adv/result.json {result}``

A non-zero exit, a missing result or a timeout becomes a ``failed`` record, as in run_child.
Python 3.6 syntax; standard library only.
"""
import json
import os
import shlex
import shutil
import sys
import tempfile

from profiling.sweep import _spawn, _tail

_FILE_KEYS = ("model_path", "baseline_path", "data_path")


def run_agent_command(item, plan, template, host="", timeout=None, stage=True):
    """Run ``template`` for one item; return its record, or a failed record on any failure.

    ``stage=False`` keeps the item's paths as they are (storage shared with the board).
    """
    from profiling.runner import base_record
    timeout = float(timeout if timeout is not None else plan.get("timeout_s", 300))
    with tempfile.TemporaryDirectory(prefix="advisor-agent-") as tmp:
        job, result = os.path.join(tmp, "job.json"), os.path.join(tmp, "result.json")
        staged = stage_item(item, tmp) if stage else dict(item)
        with open(job, "w") as fh:
            json.dump({"item": staged, "plan": plan}, fh)
        values = {"job": job, "result": result, "dir": tmp, "python": sys.executable, "host": host or ""}
        try:
            cmd = template.format(**{k: shlex.quote(str(v)) for k, v in values.items()})
        except (KeyError, IndexError, ValueError) as exc:
            return base_record(item, plan, status="failed",
                               error="bad agent command template {!r}: {}".format(template, exc))
        code, err = _spawn(cmd, timeout, shell=True, cwd=tmp)
        if code == 0 and os.path.exists(result):
            try:
                with open(result) as fh:
                    return json.load(fh)
            except ValueError as exc:
                err = "unreadable result.json: {}".format(exc)
    if code is None:
        reason = "agent command timed out after {:.0f} s; killed".format(timeout)
    elif code == 0:
        reason = "agent command wrote no result{}".format(_tail(err))
    else:
        reason = "agent command failed (exit {}){}".format(code, _tail(err))
    return base_record(item, plan, status="failed", error=reason)


def stage_item(item, folder):
    """A copy of ``item`` whose files are copied into ``folder`` and named relative to it."""
    staged = dict(item)
    for key in _FILE_KEYS:
        src = item.get(key)
        if not src:
            continue
        name = "{}-{}".format(key.split("_")[0], os.path.basename(src))
        shutil.copyfile(src, os.path.join(folder, name))
        staged[key] = name
    return staged


