"""Compression settings: one registry of named recipes, each a real transformation of an ONNX graph.

Built-ins are lazy ``"module:Class"`` strings with the level as keyword arguments; third parties add
settings through the ``advisor.settings`` entry-point group.
"""
from __future__ import annotations

from advisor.errors import SettingError
from profiling.registry import Registry, UnknownNameError

SETTINGS = Registry("setting", entry_point_group="advisor.settings")


def _builtin(name: str, target: str, **kwargs) -> None:
    SETTINGS.register(name, target, name=name, **kwargs)


_builtin("none", "advisor.compression.baseline:Baseline")
_builtin("fp16", "advisor.compression.fp16:Float16")
_builtin("int8-dynamic", "advisor.compression.quantize:DynamicInt8")
_builtin("int8-static-pc", "advisor.compression.quantize:StaticInt8", per_channel=True)
_builtin("int8-static-pt", "advisor.compression.quantize:StaticInt8", per_channel=False)
for _bits in (16, 8, 4):
    _builtin(f"wq{_bits}", "advisor.compression.weight_only:WeightOnly", bits=_bits)
for _pct in (50, 75, 90):
    _builtin(f"sparse{_pct}", "advisor.compression.sparsity:MagnitudePruning", sparsity=_pct / 100)
for _pct in (10, 25, 50):
    _builtin(f"chprune{_pct}", "advisor.compression.channel_prune:ChannelPruning", ratio=_pct / 100)
for _pct in (25, 50):  # the same, keeping multiples of 8 channels per group (blocked kernels stay usable)
    _builtin(f"chprune{_pct}-a8", "advisor.compression.channel_prune:ChannelPruning", ratio=_pct / 100, align=8)
for _pct in (25, 50):
    _builtin(f"chprune{_pct}+int8-static-pc", "advisor.compression.combined:Pipeline",
             steps=(f"chprune{_pct}", "int8-static-pc"))


def setting_names() -> list[str]:
    """Every registered setting name, built-ins first."""
    return SETTINGS.names()


def get_setting(name: str):
    """The Setting instance registered as ``name``; SettingError lists the known names."""
    try:
        return SETTINGS.get(name)
    except UnknownNameError as exc:
        raise SettingError(f"{exc} See 'advisor settings'.") from None
