"""Recommendation logic: feasibility, Pareto front, choice, and the monotonicity law."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.decision import Candidate, Constraints, assess, choose, closest, decide, pareto_front
from advisor.errors import UsageError

pos = st.floats(min_value=0.01, max_value=1e4, allow_nan=False)


@st.composite
def candidates(draw):
    out = []
    for i in range(draw(st.integers(1, 8))):
        lat, width, size, acc = draw(pos), draw(st.floats(0, 2)), draw(pos), draw(st.floats(0, 30))
        out.append(Candidate(setting=f"s{i}", latency_ms=lat, latency_ms_interval=(lat / (1 + width), lat * (1 + width)),
                             energy_mj=lat * 2, energy_mj_interval=(lat, lat * 3), size_bytes=size * 1e6,
                             accuracy_drop_pct=acc, accuracy_drop_interval=(0, acc + 1),
                             applicable=draw(st.booleans()) or i == 0))
    return out


@st.composite
def budgets(draw):
    return Constraints(max_latency_ms=draw(st.none() | pos), max_energy_mj=draw(st.none() | pos),
                       max_size_bytes=draw(st.none() | pos.map(lambda x: x * 1e6)),
                       max_accuracy_drop_pct=draw(st.none() | st.floats(0, 30)))


@settings(max_examples=200)
@given(candidates(), budgets(), st.floats(0.05, 1.0), st.sampled_from(["pessimistic", "expected"]))
def test_tightening_never_admits(cands, cons, factor, risk):
    tight = Constraints(**{k: (v * factor if v is not None else None) for k, v in cons.to_dict().items()})
    loose_ok = {c.setting for c in assess(cands, cons, risk) if c.feasible}
    tight_ok = {c.setting for c in assess(cands, tight, risk) if c.feasible}
    assert tight_ok <= loose_ok


@given(candidates(), budgets())
def test_feasible_choice_meets_pessimistic_bounds(cands, cons):
    out = decide(cands, cons, "latency")
    if out.choice is not None:
        c = out.choice
        assert c.feasible and not c.violations
        if cons.max_latency_ms is not None:
            assert c.latency_ms_interval[1] <= cons.max_latency_ms
        if cons.max_size_bytes is not None:
            assert c.size_bytes <= cons.max_size_bytes
    else:
        assert not any(c.feasible for c in out.candidates)


@given(candidates())
def test_pareto_front_nonempty_and_undominated(cands):
    applicable = [c for c in cands if c.applicable]
    front = pareto_front(applicable)
    assert front
    best_latency = min(applicable, key=lambda c: (c.latency_ms, c.energy_mj, c.size_bytes, c.accuracy_drop_pct))
    assert best_latency.setting in front


def test_objectives_pick_different_settings():
    fast = Candidate("fast", latency_ms=1, energy_mj=1, size_bytes=100e6, accuracy_drop_pct=2)
    small = Candidate("small", latency_ms=5, energy_mj=5, size_bytes=10e6, accuracy_drop_pct=1)
    exact = Candidate("exact", latency_ms=3, energy_mj=3, size_bytes=50e6, accuracy_drop_pct=0)
    assessed = assess([fast, small, exact], Constraints())
    assert choose(assessed, "latency").setting == "fast"
    assert choose(assessed, "size").setting == "small"
    assert choose(assessed, "accuracy").setting == "exact"
    assert pareto_front(assessed) == {"fast", "small", "exact"}


def test_ties_go_to_the_smaller_size_then_the_smaller_accuracy_drop():
    """sparse50/75/90 are predicted alike on latency and size; the one losing least accuracy wins,
    whatever the candidates' order."""
    cands = [Candidate(f"sparse{p}", latency_ms=2.0, size_bytes=1e6, accuracy_drop_pct=d)
             for p, d in ((90, 30.0), (75, 4.0), (50, 0.5))]
    for order in (cands, cands[::-1]):
        assert choose(assess(order, Constraints()), "latency").setting == "sparse50"
    smaller = Candidate("wq16", latency_ms=2.0, size_bytes=5e5, accuracy_drop_pct=0.6)
    assert choose(assess([*cands, smaller], Constraints()), "latency").setting == "wq16"
    unknown = Candidate("x", latency_ms=2.0, size_bytes=1e6, accuracy_drop_pct=None)
    assert choose(assess([unknown, cands[2]], Constraints()), "latency").setting == "sparse50"


def test_pessimistic_vs_expected_risk():
    c = Candidate("x", latency_ms=40, latency_ms_interval=(30, 60), size_bytes=1)
    cons = Constraints(max_latency_ms=50)
    assert not assess([c], cons, "pessimistic")[0].feasible
    assert assess([c], cons, "expected")[0].feasible
    assert "max_latency_ms" in assess([c], cons)[0].violations[0]


def test_closest_orders_by_excess():
    a = Candidate("a", latency_ms=100, size_bytes=1)
    b = Candidate("b", latency_ms=60, size_bytes=1)
    assert [c.setting for c in closest([a, b], Constraints(max_latency_ms=50))] == ["b", "a"]


def test_bad_inputs():
    with pytest.raises(UsageError):
        Constraints(max_latency_ms=-1)
    with pytest.raises(UsageError):
        choose([], "speed")
    with pytest.raises(UsageError):
        assess([], Constraints(), risk="yolo")


def _structure(**over):
    """A setting's structure summary (advisor.predictors.structure) with neutral values, then ``over``."""
    base = {"q0_q_act": 0.0, "q1_q_act": 0.0, "q1_mac_conv_u_n32": 1e6, "q1_mac_conv_dqw": 0.0,
            "v_align8_share": 1.0, "v_d_align8": 0.0, "v_align16_share": 1.0, "v_d_align16": 0.0,
            "v_mac_ratio": 1.0, "v_log_dq_weight_per_mac": -30.0, "v_log_dq4_weight_per_mac": -30.0}
    return {**base, **over}


def test_structure_notes_say_unfused_and_misaligned_together():
    """Pruning + int8: an unfused-QDQ note must not hide the channel-alignment note; the per-run
    de-quantization is said once (inside the unfused note), not twice."""
    from advisor.advise import structure_notes

    st_ = _structure(q1_q_act=5e4, q1_mac_conv_u_n32=2e5, q1_mac_conv_dqw=8e5, v_align8_share=0.2,
                     v_d_align8=-0.8, v_mac_ratio=0.55, v_log_dq_weight_per_mac=-2.0)
    notes = structure_notes(st_, "onnxruntime-cpu", "x86_64")
    assert len(notes) == 2
    assert "cannot fuse" in notes[0] and "80%" in notes[0]
    assert "multiples of 8" in notes[1] and "100% -> 20%" in notes[1]
    # on Arm onnxruntime fuses those groups: no unfused note, so the de-quantization note stands alone
    arm = structure_notes(st_, "onnxruntime-cpu", "aarch64")
    assert not any("cannot fuse" in n for n in arm)
    assert any("multiples of 8" in n for n in arm) and any("de-quantizes its weights" in n for n in arm)
    assert structure_notes(_structure(), "onnxruntime-cpu", "x86_64") == []
