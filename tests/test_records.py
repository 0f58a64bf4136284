"""Profile-record schema: validation, append-only writes, torn lines after a kill."""
from __future__ import annotations

import copy
import json

import pytest

from profiling.measure import summarize
from profiling.records import (
    SCHEMA_VERSION,
    RecordError,
    append_record,
    read_records,
    record_key,
    rewrite_records,
    validate,
)


def make_record(status="ok", setting="none"):
    rec = {
        "schema_version": SCHEMA_VERSION, "record_id": record_key("ab" * 32, setting, "host", "ort-cpu", 1),
        "created_utc": "2026-11-28T00:00:00Z", "status": status, "error": None if status == "ok" else "boom",
        "model": {"name": "m", "sha256": "ab" * 32}, "setting": {"name": setting}, "device": {"name": "host"},
        "runtime": {"name": "ort-cpu", "threads": 1}, "software": {"profiling": "0.1.0"},
        "protocol": {"warmup_runs": 1, "min_runs": 3, "max_runs": 5, "target_rel_ci": 0.05},
    }
    if status == "ok":
        rec.update(latency=summarize([1.0, 1.2, 1.1]), host={"steal_pct": 0.0},
                   energy={"source": "estimate", "energy_is_estimate": True, "energy_mj": 1.0},
                   memory={"peak_rss_bytes": 1}, size={"size_bytes": 10, "compressed_size_bytes": 8},
                   accuracy={"source": "synthetic"})
    return rec


def test_valid_records_pass():
    validate(make_record())
    validate(make_record("failed"))
    again = make_record(setting="wq8")
    again["ratio"] = {"ratio_median": 1.1, "remeasured": [{"ratio_median": 1.05, "n_pairs": 60}]}
    validate(again)


@pytest.mark.parametrize("mutate, needle", [
    (lambda r: r.pop("latency"), "latency"),
    (lambda r: r.update(status="weird"), "status"),
    (lambda r: r.update(schema_version=99), "schema_version"),
    (lambda r: r["latency"].update(n_runs=7), "n_runs"),
    (lambda r: r["model"].pop("sha256"), "model.sha256"),
    (lambda r: r.update(status="failed", error=None), "error"),
    (lambda r: r.update(ratio={"ratio_median": 1.1, "remeasured": {"ratio_median": 1.0}}), "remeasured"),
    (lambda r: r.update(ratio={"ratio_median": 1.1, "remeasured": [{"ratio_median": 0.0}]}), "remeasured"),
    (lambda r: r.update(ratio={"ratio_median": 1.1, "remeasured": [{"n_pairs": 60}]}), "remeasured"),
])
def test_invalid_records_rejected(mutate, needle):
    rec = copy.deepcopy(make_record())
    mutate(rec)
    with pytest.raises(RecordError, match=needle.split(".")[-1]):
        validate(rec)


def test_append_and_torn_line(tmp_path):
    path = tmp_path / "r.jsonl"
    append_record(path, make_record(setting="a"))
    with open(path, "a") as fh:  # a writer killed mid-line
        fh.write(json.dumps(make_record(setting="b"))[:40])
    append_record(path, make_record(setting="c"))
    recs = read_records(path)
    assert [r["setting"]["name"] for r in recs] == ["a", "c"]
    with pytest.raises(RecordError):
        read_records(path, strict=True)


def test_append_refuses_invalid(tmp_path):
    path = tmp_path / "r.jsonl"
    bad = make_record()
    bad.pop("size")
    with pytest.raises(RecordError):
        append_record(path, bad)
    assert not path.exists() or path.read_text() == ""


def test_reads_gzipped_records(tmp_path):
    import gzip
    plain = tmp_path / "r.jsonl"
    append_record(plain, make_record(setting="a"))
    append_record(plain, make_record(setting="b"))
    gz = tmp_path / "r.jsonl.gz"
    with gzip.open(gz, "wb") as fh:
        fh.write(plain.read_bytes())
    assert [r["setting"]["name"] for r in read_records(gz, strict=True)] == ["a", "b"]


def test_rewrite_records_replaces_the_file_whole(tmp_path):
    """A rewrite leaves the new records (gzip for .gz, same order) and no temporary file beside them."""
    recs = [make_record(setting=s) for s in ("none", "wq8", "fp16")]
    for name in ("r.jsonl", "r.jsonl.gz"):
        path = tmp_path / name
        rewrite_records(path, recs[:1])
        rewrite_records(path, recs[1:])
        assert [r["setting"]["name"] for r in read_records(path, strict=True)] == ["wq8", "fp16"]
        assert not (tmp_path / (name + ".tmp")).exists()
