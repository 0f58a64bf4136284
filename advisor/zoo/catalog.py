"""The zoo catalogue: every network the advisor characterises, by name, with its family label.

Builders are plain callables, so listing the catalogue never imports torch; building does.
The catalogue gathers three kinds of entries, each from its own module (imported when listed):
"study" (advisor.zoo.study), "generated" (advisor.zoo.generator), "trained" (advisor.zoo.trained).
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import onnx

from advisor.errors import AdvisorError, ModelError

KINDS = ("study", "generated", "trained")
# kind -> (module, function returning its list of ZooEntry)
_SOURCES = {"study": ("advisor.zoo.study", "study_entries"),
            "generated": ("advisor.zoo.generator", "generated_entries"),
            "trained": ("advisor.zoo.trained", "trained_entries")}


@dataclass(frozen=True)
class ZooEntry:
    """One network. ``build()`` returns (ModelProto, data) where data is None or a dict of numpy
    arrays in the advisor's .npz layout (input names / ``inputs``, optional ``labels``)."""

    name: str
    family: str
    kind: str  # "study" | "generated" | "trained"
    description: str
    build: Callable[[], tuple]
    params: dict = field(default_factory=dict)

    def build_model(self) -> tuple[onnx.ModelProto, dict | None]:
        """Build and label the model: metadata_props advisor.name / advisor.family / advisor.kind."""
        model, data = self.build()
        meta = {p.key: p for p in model.metadata_props}
        for key, value in (("advisor.name", self.name), ("advisor.family", self.family), ("advisor.kind", self.kind)):
            if key in meta:
                meta[key].value = value
            else:
                model.metadata_props.add(key=key, value=value)
        return model, data


def all_entries(kinds: Iterable[str] | None = None) -> list[ZooEntry]:
    """Every catalogued network of ``kinds`` (default: all), in KINDS order. Imports no torch.

    A kind whose module is not installed contributes nothing; any other error while listing it
    propagates (a broken catalogue module must not look empty).
    """
    wanted = KINDS if kinds is None else tuple(kinds)
    for kind in wanted:
        if kind not in KINDS:
            raise AdvisorError(f"Unknown zoo kind '{kind}'. Known: {', '.join(KINDS)}.")
    entries: list[ZooEntry] = []
    for kind in KINDS:
        module_name, function = _SOURCES[kind]
        if kind not in wanted or importlib.util.find_spec(module_name) is None:
            continue
        entries.extend(getattr(importlib.import_module(module_name), function)())
    return entries


def get_entry(name: str, kinds: Iterable[str] | None = None) -> ZooEntry:
    """The entry called ``name`` (kinds searched in KINDS order, each listed only if still needed);
    ModelError naming a few known networks when there is none."""
    names: list[str] = []
    for kind in KINDS if kinds is None else tuple(kinds):
        entries = all_entries([kind])
        for entry in entries:
            if entry.name == name:
                return entry
        names += [e.name for e in entries]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.75)
    hint = f"Did you mean {', '.join(close)}? " if close else ""
    shown = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
    raise ModelError(f"Unknown zoo network '{name}'. {hint}Known: {shown or 'none'}; see 'advisor zoo list'.")
