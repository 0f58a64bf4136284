"""Predictor bundles: ``<dir>/manifest.json`` plus one XGBoost JSON model per learned target. Never pickles.

Loading refuses, with one line saying how to retrain, when: the manifest is missing or unreadable,
its bundle format or feature schema version differs from this advisor's, a model file is missing or
its sha256 differs from the manifest's, or any file that is not ``.json`` (e.g. a ``.pkl``) is in the
folder. Trees are evaluated from XGBoost's JSON by numpy (``treeeval``), so loading never imports
xgboost. XGBoost versions (from package metadata): a bundle written by a *newer* major version than
the installed one is refused (its JSON schema may have changed; XGBoost guarantees only that newer
releases read older models); one written by an *older* major version loads with a warning
(predictions may differ slightly; retrain to be sure).

Lookup order: ``bundle_dir`` argument > user folder (``$ADVISOR_BUNDLE_DIR/<device>/<runtime>``,
default ``~/.local/share/advisor/bundles/<device>/<runtime>``) > shipped
``trained_predictors/<device>/<runtime>`` next to the ``advisor`` package.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from advisor.errors import AdvisorError

BUNDLE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class BundleError(AdvisorError):
    """A predictor bundle is missing, incompatible, or has been altered."""


def retrain_hint(device: str, runtime: str, out: Path | None = None) -> str:
    dest = f" --out {out}" if out else ""
    return f"Retrain: advisor train --profiles FILE... --device {device} --runtime {runtime}{dest}"


def refusal(path: Path, why: str, device: str, runtime: str) -> BundleError:
    """The one-line error refusing the bundle at ``path`` because ``why``, with the retrain command."""
    return BundleError(f"Predictor bundle '{path}' refused: {why}. " + retrain_hint(device, runtime, path))


def user_bundle_dir(device: str, runtime: str) -> Path:
    root = os.environ.get("ADVISOR_BUNDLE_DIR") or Path.home() / ".local" / "share" / "advisor" / "bundles"
    return Path(root) / device / runtime


def shipped_bundle_dir(device: str, runtime: str) -> Path:
    import advisor

    return Path(advisor.__file__).resolve().parents[1] / "trained_predictors" / device / runtime


def find_bundle(device: str, runtime: str, bundle_dir: str | Path | None = None) -> Path:
    """The folder to load, by the lookup order; BundleError lists the folders tried."""
    if bundle_dir is not None:
        if not (Path(bundle_dir) / MANIFEST).is_file():
            raise BundleError(f"No predictor bundle in '{bundle_dir}' ({MANIFEST} missing). "
                              + retrain_hint(device, runtime, Path(bundle_dir)))
        return Path(bundle_dir)
    tried = [user_bundle_dir(device, runtime), shipped_bundle_dir(device, runtime)]
    for path in tried:
        if (path / MANIFEST).is_file():
            return path
    raise BundleError(f"No predictor bundle for device '{device}', runtime '{runtime}' (looked in "
                      f"{', '.join(str(p) for p in tried)}). " + retrain_hint(device, runtime))


def sha256_bytes(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def library_versions() -> dict:
    import numpy
    import sklearn

    return {"xgboost": installed_xgboost_version(), "sklearn": sklearn.__version__, "numpy": numpy.__version__}


def write_bundle(out: str | Path, manifest: dict, files: dict[str, bytes]) -> Path:
    """Write ``files`` (name -> JSON bytes) and the manifest (with each file's sha256) atomically:
    into a temporary sibling folder, then renamed over ``out``."""
    from advisor.errors import OutputError

    out = Path(out)
    bad = [n for n in files if not n.endswith(".json") or "/" in n or n == MANIFEST]
    if bad:
        raise ValueError(f"bundle file names must be plain *.json other than {MANIFEST}: {bad}")
    manifest = dict(manifest, files={n: sha256_bytes(raw) for n, raw in sorted(files.items())})
    tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        for name, raw in files.items():
            (tmp / name).write_bytes(raw)
        text = json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False, default=_jsonable)
        (tmp / MANIFEST).write_text(text + "\n", encoding="utf-8")
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "b")
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)  # nothing partial is left beside the bundle
        raise OutputError(f"Cannot write the predictor bundle to '{out}': {exc.strerror or exc}. Choose a "
                          "writable folder with --out.") from None
    return out


def _jsonable(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def read_checked(path: str | Path, device: str | None = None, runtime: str | None = None) -> tuple[dict, dict]:
    """The manifest and the model files' bytes of the bundle at ``path``, after every check.

    Returns ``(manifest, files)``; raises BundleError (one line, with the retrain command)."""
    from advisor.features import FEATURE_SCHEMA_VERSION

    path = Path(path)
    manifest = _read_manifest(path, device, runtime)
    dev, rt = manifest.get("device", device or "DEVICE"), manifest.get("runtime", runtime or "RUNTIME")

    def refuse(why: str) -> BundleError:
        return refusal(path, why, dev, rt)

    strays = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_dir() or p.suffix != ".json")
    if strays:
        raise refuse(f"it holds files that are not JSON ({', '.join(strays[:3])}); bundles never contain "
                     "pickles or other code-bearing files")
    if manifest.get("bundle_format_version") != BUNDLE_FORMAT_VERSION:
        raise refuse(f"bundle format {manifest.get('bundle_format_version')!r}, this advisor reads "
                     f"{BUNDLE_FORMAT_VERSION}")
    if manifest.get("feature_schema_version") != FEATURE_SCHEMA_VERSION:
        raise refuse(f"feature schema version {manifest.get('feature_schema_version')!r}, this advisor "
                     f"extracts {FEATURE_SCHEMA_VERSION}")
    trained_on = (manifest.get("structure") or {}).get("version")
    if trained_on is not None and (manifest["structure"].get("variant_rows_with_structure") or 0) > 0:
        from advisor.predictors.structure import STRUCTURE_VERSION

        if trained_on != STRUCTURE_VERSION:
            raise refuse(f"trained on structure features version {trained_on!r}, this advisor computes "
                         f"{STRUCTURE_VERSION} (what a setting does to the graph is now worked out differently)")
    files = {}
    for name, digest in (manifest.get("files") or {}).items():
        f = path / name
        if not f.is_file():
            raise refuse(f"model file '{name}' is missing")
        raw = f.read_bytes()
        if sha256_bytes(raw) != digest:
            raise refuse(f"model file '{name}' does not match the sha256 in {MANIFEST} (altered or corrupt)")
        files[name] = raw
    _check_xgboost(manifest, refuse)
    return manifest, files


def _read_manifest(path: Path, device: str | None, runtime: str | None) -> dict:
    hint = retrain_hint(device or "DEVICE", runtime or "RUNTIME", path)
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"Predictor bundle '{path}' has no {MANIFEST}. {hint}") from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"Predictor bundle '{path}': {MANIFEST} is unreadable ({exc}). {hint}") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"Predictor bundle '{path}': {MANIFEST} is not a JSON object. {hint}")
    return manifest


def installed_xgboost_version() -> str | None:
    """The installed xgboost's version from package metadata (importing xgboost takes seconds)."""
    from importlib import metadata

    for dist in ("xgboost", "xgboost-cpu"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _check_xgboost(manifest: dict, refuse) -> None:
    have = installed_xgboost_version()
    saved = str((manifest.get("libraries") or {}).get("xgboost", "0"))
    if have is None:  # the numpy evaluator reads the JSON; nothing to compare against
        return
    have_major, saved_major = int(have.split(".")[0]), int(saved.split(".")[0] or 0)
    if saved_major > have_major:
        raise refuse(f"written by xgboost {saved}, installed {have} cannot be trusted to read it")
    if saved_major < have_major:
        warnings.warn(f"Predictor bundle written by xgboost {saved}; installed {have} reads it, "
                      "but predictions may differ slightly. Retrain to be sure.", stacklevel=3)
