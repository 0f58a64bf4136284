# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # To compress, or not to compress, on this host CPU
#
# Qin et al. ("To Compress, or Not to Compress", ISPA 2018) measured weight quantization (16/8/6 bit) and
# pruning on a Jetson TX2 GPU under TensorFlow 1.6. On that platform quantization cut storage but made
# inference slower and cost more energy, while pruning (with retraining) saved both time and energy.
#
# This notebook asks the same question of **our** profile records: for each compression setting, on this
# host (onnxruntime, CPU, one thread), how do storage, latency, energy, memory and accuracy change, and for
# which networks does the setting pay off? Every number and every sentence below is computed from the
# records. Nothing here is a hard-coded conclusion.
#
# Run it headless as a script:
#
#     .venv/bin/python notebooks/characterisation.py [--data FILE.jsonl.gz ...] [--out DIR]
#
# The defaults are `datasets/host-cpu/*.jsonl.gz` (without the `repeat-*` noise-floor files) and `notebooks/figures/`. The run writes PNG figures,
# `summary.json`, `summary.md` and `per_network.csv` into the output folder.

# %%
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from profiling.records import read_records

INTERACTIVE = "ipykernel" in sys.modules
if not INTERACTIVE:
    plt.switch_backend("Agg")
T0 = time.perf_counter()


def repo_root() -> Path:
    """The repository root, whether this runs as a script or as a notebook opened in notebooks/."""
    here = Path(globals().get("__file__", Path.cwd() / "characterisation.py")).resolve().parent
    return here.parent if here.name == "notebooks" else here


ROOT = repo_root()


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Characterise compression settings from profile records.")
    ap.add_argument("--data", nargs="+", type=Path, default=None,
                    help="record files (.jsonl or .jsonl.gz) or folders holding them; "
                         "default: datasets/host-cpu/*.jsonl.gz")
    ap.add_argument("--out", type=Path, default=ROOT / "notebooks" / "figures",
                    help="folder for figures and the summary (default: notebooks/figures)")
    ap.add_argument("--study", type=Path, default=ROOT.parent / "shared" / "data" / "qin2018-tx2",
                    help="the study's CSV folder (default: ../shared/data/qin2018-tx2)")
    ap.add_argument("--device", default=None,
                    help="keep only records of this device (default: the device most records come from)")
    ap.add_argument("--faster-pct", type=float, default=10.0, help="latency cut that counts as faster (%%)")
    ap.add_argument("--smaller-pct", type=float, default=25.0, help="storage cut that counts as smaller (%%)")
    ap.add_argument("--max-drop-pct", type=float, default=1.0,
                    help="largest top-1 drop (percentage points) that keeps accuracy, where labels exist")
    ap.add_argument("--min-cosine", type=float, default=0.99,
                    help="smallest output cosine vs the uncompressed network that keeps fidelity, without labels")
    return ap.parse_args(argv)


# In Jupyter, sys.argv belongs to the kernel: options come from $CHARACTERISATION_ARGS instead.
ARGS = parse_args(shlex.split(os.environ.get("CHARACTERISATION_ARGS", "")) if INTERACTIVE else sys.argv[1:])

# %% [markdown]
# ## Loading the records
#
# One row per (network, setting). The network's key is its model hash, so every variant is compared with the
# `none` record of the same network. Failed and skipped records stay in the table as rows (a setting that does
# not apply, such as channel pruning on a network without convolutions, is `skipped`).

# %%
SETTING_ORDER = ["none", "fp16", "int8-dynamic", "int8-static-pc", "int8-static-pt", "wq16", "wq8", "wq4",
                 "sparse50", "sparse75", "sparse90", "chprune10", "chprune25", "chprune50",
                 "chprune25+int8-static-pc", "chprune50+int8-static-pc"]
FEATURES = ["macs_total", "params_total", "share_conv", "share_conv_depthwise", "share_conv_grouped", "share_gemm",
            "share_matmul_dynamic", "share_recurrent", "share_elementwise_flops", "arithmetic_intensity",
            "weight_bytes_total", "n_compute_nodes"]


def data_files(paths: list[Path] | None) -> list[Path]:
    """The record files to read; exits with a clear message (code 2) when there are none."""
    pattern = "*.jsonl*"
    if paths is None:
        paths, pattern = [ROOT / "datasets" / "host-cpu"], "*.jsonl.gz"
    files: list[Path] = []
    for p in paths:
        # repeat-*.jsonl.gz re-measure the same items in another session, for noise floors only: mixing them in
        # would pair a variant with a baseline measured in a different session.
        files += sorted(f for f in p.glob(pattern) if not f.name.startswith("repeat-")) if p.is_dir() else [p]
    missing = [str(f) for f in files if not f.is_file()]
    files = [f for f in files if f.is_file() and f.name.endswith((".jsonl", ".jsonl.gz"))]
    if missing or not files:
        looked = ", ".join(missing or [str(p / pattern) if p.is_dir() else str(p) for p in paths])
        print(f"No profile records found (looked in: {looked}). Pass --data FILE.jsonl[.gz] ..., or build the "
              "data set with datasets/host-cpu/build_dataset.py.", file=sys.stderr)
        raise SystemExit(2)
    return files


def _family(model: dict) -> str:
    family = model.get("family")
    if family and family != "unknown":
        return family
    # Models profiled outside the zoo carry no family label: use the name without its index.
    return re.sub(r"^gen-|[-_]\d+$", "", model.get("name", "unknown"))


def flatten(rec: dict, dataset: str) -> dict:
    """One profile record -> one flat row (units in the column names)."""
    model, setting = rec["model"], rec["setting"]

    def sec(name: str) -> dict:
        return rec.get(name) or {}

    ci = sec("ratio").get("ratio_ci95") or [np.nan, np.nan]
    row = {"dataset": dataset, "device": rec["device"]["name"], "runtime": rec["runtime"]["name"],
           "model": model["name"], "model_key": model["sha256"][:16], "family": _family(model),
           "kind": model.get("kind") or "user", "setting": setting["name"],
           "setting_family": setting.get("family", ""), "status": rec["status"], "error": rec.get("error"),
           "latency_ms": sec("latency").get("median_ms"), "latency_ratio": sec("ratio").get("ratio_median"),
           "ratio_ci_lo": ci[0], "ratio_ci_hi": ci[1],
           "energy_mj": sec("energy").get("energy_mj"), "energy_is_estimate": sec("energy").get("energy_is_estimate"),
           "energy_source": sec("energy").get("source"), "power_mw": sec("energy").get("power_mw_mean"),
           "peak_rss_bytes": sec("memory").get("peak_rss_bytes"),
           "rss_delta_bytes": sec("memory").get("session_rss_delta_bytes"),
           "size_bytes": sec("size").get("size_bytes"), "csize_bytes": sec("size").get("compressed_size_bytes")}
    acc = sec("accuracy")
    row.update(acc_source=acc.get("source"), top1=acc.get("top1"), baseline_top1=acc.get("baseline_top1"),
               acc_drop_pct=acc.get("accuracy_drop_pct"), cosine=acc.get("cosine_mean"),
               top1_agreement=acc.get("top1_agreement"))
    feats = model.get("features") or {}
    row.update({f: feats.get(f) for f in FEATURES})
    return row


def one_device(df: pd.DataFrame, device: str | None) -> pd.DataFrame:
    """Records of one device only: ratios from different machines must not be pooled."""
    counts = df.device.value_counts()
    chosen = device or counts.index[0]
    if chosen not in counts:
        print(f"No records for device '{chosen}'. Devices in the data: {', '.join(counts.index)}.", file=sys.stderr)
        raise SystemExit(2)
    if len(counts) > 1:
        print(f"Records from {len(counts)} devices ({', '.join(counts.index)}); keeping '{chosen}' "
              "(choose with --device).", file=sys.stderr)
    return df[df.device == chosen]


def load(files: list[Path]) -> pd.DataFrame:
    rows = []
    for f in files:
        dataset = f.name.split(".")[0]
        rows += [flatten(r, dataset) for r in read_records(f)]
    if not rows:
        print(f"The record files hold no valid records: {', '.join(map(str, files))}.", file=sys.stderr)
        raise SystemExit(2)
    df = pd.DataFrame(rows)
    df = one_device(df, ARGS.device)
    # A resumed sweep can hold a key twice: the last record wins.
    df = df.drop_duplicates(subset=["model_key", "setting"], keep="last")
    known = [s for s in SETTING_ORDER if s in set(df.setting)]
    order = known + sorted(set(df.setting) - set(known))
    df["setting"] = pd.Categorical(df.setting, categories=order, ordered=True)
    return df.reset_index(drop=True)


FILES = data_files(ARGS.data)
RAW = load(FILES)
ARGS.out.mkdir(parents=True, exist_ok=True)
SETTINGS = list(RAW.setting.cat.categories)
VARIANTS = [s for s in SETTINGS if s != "none"]
status_counts = RAW.pivot_table(index="setting", columns="status", values="model_key", aggfunc="count",
                                fill_value=0, observed=False)
DEVICE = f"{RAW.device.iloc[0]} ({', '.join(sorted(RAW.runtime.unique()))})"
print(f"{len(RAW)} records of {DEVICE} from {len(FILES)} file(s), {RAW.model_key.nunique()} networks, "
      f"{RAW.family.nunique()} families, {len(SETTINGS)} settings")
print(status_counts.to_string())

# %% [markdown]
# ## 1. Per network and setting: what changes
#
# Every variant against the `none` record of the same network:
#
# * **latency**: `ratio_median`, variant over baseline timed interleaved in one process (the robust figure);
# * **storage**: file size over the baseline's. Unstructured sparsity (`sparse*`) leaves zeros in dense tensors,
#   so the file does not shrink; for those settings the *effective* storage is the deflate-compressed size
#   (over the baseline's compressed size), which is what zeros can save;
# * **energy**: energy over the baseline's. Where the records say `energy_is_estimate`, the figure comes from a
#   device power model, not a sensor, and is labelled *estimated*. An estimate is modelled power × latency, so
#   its ratio is taken as the modelled power ratio × the interleaved latency ratio (`energy_ratio`); the ratio of
#   the records' own energy figures, which rests on two separately timed medians, is kept as `energy_ratio_raw`;
# * **memory**: peak RSS change (%) and the change of the session's RSS growth (MB);
# * **accuracy**: top-1 drop in percentage points where the records carry labels; otherwise fidelity to the
#   uncompressed network's outputs (1 − cosine, top-1 agreement), labelled as fidelity.

# %%
BASE_COLS = ["latency_ms", "energy_mj", "power_mw", "peak_rss_bytes", "rss_delta_bytes", "size_bytes", "csize_bytes"]


def quality_ok(df: pd.DataFrame) -> pd.Series:
    """True/False where accuracy (labels) or fidelity (cosine) is known; NaN where neither is."""
    labelled = df.acc_drop_pct.notna()
    ok = pd.Series(np.nan, index=df.index, dtype=object)
    ok[labelled] = df.acc_drop_pct[labelled] <= ARGS.max_drop_pct
    fid = ~labelled & df.cosine.notna()
    ok[fid] = df.cosine[fid] >= ARGS.min_cosine
    return ok


def per_network(raw: pd.DataFrame) -> pd.DataFrame:
    ok = raw[raw.status == "ok"]
    base = ok[ok.setting == "none"].set_index("model_key")[BASE_COLS].add_suffix("_base")
    df = ok.join(base, on="model_key", how="inner").copy()
    df["latency_ratio"] = df.latency_ratio.where(df.setting != "none", 1.0)
    df["latency_ratio"] = df.latency_ratio.fillna(df.latency_ms / df.latency_ms_base)
    df["storage_ratio"] = df.size_bytes / df.size_bytes_base
    df["csize_ratio"] = df.csize_bytes / df.csize_bytes_base
    sparse = (df.setting_family == "pruning") | df.setting.astype(str).str.startswith("sparse")
    df["eff_storage_ratio"] = df.csize_ratio.where(sparse, df.storage_ratio)
    df["energy_ratio_raw"] = df.energy_mj / df.energy_mj_base
    # An estimate is modelled power x latency. Applying the modelled power ratio to the interleaved latency ratio
    # gives the same estimate without the run-to-run drift of two separately timed medians.
    est = df.energy_is_estimate.fillna(False).astype(bool) & df.power_mw.notna() & df.power_mw_base.notna()
    df["energy_ratio"] = df.energy_ratio_raw.where(~est, df.latency_ratio * df.power_mw / df.power_mw_base)
    df["peak_rss_change_pct"] = 100 * (df.peak_rss_bytes / df.peak_rss_bytes_base - 1)
    df["rss_delta_change_mb"] = (df.rss_delta_bytes - df.rss_delta_bytes_base) / 2**20
    df["fidelity_loss"] = 1 - df.cosine
    df["quality_ok"] = quality_ok(df)
    df["share_matmul_like"] = df[["share_gemm", "share_matmul_dynamic", "share_recurrent"]].fillna(0).sum(axis=1)
    df["log10_macs"] = np.log10(df.macs_total.astype(float).clip(lower=1))
    df["log10_params"] = np.log10(df.params_total.astype(float).clip(lower=1))
    df["log10_baseline_ms"] = np.log10(df.latency_ms_base.astype(float))
    return df


NET = per_network(RAW)
ESTIMATED = bool(NET.energy_is_estimate.fillna(True).all())
ENERGY_LABEL = ("energy, estimated (no power sensor on this host)" if ESTIMATED else "energy, measured")
ENERGY_SOURCES = sorted(str(s) for s in NET.energy_source.dropna().unique())
PER_NETWORK_COLS = ["dataset", "kind", "family", "model", "setting", "latency_ratio", "ratio_ci_lo", "ratio_ci_hi",
                    "storage_ratio", "csize_ratio", "eff_storage_ratio", "energy_ratio", "energy_ratio_raw",
                    "peak_rss_change_pct",
                    "rss_delta_change_mb", "acc_source", "acc_drop_pct", "fidelity_loss", "top1_agreement",
                    "quality_ok", "latency_ms_base", "macs_total", "share_matmul_like"]
NET[PER_NETWORK_COLS].sort_values(["model", "setting"]).to_csv(ARGS.out / "per_network.csv", index=False)
_v = NET[NET.setting != "none"]
_RHO = float(_v.energy_ratio_raw.corr(_v.latency_ratio, method="spearman")) if len(_v) > 2 else np.nan
_POWER_SPREAD = float((_v.power_mw / _v.power_mw_base).sub(1).abs().max()) if len(_v) else np.nan
if ESTIMATED:
    ENERGY_NOTE = (f"Energy is an estimate, not a measurement (no power sensor on this host; model: "
                   f"{', '.join(ENERGY_SOURCES) or 'none'}). The modelled power differs between a variant and its "
                   f"baseline by at most {100 * _POWER_SPREAD:.1f}%, so estimated energy tracks latency. The energy "
                   "ratios here apply that power ratio to the interleaved latency ratio; the ratio of the records' "
                   f"own energy figures (energy_ratio_raw, from separately timed medians) agrees with the latency "
                   f"ratio only to Spearman rho = {_RHO:.2f}.")
else:
    ENERGY_NOTE = (f"Energy is measured (source: {', '.join(ENERGY_SOURCES) or 'none'}); its ratio follows the "
                   f"latency ratio with Spearman rho = {_RHO:.2f}.")
print(f"{len(NET)} variant rows with a baseline. {ENERGY_NOTE}")
NET[PER_NETWORK_COLS[2:13]].head(20)

# %% [markdown]
# ## 2. Averages per setting (median and mean, with counts) and per family
#
# Latency and energy changes are medians (robust) and means over networks; `n` counts the networks with both
# the variant and its baseline measured. `skipped`/`failed` count the networks where the setting did not apply
# or did not run.

# %%


def pct(x: pd.Series | float) -> pd.Series | float:
    """Ratio -> change in percent (positive = larger / slower / more)."""
    return 100 * (x - 1)


def setting_table(net: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    g = net.groupby("setting", observed=False)
    t = pd.DataFrame({
        "n": g.size(),
        "latency_ratio_median": g.latency_ratio.median(), "latency_ratio_mean": g.latency_ratio.mean(),
        "storage_change_pct_median": pct(g.storage_ratio.median()),
        "storage_change_pct_mean": pct(g.storage_ratio.mean()),
        "eff_storage_change_pct_median": pct(g.eff_storage_ratio.median()),
        "energy_change_pct_median": pct(g.energy_ratio.median()), "energy_change_pct_mean": pct(g.energy_ratio.mean()),
        "energy_change_pct_raw_median": pct(g.energy_ratio_raw.median()),
        "peak_rss_change_pct_median": g.peak_rss_change_pct.median(),
        "rss_delta_change_mb_median": g.rss_delta_change_mb.median(),
        "n_labelled": g.acc_drop_pct.count(), "acc_drop_pct_median": g.acc_drop_pct.median(),
        "fidelity_loss_median": g.fidelity_loss.median(), "top1_agreement_median": g.top1_agreement.median(),
    })
    counts = raw.groupby(["setting", "status"], observed=False).size().unstack(fill_value=0)
    for status in ("skipped", "failed"):
        t[status] = counts[status] if status in counts else 0
    return t.reindex(SETTINGS)


SETTING_TABLE = setting_table(NET, RAW)
with pd.option_context("display.width", 200, "display.max_columns", 30, "display.precision", 3):
    print(SETTING_TABLE.to_string())

# %%
FAMILY_MEDIAN = NET.pivot_table(index="family", columns="setting", values="latency_ratio", aggfunc="median",
                                observed=False).reindex(columns=VARIANTS)
FAMILY_MEDIAN = FAMILY_MEDIAN.dropna(how="all")
FIGURES: list[str] = []


def save(fig: plt.Figure, name: str) -> None:
    fig.savefig(ARGS.out / name, dpi=110, bbox_inches="tight")
    FIGURES.append(name)
    if not INTERACTIVE:
        plt.close(fig)


def ratio_axis(ax: plt.Axes, which: str = "y") -> None:
    """Log scale with plain tick labels (0.5, 1, 2) for a ratio axis."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def family_heatmap(table: pd.DataFrame) -> None:
    log2 = np.log2(table.astype(float)).clip(-2, 2)
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * table.shape[1], 1.5 + 0.42 * table.shape[0]))
    im = ax.imshow(log2.values, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -2.0, 2.0), aspect="auto")
    for (i, j), v in np.ndenumerate(table.values.astype(float)):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(np.log2(v)) > 1.2 else "black")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=60, ha="right", fontsize=8)
    n = NET.groupby("family").model_key.nunique()
    ax.set_yticks(range(table.shape[0]), [f"{f} (n={n.get(f, 0)})" for f in table.index], fontsize=8)
    cb = fig.colorbar(im, ax=ax, shrink=0.8, ticks=[-2, -1, 0, 1, 2])
    cb.ax.set_yticklabels(["0.25x", "0.5x", "1x", "2x", "4x"])
    cb.set_label("median latency ratio (variant / none)")
    ax.set_title("Median latency ratio by network family and setting (blue = faster)")
    save(fig, "family_setting_heatmap.png")


family_heatmap(FAMILY_MEDIAN)

# %% [markdown]
# ## Latency ratio per setting
#
# Box: quartiles over networks; dots: single networks. The dashed line is "no change"; below it is faster.

# %%


def latency_box(net: pd.DataFrame) -> None:
    groups = [net.loc[net.setting == s, "latency_ratio"].dropna().to_numpy() for s in VARIANTS]
    fig, ax = plt.subplots(figsize=(max(8.0, 0.65 * len(VARIANTS)), 4.8))
    ax.boxplot(groups, tick_labels=VARIANTS, showfliers=False, widths=0.6)
    rng = np.random.default_rng(0)
    for i, values in enumerate(groups, 1):
        ax.scatter(i + rng.uniform(-0.22, 0.22, len(values)), values, s=8, alpha=0.45, color="tab:blue", lw=0)
    ax.axhline(1.0, ls="--", color="grey", lw=1)
    ax.axhline(1 - ARGS.faster_pct / 100, ls=":", color="tab:green", lw=1, label=f"{ARGS.faster_pct:.0f}% faster")
    ratio_axis(ax)
    ax.set_ylabel("latency ratio (variant / none), log scale")
    ax.tick_params(axis="x", rotation=60)
    plt.setp(ax.get_xticklabels(), ha="right")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"Latency ratio per setting ({net.model_key.nunique()} networks, onnxruntime CPU)")
    save(fig, "latency_ratio_box.png")


latency_box(NET)

# %% [markdown]
# ## The trade-off: storage against latency, one panel per setting
#
# x: effective storage ratio (compressed size for `sparse*`), y: latency ratio, both log scale. The lower-left
# quadrant is where a setting is both smaller and faster.

# %%


def family_colors(families: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(families) <= 10 else "tab20")
    return {f: cmap(i % cmap.N) for i, f in enumerate(sorted(families))}


COLORS = family_colors(list(NET.family.unique()))


def tradeoff_scatter(net: pd.DataFrame) -> None:
    ncols = 4
    nrows = int(np.ceil(len(VARIANTS) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.9 * nrows), sharex=True, sharey=True,
                             squeeze=False)
    for ax, s in zip(axes.flat, VARIANTS, strict=False):
        d = net[net.setting == s]
        ax.scatter(d.eff_storage_ratio, d.latency_ratio, s=7, alpha=0.6, lw=0, c=[COLORS[f] for f in d.family])
        ax.axhline(1, color="grey", lw=0.8, ls="--")
        ax.axvline(1, color="grey", lw=0.8, ls="--")
        ax.set_title(f"{s} (n={len(d)})", fontsize=9)
    for ax in axes.flat[len(VARIANTS):]:
        ax.set_visible(False)
    ratio_axis(axes[0, 0], "x")
    ratio_axis(axes[0, 0], "y")
    for ax in axes[:, 0]:
        ax.set_ylabel("latency ratio")
    for ax in axes[-1, :]:
        ax.set_xlabel("storage ratio")
    handles = [plt.Line2D([], [], ls="", marker="o", color=c, label=f) for f, c in COLORS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=min(6, len(handles)), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.03))
    fig.suptitle("Storage vs latency per setting (ratios to the uncompressed network; lower-left = wins both)")
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    save(fig, "storage_vs_latency.png")


tradeoff_scatter(NET)

# %% [markdown]
# ## Accuracy and fidelity per setting
#
# Networks with labels: top-1 drop in percentage points. Networks without labels (random or synthetic inputs):
# fidelity, 1 − cosine similarity of the outputs to the uncompressed network's. The two are different measures
# and are plotted apart.

# %%


def quality_plot(net: pd.DataFrame) -> None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.2))
    fid = [net.loc[(net.setting == s) & net.acc_drop_pct.isna(), "fidelity_loss"].dropna().clip(lower=1e-9)
           for s in VARIANTS]
    ax1.boxplot(fid, tick_labels=VARIANTS, showfliers=True, flierprops={"markersize": 2})
    ax1.axhline(1 - ARGS.min_cosine, ls=":", color="tab:red", lw=1, label=f"threshold (cosine {ARGS.min_cosine})")
    ax1.set_yscale("log")
    ax1.set_ylabel("fidelity loss, 1 - cosine (log)")
    ax1.set_title("Fidelity to the uncompressed outputs (networks without labels)")
    ax1.legend(fontsize=8)
    drops = [net.loc[net.setting == s, "acc_drop_pct"].dropna() for s in VARIANTS]
    ax2.boxplot(drops, tick_labels=VARIANTS, showfliers=True, flierprops={"markersize": 2})
    ax2.axhline(ARGS.max_drop_pct, ls=":", color="tab:red", lw=1, label=f"threshold ({ARGS.max_drop_pct} pp)")
    ax2.set_ylabel("top-1 drop (percentage points)")
    ax2.set_title(f"Accuracy with labels ({net.loc[net.acc_drop_pct.notna(), 'model_key'].nunique()} networks)")
    ax2.legend(fontsize=8)
    if not any(len(x) for x in drops):
        ax2.text(0.5, 0.5, "no records with labels", transform=ax2.transAxes, ha="center", color="grey")
    for ax in (ax1, ax2):
        ax.tick_params(axis="x", rotation=60)
        plt.setp(ax.get_xticklabels(), ha="right", fontsize=8)
    save(fig, "accuracy_fidelity.png")


quality_plot(NET)

# %% [markdown]
# ## 3. Side by side with the study's TX2 numbers
#
# The mapping is approximate:
#
# * `wq16` / `wq8` / `wq4` (weights stored narrow, dequantized at run time) correspond to the study's 16-, 8- and
#   6-bit weight quantization. Our narrowest width is **4 bits, not 6**.
# * `int8-dynamic` / `int8-static-*` run integer kernels. The study has no counterpart; they are shown for
#   contrast.
# * `sparse*` (unstructured magnitude pruning) and `chprune*` (channel pruning) correspond to the study's
#   pruning. The study pruned **with retraining**; ours does not retrain, so our accuracy cost is an upper bound.
#   Study figures are its Fig. 4 averages over VGG_16, ResNet_50 and NMT.
# * `chprune*+int8-static-pc` corresponds to the study's 8-bit quantization followed by pruning (Fig. 10, mean of
#   VGG_16 and ResNet_50).
#
# Signs: every column is a *change* in percent, positive = larger / slower / more energy. Ours: median over our
# networks (the bars' whiskers span the quartiles); the study: its means. Hardware and software differ
# completely: TX2 GPU with TensorFlow 1.6 against this host's CPU with onnxruntime.

# %%
STUDY_LABEL = "study (TX2 GPU, TF 1.6)"
STUDY_MAP = {"wq16": ("quant", "16"), "wq8": ("quant", "8"), "wq4": ("quant", "6"),
             "sparse50": ("prune", None), "sparse75": ("prune", None), "sparse90": ("prune", None),
             "chprune10": ("prune", None), "chprune25": ("prune", None), "chprune50": ("prune", None),
             "chprune25+int8-static-pc": ("combined", None), "chprune50+int8-static-pc": ("combined", None)}


def study_numbers(folder: Path) -> dict[tuple, dict]:
    """(group, bits) -> {storage, latency, energy change %, accuracy loss, label}; {} without the study data."""
    if not (folder / "quantization_averages.csv").is_file():
        print(f"Study data not found in {folder}; the comparison shows our numbers only.", file=sys.stderr)
        return {}
    out: dict[tuple, dict] = {}
    for _, r in pd.read_csv(folder / "quantization_averages.csv").iterrows():
        out[("quant", str(int(r.bits)))] = {
            "storage": -r.storage_reduction_pct, "latency": r.latency_increase_pct,
            "energy": r.energy_increase_pct, "accuracy_loss": r.top1_loss_pct,
            "label": f"{int(r.bits)}-bit weight quantization (mean of 10 CNNs; top-1 loss relative %)"}
    avg = pd.read_csv(folder / "pruning_models.csv").set_index("network").loc["Average"]
    out[("prune", None)] = {
        "storage": -avg.fig4_storage_reduction_pct, "latency": -avg.fig4_latency_reduction_pct,
        "energy": -avg.fig4_energy_reduction_pct, "accuracy_loss": avg.fig4_top1_loss_pct,
        "label": "pruning with retraining (Fig. 4 average: VGG_16, ResNet_50, NMT)"}
    c = pd.read_csv(folder / "combined.csv")
    out[("combined", None)] = {
        "storage": pct(c.size_mb_after / c.size_mb_before).mean(),
        "latency": pct(c.latency_ms_after / c.latency_ms_before).mean(),
        "energy": pct(c.energy_j_after / c.energy_j_before).mean(),
        "accuracy_loss": (c.top1_pct_before - c.top1_pct_after).mean(),
        "label": "8-bit quantization then pruning (Fig. 10, mean of VGG_16 and ResNet_50; top-1 loss in points)"}
    return out


STUDY = study_numbers(ARGS.study)

# %%
SCOPES = {"ours (all networks)": NET}
if (NET.kind == "study").any():
    SCOPES["ours (study networks)"] = NET[NET.kind == "study"]


def comparison_table(scopes: dict[str, pd.DataFrame], study: dict) -> pd.DataFrame:
    rows = []
    for s in VARIANTS:
        ref = study.get(STUDY_MAP.get(s, ("none", None)), {})
        for scope, net in scopes.items():
            d = net[net.setting == s]
            if d.empty:
                continue
            rows.append({"setting": s, "scope": scope, "n": len(d),
                         "storage_change_pct": pct(d.eff_storage_ratio.median()),
                         "latency_change_pct": pct(d.latency_ratio.median()),
                         "energy_change_pct": pct(d.energy_ratio.median()),
                         "storage_iqr": pct(d.eff_storage_ratio.quantile([0.25, 0.75])).tolist(),
                         "latency_iqr": pct(d.latency_ratio.quantile([0.25, 0.75])).tolist(),
                         "energy_iqr": pct(d.energy_ratio.quantile([0.25, 0.75])).tolist(),
                         "acc_drop_pct_median": d.acc_drop_pct.median(),
                         "fidelity_loss_median": d.fidelity_loss.median(),
                         "study_counterpart": ref.get("label", "none in the study"),
                         "study_storage_change_pct": ref.get("storage", np.nan),
                         "study_latency_change_pct": ref.get("latency", np.nan),
                         "study_energy_change_pct": ref.get("energy", np.nan),
                         "study_accuracy_loss": ref.get("accuracy_loss", np.nan)})
    return pd.DataFrame(rows)


COMPARISON = comparison_table(SCOPES, STUDY)
with pd.option_context("display.width", 200, "display.max_columns", 30, "display.precision", 1):
    print(COMPARISON.drop(columns=["storage_iqr", "latency_iqr", "energy_iqr", "study_counterpart"]).to_string())

# %%


def comparison_bars(comp: pd.DataFrame) -> None:
    metrics = [("storage", "storage change %"), ("latency", "latency change %"),
               ("energy", f"{ENERGY_LABEL.split(',')[0]} change % ({'ours estimated' if ESTIMATED else 'measured'})")]
    scopes = list(comp.scope.unique())
    width = 0.8 / (len(scopes) + 1)
    x = np.arange(len(VARIANTS))
    fig, axes = plt.subplots(3, 1, figsize=(max(9.0, 0.75 * len(VARIANTS)), 10), sharex=True)
    for ax, (m, label) in zip(axes, metrics, strict=True):
        for k, scope in enumerate(scopes):
            d = comp[comp.scope == scope].set_index("setting").reindex(VARIANTS)
            lo = [v[0] if isinstance(v, list) else np.nan for v in d[f"{m}_iqr"]]
            hi = [v[1] if isinstance(v, list) else np.nan for v in d[f"{m}_iqr"]]
            mid = d[f"{m}_change_pct"].to_numpy(dtype=float)
            err = np.abs(np.vstack([mid - np.array(lo, dtype=float), np.array(hi, dtype=float) - mid]))
            ax.bar(x + (k - len(scopes) / 2) * width, mid, width, yerr=np.nan_to_num(err), capsize=2,
                   label=f"{scope}, median (IQR)")
        study = comp.drop_duplicates("setting").set_index("setting").reindex(VARIANTS)[f"study_{m}_change_pct"]
        ax.bar(x + (len(scopes) / 2) * width, study.to_numpy(dtype=float), width, color="tab:orange", hatch="//",
               edgecolor="black", lw=0.5, label=STUDY_LABEL)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylabel(label, fontsize=9)
        if m != "storage":  # slowdowns can reach several hundred percent: linear to +-100, log beyond
            ax.set_yscale("symlog", linthresh=100)
            top = ax.get_ylim()[1]
            ax.set_yticks([t for t in (-100, -75, -50, -25, 0, 25, 50, 75, 100, 200, 500, 1000, 2000) if t <= top])
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+g}"))
    axes[1].legend(fontsize=8, loc="upper left")
    axes[-1].set_xticks(x, VARIANTS, rotation=60, ha="right")
    fig.suptitle("Ours (host CPU, onnxruntime, 1 thread) vs the study (Jetson TX2 GPU, TensorFlow 1.6)\n"
                 "study bars at ours' counterparts: wq16/8/4 = 16/8/6-bit, sparse*/chprune* = pruning (retrained), "
                 "chprune+int8 = combined", fontsize=10)
    fig.tight_layout()
    save(fig, "study_vs_ours.png")


comparison_bars(COMPARISON)

# %% [markdown]
# ### Study networks one by one (when our data include them)
#
# The zoo rebuilds the study's 11 networks with random weights; where our records hold them, their weight-only
# quantization is compared network by network with the study's Fig. 3 values.

# %%


def norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def study_per_network(net: pd.DataFrame, folder: Path) -> pd.DataFrame:
    q_path = folder / "quantization.csv"
    if not q_path.is_file() or not (net.kind == "study").any():
        return pd.DataFrame()
    q = pd.read_csv(q_path)
    q["key"] = q.network.map(norm_name)
    q["setting"] = q.bits.map({16: "wq16", 8: "wq8", 6: "wq4"})
    ours = net[net.kind == "study"].assign(key=lambda d: d.model.map(norm_name))
    ours = ours[ours.setting.isin(["wq16", "wq8", "wq4"])].assign(setting=lambda d: d.setting.astype(str))
    m = ours.merge(q, on=["key", "setting"], how="inner")
    return pd.DataFrame({"network": m.network, "setting": m.setting, "study_bits": m.bits,
                         "ours_storage_change_pct": pct(m.storage_ratio), "study_storage_change_pct":
                         -m.storage_reduction_pct, "ours_latency_change_pct": pct(m.latency_ratio),
                         "study_latency_change_pct": m.latency_increase_pct,
                         "ours_energy_change_pct": pct(m.energy_ratio), "study_energy_change_pct": m.energy_increase_pct})


STUDY_NETS = study_per_network(NET, ARGS.study)
if STUDY_NETS.empty:
    print("No study networks in these records (or no study data): per-network comparison skipped.")
else:
    STUDY_NETS.to_csv(ARGS.out / "study_per_network.csv", index=False)
    print(STUDY_NETS.round(1).to_string(index=False))

# %% [markdown]
# ## 4. When does each compression pay off on this host?
#
# For each setting, the share of networks for which it
#
# * (a) cuts latency by at least `--faster-pct` (default 10%),
# * (b) cuts effective storage by at least `--smaller-pct` (default 25%),
# * (c) keeps accuracy (top-1 drop ≤ `--max-drop-pct` points, with labels) or fidelity (cosine ≥
#   `--min-cosine`, without labels),
#
# and for which both (a) and (c), or both (b) and (c), hold: the setting *pays off* for latency or for storage.
# `faster_sig` counts only networks whose 95% confidence interval of the ratio lies wholly below the threshold.

# %%


def payoff_table(net: pd.DataFrame) -> pd.DataFrame:
    d = net[net.setting != "none"].copy()
    d["faster"] = d.latency_ratio <= 1 - ARGS.faster_pct / 100
    d["faster_sig"] = d.ratio_ci_hi <= 1 - ARGS.faster_pct / 100
    d["slower"] = d.latency_ratio >= 1 + ARGS.faster_pct / 100
    d["smaller"] = d.eff_storage_ratio <= 1 - ARGS.smaller_pct / 100
    known = d.quality_ok.notna()
    d["q_ok"] = d.quality_ok.where(known, False).astype(bool)
    d["pays_latency"] = d.faster & d.q_ok
    d["pays_storage"] = d.smaller & d.q_ok
    d["pays_both"] = d.faster & d.smaller & d.q_ok
    g = d.groupby("setting", observed=True)
    t = g[["faster", "faster_sig", "slower", "smaller", "pays_latency", "pays_storage", "pays_both"]].mean()
    t["quality_ok"] = d[known].groupby("setting", observed=True).q_ok.mean()
    t.insert(0, "n", g.size())
    t["n_quality_known"] = d[known].groupby("setting", observed=True).size()
    return t.reindex(VARIANTS)


PAYOFF = payoff_table(NET)
with pd.option_context("display.width", 200, "display.precision", 2):
    print(PAYOFF.to_string())

# %% [markdown]
# ### Which network features separate winners from losers?
#
# For each setting: the Spearman rank correlation between log latency ratio and each network feature, and the
# median ratio on either side of the strongest feature's median. Features: shares of MACs by operator kind
# (convolution, depthwise, Gemm + MatMul + recurrent), MACs, parameters, the uncompressed latency (small
# networks are dominated by per-operator overhead), arithmetic intensity.

# %%
CANDIDATES = {"share_matmul_like": "share of MACs in Gemm/MatMul/recurrent",
              "share_conv": "share of MACs in convolutions",
              "share_conv_depthwise": "share of MACs in depthwise convolutions",
              "share_elementwise_flops": "share of element-wise FLOPs",
              "log10_macs": "log10 MACs", "log10_params": "log10 parameters",
              "log10_baseline_ms": "log10 uncompressed latency (ms)",
              "arithmetic_intensity": "arithmetic intensity (FLOP/byte)"}
MIN_NETWORKS = 8


def feature_correlations(net: pd.DataFrame) -> pd.DataFrame:
    rows = {}
    for s in VARIANTS:
        d = net[net.setting == s]
        if len(d) < MIN_NETWORKS:
            continue
        y = np.log(d.latency_ratio.astype(float))
        rows[s] = {f: y.corr(d[f].astype(float), method="spearman") for f in CANDIDATES}
    return pd.DataFrame.from_dict(rows, orient="index").reindex(columns=list(CANDIDATES))


def split_on(d: pd.DataFrame, feature: str, cut: float | None = None) -> dict:
    """Median latency ratio below / at-or-above ``cut`` (default: the feature's median)."""
    x = d[feature].astype(float)
    cut = float(x.median()) if cut is None else cut
    hi, lo = d[x >= cut], d[x < cut]
    return {"feature": feature, "cut": cut, "n_hi": len(hi), "n_lo": len(lo),
            "ratio_hi": hi.latency_ratio.median(), "ratio_lo": lo.latency_ratio.median()}


CORR = feature_correlations(NET)
with pd.option_context("display.width", 200, "display.precision", 2):
    print(CORR.to_string() if not CORR.empty else f"fewer than {MIN_NETWORKS} networks per setting")

# %%


def feature_scatter(net: pd.DataFrame, setting: str, feature: str, xlabel: str, name: str,
                    logx: bool = False) -> None:
    d = net[net.setting == setting]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for fam, g in d.groupby("family"):
        ax.scatter(g[feature], g.latency_ratio, s=12, alpha=0.7, lw=0, color=COLORS[fam], label=fam)
    ax.axhline(1, color="grey", ls="--", lw=1)
    ax.axhline(1 - ARGS.faster_pct / 100, color="tab:green", ls=":", lw=1)
    ratio_axis(ax)
    if logx:
        ax.set_xscale("log")
    rho = d.latency_ratio.astype(float).corr(d[feature].astype(float), method="spearman") if len(d) > 2 else np.nan
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{setting} latency ratio (log)")
    ax.set_title(f"{setting}: latency ratio vs {xlabel} (n={len(d)}, Spearman rho={rho:.2f})", fontsize=10)
    if len(d):
        ax.legend(fontsize=7, ncol=2, loc="best")
    save(fig, name)


feature_scatter(NET, "int8-dynamic", "share_matmul_like", "share of MACs in Gemm/MatMul/recurrent",
                "int8_dynamic_vs_matmul_share.png")
feature_scatter(NET, "chprune50", "macs_total", "MACs of the uncompressed network", "chprune50_vs_macs.png",
                logx=True)
feature_scatter(NET, "fp16", "macs_total", "MACs of the uncompressed network", "fp16_vs_macs.png", logx=True)

# %% [markdown]
# ### Findings, generated from the numbers above

# %%


def share(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{100 * x:.0f}%"


def setting_sentence(s: str) -> str:
    t, p = SETTING_TABLE.loc[s], PAYOFF.loc[s]
    if pd.isna(p.n) or p.n == 0:
        return f"{s}: no network has both this variant and its baseline measured."
    verdicts = [w for w, v in (("latency", p.pays_latency), ("storage", p.pays_storage)) if v >= 0.5]
    verdict = (f"pays off for {' and '.join(verdicts)} on most networks" if verdicts
               else "pays off on fewer than half of the networks")
    verdict += f" (latency on {share(p.pays_latency)}, storage on {share(p.pays_storage)})"
    held_back = [w for w, gain, pays in (("latency", p.faster, p.pays_latency), ("storage", p.smaller, p.pays_storage))
                 if gain >= 0.5 > pays]
    if held_back:
        why = " (the study retrained after pruning; we do not)" if s.startswith(("sparse", "chprune")) else ""
        verdict += (f"; it would pay off for {' and '.join(held_back)} on most networks if its accuracy/fidelity "
                    f"loss were acceptable or recovered{why}")
    return (f"{s}: over {int(p.n)} networks the median latency ratio is {t.latency_ratio_median:.2f} "
            f"(mean {t.latency_ratio_mean:.2f}); {share(p.faster)} run >= {ARGS.faster_pct:.0f}% faster and "
            f"{share(p.slower)} >= {ARGS.faster_pct:.0f}% slower; {share(p.smaller)} are >= {ARGS.smaller_pct:.0f}% "
            f"smaller (median storage change {t.eff_storage_change_pct_median:+.0f}%); {share(p.quality_ok)} keep "
            f"accuracy/fidelity; {'estimated ' if ESTIMATED else ''}energy changes by {t.energy_change_pct_median:+.0f}% (median). "
            f"Verdict: {verdict}.")


def feature_sentence(s: str) -> str | None:
    if s not in CORR.index or CORR.loc[s].abs().isna().all():
        return None
    best = CORR.loc[s].abs().idxmax()
    sp = split_on(NET[NET.setting == s], best)
    if not (sp["n_hi"] and sp["n_lo"]):
        return None
    return (f"{s}: the feature that best ranks its latency ratio is {CANDIDATES[best]} (Spearman rho = "
            f"{CORR.loc[s, best]:+.2f}); median ratio {sp['ratio_hi']:.2f} at or above {sp['cut']:.3g} "
            f"(n={sp['n_hi']}) vs {sp['ratio_lo']:.2f} below (n={sp['n_lo']}).")


def focus_sentences(net: pd.DataFrame) -> list[str]:
    out = []
    d = net[net.setting == "int8-dynamic"]
    if len(d):
        sp = split_on(d, "share_matmul_like", 0.5)
        hi = f"{sp['ratio_hi']:.2f}" if sp["n_hi"] else "n/a"
        lo = f"{sp['ratio_lo']:.2f}" if sp["n_lo"] else "n/a"
        out.append(f"int8-dynamic on networks with >= 50% of MACs in Gemm/MatMul/recurrent: median latency ratio "
                   f"{hi} (n={sp['n_hi']}); on the rest: {lo} (n={sp['n_lo']}).")
    for s in ("chprune25", "chprune50"):
        d = net[net.setting == s]
        sp = split_on(d, "macs_total") if len(d) >= 2 else {}
        if sp and sp["n_hi"] and sp["n_lo"]:
            out.append(f"{s}: median ratio {sp['ratio_hi']:.2f} on networks with >= {sp['cut']:.3g} MACs "
                       f"(n={sp['n_hi']}) vs {sp['ratio_lo']:.2f} on smaller ones (n={sp['n_lo']}).")
    d = net[net.setting == "fp16"]
    if len(d):
        out.append(f"fp16 changes storage by {pct(d.storage_ratio.median()):+.0f}% (median) and its median "
                   f"latency ratio is {d.latency_ratio.median():.2f}; {share((d.latency_ratio <= 0.9).mean())} "
                   f"of {len(d)} networks run >= 10% faster.")
    return out


def study_sentences(comp: pd.DataFrame) -> list[str]:
    out = []
    d = comp[comp.scope == "ours (all networks)"].dropna(subset=["study_latency_change_pct"])
    for _, r in d.iterrows():
        out.append(f"{r.setting} vs the study's {r.study_counterpart.split(' (')[0]}: storage {r.storage_change_pct:+.0f}% "
                   f"(study {r.study_storage_change_pct:+.0f}%), latency {r.latency_change_pct:+.0f}% "
                   f"(study {r.study_latency_change_pct:+.0f}%), energy {r.energy_change_pct:+.0f}%"
                   f"{' (estimated)' if ESTIMATED else ''} (study {r.study_energy_change_pct:+.0f}%).")
    return out


SENTENCES = ([ENERGY_NOTE] + [setting_sentence(s) for s in VARIANTS] + [x for s in VARIANTS if (x := feature_sentence(s))]
             + focus_sentences(NET) + study_sentences(COMPARISON))
print("\n".join(f"- {x}" for x in SENTENCES))

# %% [markdown]
# ## Summary files
#
# `summary.json` (machine-readable: one row per setting, the study comparison, the pay-off shares, the generated
# sentences) and `summary.md` (the same as tables).

# %%


def records(df: pd.DataFrame) -> list[dict]:
    """DataFrame -> JSON-safe list of dicts (NaN -> null)."""
    return json.loads(df.to_json(orient="records", double_precision=6))


def md_table(df: pd.DataFrame, digits: int = 3) -> str:
    def cell(v: object) -> str:
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.{digits}g}"
        return str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def write_summary() -> dict:
    settings = SETTING_TABLE.join(PAYOFF.drop(columns="n"), how="left").reset_index()
    settings["setting"] = settings.setting.astype(str)
    comp = COMPARISON.drop(columns=["storage_iqr", "latency_iqr", "energy_iqr"])
    comp["setting"] = comp.setting.astype(str)
    summary = {"data_files": [str(f) for f in FILES], "device": DEVICE, "n_records": int(len(RAW)),
               "n_networks": int(RAW.model_key.nunique()), "energy_label": ENERGY_LABEL,
               "energy_sources": ENERGY_SOURCES, "status_counts": records(status_counts.reset_index().astype(str)),
               "thresholds": {k: getattr(ARGS, k) for k in ("faster_pct", "smaller_pct", "max_drop_pct",
                                                            "min_cosine")},
               "settings": records(settings), "family_median_latency_ratio": json.loads(FAMILY_MEDIAN.to_json()),
               "study_comparison": records(comp), "sentences": SENTENCES, "figures": FIGURES,
               "runtime_s": round(time.perf_counter() - T0, 2)}
    (ARGS.out / "summary.json").write_text(json.dumps(summary, indent=1))
    cols = ["setting", "n", "skipped", "failed", "latency_ratio_median", "latency_ratio_mean",
            "eff_storage_change_pct_median", "energy_change_pct_median", "peak_rss_change_pct_median",
            "acc_drop_pct_median", "fidelity_loss_median", "faster", "smaller", "quality_ok", "pays_latency",
            "pays_storage"]
    md = ["# Compression characterisation: summary", "", f"Data: {', '.join(summary['data_files'])} "
          f"({summary['n_records']} records, {summary['n_networks']} networks, device {DEVICE}). "
          f"Energy: {ENERGY_LABEL}.", "",
          "## Per setting", "", md_table(settings[cols]), "", "## Ours vs the study (change %, + = larger/slower)",
          "", md_table(comp[["setting", "scope", "n", "storage_change_pct", "latency_change_pct",
                             "energy_change_pct", "study_storage_change_pct", "study_latency_change_pct",
                             "study_energy_change_pct"]]), "", "## Findings", "", *[f"- {s}" for s in SENTENCES]]
    (ARGS.out / "summary.md").write_text("\n".join(md) + "\n")
    return summary


SUMMARY = write_summary()
print(f"Wrote {len(FIGURES)} figures, summary.json, summary.md and per_network.csv to {ARGS.out} "
      f"in {SUMMARY['runtime_s']:.1f} s")
