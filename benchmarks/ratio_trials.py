"""Trials of the latency-ratio model's fitting: the ratio folds of ``advisor evaluate`` (each family held
out in turn, the layer-time model refitted without it), with other XGBoost settings for the ratio trees,
other pairings of ratio and layer-time forests, or the trees' residual scaled.

    .venv/bin/python benchmarks/ratio_trials.py [--seeds 0,1,2] [--xgb '{"learning_rate": 0.15}']
        [--pairs 5 --kernel-members 2] [--gains 1.0,1.1,1.2] [--inner-folds 3] [--kern-weights 0.85,1.0]
        [--prior-inputs] [--own-models structured-pruning|none]

- ``--xgb``: overrides of the ratio trees' XGBoost settings (``models.RatioModel.XGB_OVERRIDES``).
- ``--pairs P --kernel-members K``: P ratio models of one forest each, each with its own layer-time
  model of K forests (own seeds), their log ratios averaged. Default: one ratio model of
  ``RatioModel.MEMBERS`` forests on one layer-time model of ``KernelModel``'s members (as shipped).
- ``--gains``: the members' mean residual over the prior multiplied by each gain before it is added
  (1.0 is the shipped prediction); printed side by side, and a "jackknife" gain per family, the one
  that puts most of the *other* families' rows within +-10%.
- ``--inner-folds K``: the training rows' layer-time inputs (``x_log_kern``, ``q0_kern_us``,
  ``q1_kern_us``) cross-fitted, as in stacking: each from a layer-time model fitted without its family's
  group (K groups of the training families, ``evaluate.family_folds``). The held-out family is priced
  by the layer-time model of all training families, as shipped. Does the ratio model, fitted on layer
  times as inaccurate as a new family's, carry over better than one fitted on in-sample layer times?
- ``--kern-weights W1,W2,..``: one ratio model per weight of the layer term in the prior
  (``models.KERN_WEIGHT``, 0.85 shipped), their log ratios averaged: an ensemble over priors.
- ``--prior-inputs``: the op-level cost prior's and the layer-cost prior's log ratios as two more tree
  inputs (the trees see only their blend as shipped).
- ``--own-models F1,F2,..|none``: the setting families predicted by ratio models of their own (priors
  and trees fitted on that family's training rows only; ``models.RatioModel.OWN_MODELS``, shipped:
  ``structured-pruning,weight-only``); ``none``: the shared model predicts every row. Every run prints
  the shared model's figure too, and both per setting family with a model of its own.

With the defaults this reproduces ``advisor evaluate``'s ratio figure at each seed (84.64% at seed 0 on
the 23 families with the models of their own, shipped since 2026-11-30 evening; 84.21% with the shared
model alone, ``--own-models none``; 84.33% on the 19 families before). Prints figures; asserts nothing.
About 4 minutes a seed on the host data (2 cores; 2.5 before the models of their own); ``--pairs 5`` and
``--inner-folds 3`` take longer (3 and 4.5 minutes before them).
Tried with ``--own-models structured-pruning,weight-only,combined`` (seed 0): 84.38%, the combined
settings 56.5% -> 53.3%; with ``...,precision``: 84.63%, fp16 93.4% -> 93.3%; with ``...,quantization``:
84.53%, the quantization settings 73.5% -> 73.0%.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from host_data import HOST_DATA


def _numbers(kind):
    def parse(text: str) -> list:
        try:
            out = [kind(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
        if not out or any(x < 0 for x in out):
            raise argparse.ArgumentTypeError(f"expected non-negative numbers, got {text!r}")
        return out
    return parse


def _overrides(text: str) -> dict:
    try:
        out = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not JSON: {text!r}") from None
    if not isinstance(out, dict):
        raise argparse.ArgumentTypeError("expected a JSON object of XGBoost settings")
    return out


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=_numbers(int), default=[0], help="comma-separated seeds (default 0)")
    ap.add_argument("--xgb", type=_overrides, default={}, help="JSON overrides of the ratio trees' settings")
    ap.add_argument("--pairs", type=_positive, default=None, help="ratio models, each with its own layer-time model")
    ap.add_argument("--kernel-members", type=_positive, default=None, help="forests of each layer-time model")
    ap.add_argument("--gains", type=_numbers(float), default=[1.0], help="residual gains to print (default 1.0)")
    ap.add_argument("--inner-folds", type=_positive, default=None,
                    help="cross-fit the training rows' layer-time inputs over this many groups of families (>= 2)")
    ap.add_argument("--kern-weights", type=_numbers(float), default=None,
                    help="one ratio model per weight of the layer term in the prior, averaged")
    ap.add_argument("--prior-inputs", action="store_true", help="both priors' log ratios as tree inputs")
    ap.add_argument("--own-models", type=lambda t: [x.strip() for x in t.split(",") if x.strip() and x.strip() != "none"],
                    default=None, help="comma-separated setting families predicted by ratio models of their own "
                                       "(default: as shipped; none: the shared model alone)")
    args = ap.parse_args()
    if args.inner_folds == 1:
        ap.error("--inner-folds must be at least 2")
    if args.kern_weights and any(w > 1 for w in args.kern_weights):
        ap.error("--kern-weights must lie in [0, 1]")

    import pandas as pd

    from advisor.predictors import suite
    from advisor.predictors.base import seed_params
    from advisor.predictors.encoding import SettingEncoder, design_matrix
    from advisor.predictors.evaluate import family_folds, run_jobs, within_tol
    from advisor.predictors.models import KERN_WEIGHT, RatioModel
    from advisor.predictors.training import known_settings, select

    frame = select(HOST_DATA, "host", "onnxruntime-cpu").frame
    own_models = list(RatioModel.OWN_MODELS) if args.own_models is None else args.own_models
    unknown = sorted(set(own_models) - set(frame["setting_family"]))
    if unknown:
        ap.error(f"--own-models: no such setting family {unknown}; the data hold {sorted(set(frame['setting_family']))}")
    design = design_matrix(frame, SettingEncoder(known_settings(frame)))
    layers = suite.layer_index(frame)

    def ratio_model(weight: float):
        class Trial(RatioModel):
            KERN_WEIGHT = weight

            def _augment(self, X):
                Xa = super()._augment(X)
                if args.prior_inputs:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        if self.cost_ is not None:
                            Xa["x_log_cost_prior"] = np.log(self.cost_.predict(X))
                        if self.kcost_ is not None and "q0_kern_us" in X.columns:
                            Xa["x_log_kcost_prior"] = np.log(self.kcost_.predict(X))
                return Xa
        return Trial

    cross = ["x_log_kern", "q0_kern_us", "q1_kern_us"]

    def training_inputs(train, fit_rows, km, seed: int, members):
        """The ratio model's inputs for its training rows: as shipped, or with ``--inner-folds`` the layer
        times of each group of families from a layer-time model fitted without that group."""
        X = suite.ratio_inputs(design.loc[fit_rows.index], fit_rows, km, True, layers)
        if args.inner_folds is None:
            return X
        for group in family_folds(train, args.inner_folds):
            inner = suite.fit_kernel(train[~train["family"].isin(group)], layers, seed, members)
            rows = fit_rows[fit_rows["family"].isin(group)]
            Xi = suite.ratio_inputs(design.loc[rows.index], rows, inner, True, layers)
            X.loc[rows.index, cross] = Xi[cross].to_numpy(float)
        return X

    def fold(family: str, seed: int):
        train = frame[frame["family"] != family]
        fit_rows = train[train["setting"] != "none"]
        test = frame[(frame["family"] == family) & (frame["setting"] != "none")]
        pairs = [(seed, None)] if args.pairs is None else [(seed * args.pairs + k, 1) for k in range(args.pairs)]
        priors, residuals, shareds, same = [], [], [], None
        labels = fit_rows["ratio"].to_numpy(float)
        for pair_seed, members in pairs:
            km = suite.fit_kernel(train, layers, pair_seed, args.kernel_members)
            X = training_inputs(train, fit_rows, km, pair_seed, args.kernel_members)
            Xt = suite.ratio_inputs(design.loc[test.index], test, km, True, layers)
            for weight in args.kern_weights or [KERN_WEIGHT]:
                model = ratio_model(weight)(xgb_params={**(seed_params(pair_seed) or {}), **args.xgb} or None,
                                            members=members, own_models=own_models)
                model.fit(X, labels, suite.family_weights(fit_rows["family"]), groups=fit_rows["family"].to_numpy())
                prior, residual, same = model.parts(Xt, native=True)
                p0, r0, s0 = model.parts(Xt, native=True, own=False)  # the shared model's, for every row
                shareds.append(np.where(np.isfinite(s0), s0, p0 + r0))
                priors.append(prior)
                residuals.append(residual)
        return pd.DataFrame({"family": family, "y": np.log(test["ratio"].to_numpy(float)),
                             "prior": np.mean(priors, axis=0), "residual": np.mean(residuals, axis=0),
                             "identity": same, "shared": np.mean(shareds, axis=0),
                             "setting_family": test["setting_family"].to_numpy()}, index=test.index)

    print(f"ratio trials: xgb {args.xgb or 'as shipped'}, "
          f"{'one ratio model, one layer-time model' if args.pairs is None else f'{args.pairs} pairs'}"
          f"{'' if args.kernel_members is None else f', layer-time forests {args.kernel_members}'}"
          f"{'' if args.inner_folds is None else f', layer times cross-fitted over {args.inner_folds} groups'}"
          f"{'' if args.kern_weights is None else f', layer-term weights {args.kern_weights} averaged'}"
          f"{', both priors as tree inputs' if args.prior_inputs else ''}"
          f"{f', own models for {own_models}' if own_models else ', the shared model alone'}; "
          f"{frame['family'].nunique()} families held out one at a time")
    for seed in args.seeds:
        t0 = time.time()
        d = pd.concat(run_jobs([lambda f=f, s=seed: fold(f, s) for f in sorted(frame["family"].unique())]))
        ok = {}
        for gain in sorted(set(args.gains) | {1.0}):
            pred = d["prior"] + gain * d["residual"]
            pred = np.where(np.isfinite(d["identity"]), d["identity"], pred)
            ok[gain] = within_tol(pred - d["y"])
        text = " / ".join(f"gain {g:g}: {100 * o.mean():.2f}%" for g, o in ok.items())
        if len(ok) > 1:  # each family's gain chosen on the other families' rows
            gains, fams = list(ok), d["family"].to_numpy(object)
            table = np.array([ok[g] for g in gains])
            jack = np.zeros(len(d), bool)
            for f in np.unique(fams):
                held = fams == f
                jack[held] = table[int(np.argmax(table[:, ~held].mean(axis=1))), held]
            text += f" / jackknife gain: {100 * jack.mean():.2f}%"
        if own_models:
            base = within_tol(d["shared"] - d["y"])
            fams = d["setting_family"].to_numpy(object)
            text += f" / the shared model alone: {100 * base.mean():.2f}% (" + ", ".join(
                f"{f} {100 * ok[1.0][fams == f].mean():.1f} vs {100 * base[fams == f].mean():.1f}%"
                for f in own_models) + ")"
        print(f"seed {seed}: within +-10% {text} ({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
