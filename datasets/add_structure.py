"""Add structure features (what each setting does to the graph) to profile records made before
``advisor profile`` wrote them (``setting.structure``, advisor.predictors.structure).

    .venv/bin/python datasets/add_structure.py datasets/host-cpu/generated.jsonl.gz ... \
        [--models DIR ...] [--work /tmp/advisor-structure]

Each record's model is looked up as ``DIR/<model.name>.onnx`` in the ``--models`` folders, and else
rebuilt from the zoo (``advisor zoo build <name>`` into ``--work``); a file whose sha256 differs from
the record's is not used (the record is left as it was and counted). Records already carrying the
current STRUCTURE_VERSION and layer rows (``kernels.LAYERS_VERSION``) are kept, unless ``--replace``.
Each file is rewritten atomically (gzip, same order).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def _read(path: Path) -> list[dict] | None:
    """A profile-records file (strictly validated), or None after a one-line error on stderr."""
    from profiling.records import RecordError, read_records

    try:
        if not path.is_file():
            raise OSError(f"no such file: {path}")
        return read_records(path, strict=True)
    except (OSError, ValueError, EOFError, RecordError) as exc:
        print(f"error: cannot read profile records from '{path}': {exc}", file=sys.stderr)
        return None


def _in_dirs(name: str, sha: str, dirs: list[Path]) -> Path | None:
    """``DIR/<name>.onnx`` in the first of ``dirs`` that has it with this sha256, or None."""
    from advisor.api import file_sha256

    return next((p for d in dirs for p in [d / f"{name}.onnx"] if p.is_file() and file_sha256(p) == sha), None)


def _locate(name: str, sha: str, dirs: list[Path], work: Path) -> Path | None:
    from advisor.api import file_sha256

    found = _in_dirs(name, sha, dirs)
    if found is not None:
        return found
    p = work / f"{name}.onnx"
    if not p.is_file():
        work.mkdir(parents=True, exist_ok=True)
        advisor = Path(sys.executable).with_name("advisor")
        subprocess.run([str(advisor), "zoo", "build", name, "-o", str(work)], check=False,
                       stdout=subprocess.DEVNULL)
    return p if p.is_file() and file_sha256(p) == sha else None


def main() -> int:
    from advisor.errors import AdvisorError
    from advisor.modelio import load_model
    from advisor.predictors.kernels import LAYERS_VERSION
    from advisor.predictors.structure import STRUCTURE_VERSION, structure_all
    from profiling.records import rewrite_records

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--models", nargs="*", type=Path, default=[])
    ap.add_argument("--work", type=Path, default=Path("/tmp/advisor-structure"))
    ap.add_argument("--replace", action="store_true",
                    help="recompute every record's structure, also those of the current version (after a "
                         "replay rule changed for graphs that no data of that version held)")
    args = ap.parse_args()
    cache: dict[str, dict | None] = {}
    for path in args.files:
        records = _read(path)
        if records is None:
            return 1
        added = missing = 0
        for rec in records:
            st = rec["setting"].get("structure")
            if not args.replace and isinstance(st, dict) and st.get("version") == STRUCTURE_VERSION and \
                    st.get("layers_version") == LAYERS_VERSION:
                continue
            sha = rec["model"]["sha256"]
            if sha not in cache:
                model = _locate(rec["model"].get("name", ""), sha, args.models, args.work)
                try:
                    cache[sha] = structure_all(load_model(model)) if model else None
                except AdvisorError as exc:  # an unreadable model costs its records' structure, not the run
                    print(f"{model}: {exc}", file=sys.stderr)
                    cache[sha] = None
            found = (cache[sha] or {}).get(rec["setting"]["name"])
            if found:
                rec["setting"]["structure"] = found
                added += 1
            elif rec["status"] == "ok":
                missing += 1
        rewrite_records(path, records)
        print(f"{path}: {added} record(s) given structure features, {missing} ok record(s) without "
              "(model not found with the same sha256)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
