"""Features of the study networks (advisor.zoo.study), built once and cached in a JSON file.

Building a full-size study network takes seconds (NMT: ~30 s and ~4 GB of RAM), so the importers
read a cache: zoo name -> the record's model block (name, family, sha256 of the file ``advisor zoo
build`` would write, features, feature schema version, digest). ``ensure_cache`` builds what is
missing or was extracted under another feature schema, one network at a time.
"""
from __future__ import annotations

import gc
import hashlib
import json
import time
from pathlib import Path

from advisor.errors import DataError
from advisor.importers.common import features_identity


def load_cache(path: Path) -> dict[str, dict]:
    """The cached identities (zoo name -> model block); empty when the file does not exist."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"Features cache '{path}' is unreadable ({exc}). Delete it and rerun "
                        "datasets/build_imports.py to rebuild it.") from None
    return data.get("networks", {})


def ensure_cache(path: Path, names: list[str], progress=None) -> dict[str, dict]:
    """Identities of study networks ``names``, building and caching any missing or stale one;
    ``progress(message)`` hears of each network built."""
    from advisor.features import FEATURE_SCHEMA_VERSION

    cache = load_cache(path)
    for name in names:
        entry = cache.get(name)
        if entry and entry.get("feature_schema_version") == FEATURE_SCHEMA_VERSION:
            continue
        t0 = time.perf_counter()
        cache[name] = study_identity(name)
        if progress:
            progress(f"built {name}: {time.perf_counter() - t0:.1f} s")
        _save(path, cache)  # after each network: an interrupted build keeps what it has
    return {n: cache[n] for n in names}


def study_identity(name: str) -> dict:
    """Build study network ``name`` (seed 0), hash its serialized bytes, extract its features."""
    import torch

    from advisor.features import extract_features
    from advisor.modelio import from_proto
    from advisor.zoo.study import study_entries

    torch.set_num_threads(1)
    entry = next((e for e in study_entries() if e.name == name), None)
    if entry is None:
        raise DataError(f"'{name}' is not a study network. Known: {', '.join(e.name for e in study_entries())}.")
    model, _ = entry.build_model()
    sha = hashlib.sha256(model.SerializeToString()).hexdigest()
    values = extract_features(from_proto(model)).values
    del model
    gc.collect()
    return features_identity(name, entry.family, sha, "onnx file written by 'advisor zoo build' (seed 0)",
                             values, rebuild=f"advisor.zoo.study:{name}", paper_name=entry.params["paper_name"])


def _save(path: Path, cache: dict[str, dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"about": "Features of the study networks rebuilt by advisor.zoo.study (seed 0); written by "
                    "datasets/build_imports.py via advisor.importers.study_features.",
           "networks": dict(sorted(cache.items()))}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
