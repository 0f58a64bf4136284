"""Measurement protocol: warm-up, adaptive repetition until the confidence interval is tight,
statistics over raw samples, interleaved ratios, and hypervisor steal time.

The 2018 study's rule, improved: after warm-up, repeat until the 95% confidence half-width of the
mean is under ``target_rel_ci`` of the mean, bounded by ``min_runs``/``max_runs`` and a time budget.
Python 3.6 syntax; standard library + numpy-free (so the fake runtime tests need nothing).
"""
import math
import time

# Two-sided 95% Student-t critical values for df = 1..30; beyond, the normal 1.96 is close enough
# after a small correction (Cornish-Fisher first term).
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042)


class Protocol(object):
    """Repetition rule. Times in seconds; ``target_rel_ci`` is a fraction of the mean (0.05 = 5%)."""

    def __init__(self, warmup_runs=5, min_runs=10, max_runs=300, target_rel_ci=0.05, time_budget_s=20.0,
                 interleaved=False):
        if not (0 <= warmup_runs and 2 <= min_runs <= max_runs):
            raise ValueError("need warmup_runs >= 0 and 2 <= min_runs <= max_runs")
        if not (0 < target_rel_ci < 1) or time_budget_s <= 0:
            raise ValueError("need 0 < target_rel_ci < 1 and time_budget_s > 0")
        self.warmup_runs = int(warmup_runs)
        self.min_runs = int(min_runs)
        self.max_runs = int(max_runs)
        self.target_rel_ci = float(target_rel_ci)
        self.time_budget_s = float(time_budget_s)
        self.interleaved = bool(interleaved)

    def to_dict(self):
        return {"warmup_runs": self.warmup_runs, "min_runs": self.min_runs, "max_runs": self.max_runs,
                "target_rel_ci": self.target_rel_ci, "confidence": 0.95, "time_budget_s": self.time_budget_s,
                "interleaved": self.interleaved}

    @classmethod
    def from_dict(cls, d):
        keys = ("warmup_runs", "min_runs", "max_runs", "target_rel_ci", "time_budget_s", "interleaved")
        return cls(**{k: d[k] for k in keys if k in d})


def t95(df):
    """Two-sided 95% Student-t critical value for ``df`` degrees of freedom."""
    if df < 1:
        return float("inf")
    if df <= len(_T95):
        return _T95[df - 1]
    return 1.96 + 2.4 / df


def summarize(samples_ms):
    """Statistics of raw samples (ms): mean, median, p90, p99, min, max, std, 95% CI half-width."""
    xs = sorted(samples_ms)
    n = len(xs)
    mean = sum(xs) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    half = t95(n - 1) * std / math.sqrt(n) if n > 1 else float("inf")
    return {"samples_ms": list(samples_ms), "n_runs": n, "mean_ms": mean, "median_ms": quantile(xs, 0.5),
            "p90_ms": quantile(xs, 0.9), "p99_ms": quantile(xs, 0.99), "min_ms": xs[0], "max_ms": xs[-1],
            "std_ms": std, "ci95_halfwidth_ms": half if n > 1 else None,
            "rel_ci95": (half / mean) if n > 1 and mean > 0 else None}


def quantile(sorted_xs, q):
    """Linear-interpolated quantile of an already sorted list (numpy's default method)."""
    pos = (len(sorted_xs) - 1) * q
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


class _Running(object):
    """Welford's running mean and variance: O(1) per sample, so checking the stopping rule after
    every run costs the same at run 10 as at run 10 000."""

    def __init__(self):
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, x):
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    def halfwidth_within(self, target):
        """Is the 95% CI half-width of the mean within ``target`` (in the units of x)?"""
        if self.n < 2:
            return False
        return t95(self.n - 1) * math.sqrt(self.m2 / (self.n - 1) / self.n) <= target


def measure(run_once, protocol, clock=time.perf_counter):
    """Time ``run_once()`` under ``protocol``; return (summary dict, stopping reason).

    The reason is ``"ci"`` (target reached), ``"max_runs"`` or ``"time_budget"``.
    """
    for _ in range(protocol.warmup_runs):
        run_once()
    samples, stats = [], _Running()
    start = clock()
    while True:
        t0 = clock()
        run_once()
        t1 = clock()
        samples.append((t1 - t0) * 1000.0)
        stats.add(samples[-1])
        reason = _stop_reason(stats, protocol.target_rel_ci * stats.mean, protocol, t1 - start)
        if reason:
            summary = summarize(samples)
            summary["stopping"] = reason
            return summary, reason


def _stop_reason(stats, target, protocol, elapsed_s):
    if stats.n >= protocol.min_runs and stats.halfwidth_within(target):
        return "ci"
    if stats.n >= protocol.max_runs:
        return "max_runs"
    if elapsed_s >= protocol.time_budget_s and stats.n >= protocol.min_runs:
        return "time_budget"
    return None


def measure_interleaved(run_base, run_variant, protocol, clock=time.perf_counter):
    """Alternate baseline and variant runs in one process; return (base, variant, ratio) summaries.

    The ratio is variant/baseline: the median of per-pair ratios with a 95% CI from the pairs'
    log-ratios. On a noisy host this holds to a few percent while absolute times drift 10-30%.
    """
    for _ in range(protocol.warmup_runs):
        run_base()
        run_variant()
    base, var, logs, stats = [], [], [], _Running()
    start = clock()
    while True:
        order = (run_base, run_variant) if len(base) % 2 == 0 else (run_variant, run_base)
        times = {}
        for fn in order:
            t0 = clock()
            fn()
            times[fn] = (clock() - t0) * 1000.0
        base.append(times[run_base])
        var.append(times[run_variant])
        logs.append(math.log(max(times[run_variant], 1e-9) / max(times[run_base], 1e-9)))
        stats.add(logs[-1])
        reason = _stop_reason(stats, math.log1p(protocol.target_rel_ci), protocol, clock() - start)
        if reason:
            return summarize(base), summarize(var), _ratio_summary(logs, reason)


def _ratio_summary(logs, reason):
    n = len(logs)
    mean = sum(logs) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1)) if n > 1 else 0.0
    half = t95(n - 1) * std / math.sqrt(n) if n > 1 else float("inf")
    ratios = sorted(math.exp(x) for x in logs)
    return {"ratio_median": quantile(ratios, 0.5), "ratio_geomean": math.exp(mean),
            "ratio_ci95": [math.exp(mean - half), math.exp(mean + half)], "n_pairs": n, "stopping": reason}


def read_cpu_times(path="/proc/stat"):
    """(steal, total) jiffies of the aggregate CPU line, or None where /proc/stat is absent."""
    try:
        with open(path) as fh:
            fields = fh.readline().split()
    except (IOError, OSError):
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:]]
    steal = values[7] if len(values) > 7 else 0
    # guest and guest_nice (fields 9, 10) are already included in user and nice.
    return steal, sum(values[:8])


def steal_pct(before, after):
    """Hypervisor steal time between two read_cpu_times() readings, in percent of CPU time."""
    if before is None or after is None:
        return None
    total = after[1] - before[1]
    return 100.0 * (after[0] - before[0]) / total if total > 0 else 0.0
