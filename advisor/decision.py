"""Constraints -> candidates -> Pareto front -> choice, with reasons (the house layout's "recommend.py";
named ``decision`` so that ``from advisor import recommend`` stays the public function).

Pure logic over per-setting predictions; no I/O, no printing. A candidate is feasible only when the
pessimistic end of each interval meets its constraint (``risk="pessimistic"``, the default), or its
point prediction does (``risk="expected"``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from advisor.errors import UsageError

OBJECTIVES = ("latency", "energy", "size", "accuracy")
RISKS = ("pessimistic", "expected")
# objective -> (candidate attribute, unit label)
_METRICS = {"latency": ("latency_ms", "ms"), "energy": ("energy_mj", "mJ"), "size": ("size_bytes", "B"),
            "accuracy": ("accuracy_drop_pct", "pp")}


@dataclass(frozen=True)
class Constraints:
    """Budgets: latency in ms, energy in mJ, size in bytes, accuracy drop in percentage points."""

    max_latency_ms: float | None = None
    max_energy_mj: float | None = None
    max_size_bytes: float | None = None
    max_accuracy_drop_pct: float | None = None

    def __post_init__(self):
        for name, value in self.to_dict().items():
            if value is not None and (not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0):
                raise UsageError(f"Constraint {name} must be a finite non-negative number, got {value!r}.")

    def to_dict(self) -> dict:
        return {"max_latency_ms": self.max_latency_ms, "max_energy_mj": self.max_energy_mj,
                "max_size_bytes": self.max_size_bytes, "max_accuracy_drop_pct": self.max_accuracy_drop_pct}

    def checks(self):
        """(constraint name, candidate attribute, interval attribute, limit) for each set budget."""
        table = (("max_latency_ms", "latency_ms", "latency_ms_interval"),
                 ("max_energy_mj", "energy_mj", "energy_mj_interval"),
                 ("max_size_bytes", "size_bytes", None),
                 ("max_accuracy_drop_pct", "accuracy_drop_pct", "accuracy_drop_interval"))
        for name, attr, interval in table:
            limit = getattr(self, name)
            if limit is not None:
                yield name, attr, interval, limit


@dataclass(frozen=True)
class Candidate:
    """One setting's predicted outcome on the target. Intervals are (low, high) or None."""

    setting: str
    latency_ms: float | None = None
    latency_ms_interval: tuple | None = None
    energy_mj: float | None = None
    energy_mj_interval: tuple | None = None
    energy_is_estimate: bool = True
    size_bytes: float | None = None
    accuracy_drop_pct: float | None = None
    accuracy_drop_interval: tuple | None = None
    accuracy_source: str | None = None
    # where the latency's ratio to the uncompressed model comes from: predicted | measured | updated from
    # measured SETTING (``--measured``) | baseline (the uncompressed model itself)
    ratio_source: str | None = None
    applicable: bool = True
    notes: tuple = ()
    feasible: bool = False
    pareto: bool = False
    violations: tuple = ()

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("latency_ms_interval", "energy_mj_interval", "accuracy_drop_interval", "notes", "violations"):
            d[k] = list(d[k]) if d[k] is not None else None
        return d


def _bound(c: Candidate, attr: str, interval: str | None, risk: str) -> float | None:
    value = getattr(c, attr)
    if risk == "pessimistic" and interval and getattr(c, interval):
        return getattr(c, interval)[1]
    return value


def assess(candidates: list[Candidate], constraints: Constraints, risk: str = "pessimistic") -> list[Candidate]:
    """Mark each candidate's violations, feasibility and Pareto membership (returns new objects)."""
    if risk not in RISKS:
        raise UsageError(f"Unknown risk '{risk}'. Known: {', '.join(RISKS)}.")
    out = []
    for c in candidates:
        violations = [] if c.applicable else ["not applicable"]
        for name, attr, interval, limit in constraints.checks():
            value = _bound(c, attr, interval, risk)
            if value is None:
                violations.append(f"{name}: no estimate")
            elif value > limit:
                violations.append(f"{name}: {_fmt(attr, value)} > {_fmt(attr, limit)}")
        out.append(replace(c, violations=tuple(violations), feasible=c.applicable and not violations))
    front = pareto_front([c for c in out if c.applicable])
    return [replace(c, pareto=c.setting in front) for c in out]


def metric_of(objective: str) -> str:
    """The candidate attribute an objective minimises (UsageError for an unknown objective)."""
    if objective not in OBJECTIVES:
        raise UsageError(f"Unknown objective '{objective}'. Known: {', '.join(OBJECTIVES)}.")
    return _METRICS[objective][0]


def pareto_front(candidates: list[Candidate]) -> set[str]:
    """Settings not dominated on (latency, energy, size, accuracy drop); missing values count as worst."""
    def vec(c):
        return tuple(math.inf if getattr(c, a) is None else getattr(c, a) for a, _ in _METRICS.values())
    vecs = {c.setting: vec(c) for c in candidates}
    return {s for s, v in vecs.items()
            if not any(all(o <= x for o, x in zip(w, v, strict=True)) and w != v for t, w in vecs.items() if t != s)}


def choose(candidates: list[Candidate], objective: str) -> Candidate | None:
    """The feasible candidate best on ``objective`` (ties: smaller size, then smaller accuracy drop, then
    lower latency). Ties are real: settings that do the original's work (``sparse*``, ``wq16`` on
    onnxruntime's CPU kernels) are predicted at one latency, and zeroed weights leave the size alone."""
    attr = metric_of(objective)
    feasible = [c for c in candidates if c.feasible and getattr(c, attr) is not None]
    if not feasible:
        return None

    def worst_if_none(v):
        return math.inf if v is None else v

    return min(feasible, key=lambda c: (getattr(c, attr), worst_if_none(c.size_bytes),
                                        worst_if_none(c.accuracy_drop_pct), worst_if_none(c.latency_ms)))


def closest(candidates: list[Candidate], constraints: Constraints, n: int = 3) -> list[Candidate]:
    """Applicable candidates ordered by how far they miss the budgets (sum of relative excess)."""
    def excess(c):
        total = 0.0
        for _, attr, interval, limit in constraints.checks():
            v = _bound(c, attr, interval, "pessimistic")
            total += math.inf if v is None else max(0.0, v - limit) / max(limit, 1e-9)
        return total
    return sorted((c for c in candidates if c.applicable), key=excess)[:n]


def binding_constraint(choice: Candidate, constraints: Constraints, risk: str) -> tuple[str, float] | None:
    """The constraint with the least relative slack for ``choice``: (name, slack fraction)."""
    slacks = []
    for name, attr, interval, limit in constraints.checks():
        value = _bound(choice, attr, interval, risk)
        if value is not None and limit > 0:
            slacks.append((name, (limit - value) / limit))
    return min(slacks, key=lambda s: s[1]) if slacks else None


@dataclass(frozen=True)
class Outcome:
    """The chosen candidate (or None) and the assessed list, in input order."""

    candidates: list[Candidate] = field(default_factory=list)
    choice: Candidate | None = None


def decide(candidates: list[Candidate], constraints: Constraints, objective: str = "latency",
           risk: str = "pessimistic") -> Outcome:
    assessed = assess(candidates, constraints, risk)
    return Outcome(candidates=assessed, choice=choose(assessed, objective))


def _fmt(attr: str, value: float) -> str:
    if attr == "size_bytes":
        return f"{value / 1e6:.3g} MB"
    if attr == "latency_ms":
        return f"{value:.3g} ms"
    if attr == "energy_mj":
        return f"{value:.3g} mJ"
    return f"{value:.3g} pp"
