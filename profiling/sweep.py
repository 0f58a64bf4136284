"""Run a plan of (model, setting) items, each in a child process, into an append-only JSONL file.

Resumable: an item whose record id is already in the output (ok, failed or skipped) is not run
again. A crash or hang of the runtime becomes a ``failed`` record and the sweep goes on. One job
per device at a time (an flock). Python 3.6 syntax; standard library only.
"""
import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from profiling.records import append_record, read_records, record_key


class LockBusyError(RuntimeError):
    """Another profiling job holds the device lock."""


# Descriptors of device locks this process holds. A forked child shares the flock through its copy
# of the descriptor, so it closes them: a child outliving a killed sweep must not keep the device.
_HELD_LOCK_FDS = set()
# Linux prctl option: deliver a signal to this process when its parent dies.
_PR_SET_PDEATHSIG = 1


class DeviceLock(object):
    """An exclusive flock on ``<lock_dir>/advisor-profile-<device>.lock``; held for a whole sweep."""

    def __init__(self, device, lock_dir=None, wait=False):
        folder = lock_dir or os.environ.get("ADVISOR_LOCK_DIR") or tempfile.gettempdir()
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in str(device))
        self.path = os.path.join(folder, "advisor-profile-{}.lock".format(safe))
        self.device = device
        self.wait = wait
        self.fd = None

    def __enter__(self):
        import fcntl
        # O_NOFOLLOW: in a shared temp folder a planted symlink must not make us truncate its target.
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        flags = fcntl.LOCK_EX if self.wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(self.fd, flags)
        except (IOError, OSError) as exc:
            holder = os.pread(self.fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(self.fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise LockBusyError("another profiling job (pid {}) is using device '{}' (lock {}); wait for "
                                    "it to finish or pass --wait".format(holder, self.device, self.path)) from exc
            raise
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode("ascii"), 0)
        _HELD_LOCK_FDS.add(self.fd)
        return self

    def __exit__(self, *exc):
        import fcntl
        _HELD_LOCK_FDS.discard(self.fd)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def item_key(item, plan):
    device = (plan.get("device") or {"name": "host"})["name"]
    return record_key(item["model"]["sha256"], item["setting"]["name"], device,
                      plan.get("runtime", "onnxruntime-cpu"), int(plan.get("threads", 1)))


def done_keys(out_path):
    """Record ids already in the output file (any final status)."""
    return {r["record_id"] for r in read_records(out_path)}


def run_plan(plan, out_path, progress=None, python=None, lock=True):
    """Measure every item of ``plan`` not yet in ``out_path``; return counts by outcome.

    ``progress(event, item, record)`` is called with event "skip" (already done), "start" or "done".
    ``lock=False`` when the caller already holds the device lock (flock is per open file, so taking
    it again here would refuse).
    """
    if not lock:
        return _run_items(plan, out_path, progress, python)
    device = (plan.get("device") or {"name": "host"})["name"]
    with DeviceLock(device, plan.get("lock_dir"), wait=bool(plan.get("wait_for_lock"))):
        return _run_items(plan, out_path, progress, python)


def _run_items(plan, out_path, progress, python):
    counts = {"ok": 0, "failed": 0, "skipped": 0, "already_done": 0}
    done = done_keys(out_path)
    for item in plan["items"]:
        if item_key(item, plan) in done:
            counts["already_done"] += 1
            _call(progress, "skip", item, None)
            continue
        _call(progress, "start", item, None)
        rec = item.get("record") or run_child(item, plan, python=python)
        append_record(out_path, rec)
        counts[rec["status"]] += 1
        _call(progress, "done", item, rec)
    return counts


def _call(progress, event, item, rec):
    if progress is not None:
        progress(event, item, rec)


def run_child(item, plan, python=None):
    """Measure one item in a child process; a crash or timeout becomes a failed record.

    Where the OS can fork (Linux, incl. Jetson L4T), the child is forked from this process after
    numpy/onnxruntime are imported, which saves their import on every item; ``plan["isolation"] =
    "spawn"`` (or no fork) starts ``python -m profiling measure-one`` instead. Either way the child
    has its own process group and is killed on timeout.
    """
    from profiling.runner import base_record
    timeout = float(plan.get("timeout_s", 300))
    with tempfile.TemporaryDirectory(prefix="advisor-item-") as tmp:
        job, result = os.path.join(tmp, "job.json"), os.path.join(tmp, "result.json")
        if hasattr(os, "fork") and plan.get("isolation", "fork") == "fork" and python is None:
            code, err = _fork(item, plan, result, os.path.join(tmp, "stderr.txt"), timeout)
        else:
            with open(job, "w") as fh:
                json.dump({"item": item, "plan": plan}, fh)
            cmd = [python or sys.executable, "-m", "profiling", "measure-one", job, result]
            code, err = _spawn(cmd, timeout)
        if code == 0 and os.path.exists(result):
            with open(result) as fh:
                return json.load(fh)
    if code is None:
        reason = "timed out after {:.0f} s (runtime hung); process killed".format(timeout)
    elif code < 0:
        reason = "runtime crashed: killed by signal {}{}".format(_signame(-code), _tail(err))
    else:
        reason = "measurement failed (exit {}){}".format(code, _tail(err))
    return base_record(item, plan, status="failed", error=reason)


def _fork(item, plan, result, errfile, timeout):
    """(exit code, negative signal, or None on timeout; stderr text) of a forked measurement."""
    import profiling.runner  # noqa: F401  (imported before fork: the child starts warm)
    parent = os.getpid()
    # SIGINT/SIGTERM are deferred across the fork: one arriving between fork() and the try below
    # would leave the child measuring while the parent deletes its temp folder. Re-raised inside the
    # try, a deferred signal gets the child killed. (Deferred by Python handler, not by signal mask:
    # another thread of the process would take a masked signal and Python would still raise here.)
    held = _hold_signals()
    try:
        pid = os.fork()
    except BaseException:
        _release_signals(held)
        raise
    if pid == 0:
        _forked_child(item, plan, result, errfile, parent)
    deadline = time.monotonic() + timeout
    try:
        _release_signals(held)
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                _kill_pid_group(pid)
                return None, ""
            time.sleep(0.002)
    except BaseException:
        _kill_pid_group(pid)  # SIGINT/SIGTERM in the parent: never leave a child measuring
        raise
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
    return code, _read(errfile)


def _forked_child(item, plan, result, errfile, parent):
    """Runs in the forked child: measure, write the record, and leave with os._exit. Nothing it
    prints reaches the sweep's own stdout/stderr: those are pointed at devnull before anything
    can fail, then stderr at ``errfile``."""
    code = 1
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        for fd in list(_HELD_LOCK_FDS):
            os.close(fd)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent's deferring handlers are not ours
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        die_with_parent()
        if os.getppid() != parent:  # the sweep died before prctl took effect
            return
        os.setsid()
        fd = os.open(errfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 2)
        from profiling.runner import measure_item
        rec = measure_item(item, plan)
        with open(result + ".tmp", "w") as fh:
            json.dump(rec, fh)
        os.rename(result + ".tmp", result)
        code = 0
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        os._exit(code)


class _Deferred(object):
    """A signal handler that only records which signals arrived."""

    def __init__(self):
        self.got = []

    def __call__(self, signum, frame):
        self.got.append(signum)


def _hold_signals():
    """Defer SIGINT and SIGTERM (main thread only: elsewhere handlers cannot be set; returns None)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    deferred = _Deferred()
    return deferred, {s: signal.signal(s, deferred) for s in (signal.SIGINT, signal.SIGTERM)}


def _release_signals(held):
    """Restore the handlers and act on any deferred signal as they would have (KeyboardInterrupt for
    SIGINT; the default action, re-delivered, for SIGTERM)."""
    if held is None:
        return
    deferred, previous = held
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    for signum in dict.fromkeys(deferred.got):
        handler = previous[signum]
        if callable(handler):
            handler(signum, None)
        elif handler != signal.SIG_IGN:
            os.kill(os.getpid(), signum)


def die_with_parent():
    """Ask Linux to SIGKILL this (child) process when the sweep that started it dies, so a killed
    sweep leaves no measurement running (best effort: a no-op where prctl is missing)."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _kill_pid_group(pid):
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except OSError:
            pass
    try:
        os.waitpid(pid, 0)
    except OSError:
        pass


def _read(path):
    try:
        with open(path) as fh:
            return fh.read()
    except (IOError, OSError):
        return ""


def _spawn(cmd, timeout, shell=False, cwd=None):
    """(exit code or None on timeout, stderr text). The child gets its own process group;
    ``shell``/``cwd`` serve command templates (profiling.agent_command)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_package_root(), os.environ.get("PYTHONPATH")])))
    proc = None
    try:
        proc = subprocess.Popen(cmd, shell=shell, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=env, start_new_session=True)
        _, err = proc.communicate(timeout=timeout)
        return proc.returncode, err.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return None, ""
    except BaseException:
        if proc is not None:
            _kill_group(proc)  # SIGINT/SIGTERM in the parent: never leave a child measuring
        raise


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def _package_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _signame(num):
    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)


def _tail(err):
    lines = [ln.strip() for ln in (err or "").strip().splitlines() if ln.strip()]
    return ": " + lines[-1][:300] if lines else ""


