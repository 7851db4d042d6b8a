"""The parity section: each network on one real cell, the same seeds naive and fused, means
with 95% intervals and Welch's test."""

from __future__ import annotations

import numpy as np

from sections.common import log, t_interval


def parity_section(data, n_seeds: int = 12, first_seed: int = 201, models=("dnn", "cnn"), rows: int = 2000) -> dict:
    """Each network on one real cell (``rows`` training rows, clean labels, full R settings),
    ``n_seeds`` seeds naive and the same seeds fused as the CPU/GPU plan groups them; test
    accuracy on 3,000 test images. Reports both means with 95% t-intervals, whether each mean
    lies in the other's interval, and Welch's test of equal means."""
    from scipy import stats

    from datavsmath.training.fused import FusedKerasNets, plan_for
    from datavsmath.metrics import score
    from datavsmath.models import make_model

    idx = np.random.default_rng(7).choice(len(data.y_train), rows, replace=False)
    x, y = data.x_train[idx], data.y_train[idx]
    xt, yt = data.x_test[:3000], data.y_test[:3000]
    seeds = list(range(first_seed, first_seed + n_seeds))
    out = {"rows": rows, "test_rows": 3000, "seeds": seeds, "networks": {}}
    for model in models:
        plan = plan_for(model, "auto")
        naive = [score(yt, make_model(model, seed=s).fit(x, y).predict_proba(xt))["acc"] for s in seeds]
        fused = []
        for i in range(0, n_seeds, plan.max_copies):
            group = seeds[i:i + plan.max_copies]
            nets = FusedKerasNets.for_model(model, seeds=group, jit=plan.jit)
            fused += [score(yt, p)["acc"] for p in nets.fit(x, np.stack([y] * len(group))).predict_proba(xt)]
        (mn, hn), (mf, hf) = t_interval(naive), t_interval(fused)
        r = {"copies": plan.max_copies, "xla": plan.jit, "naive_acc": naive, "fused_acc": fused,
             "naive_mean": mn, "naive_ci95": hn, "fused_mean": mf, "fused_ci95": hf,
             "each_mean_in_other_ci95": bool(abs(mn - mf) <= min(hn, hf)),
             "welch_p": float(stats.ttest_ind(naive, fused, equal_var=False).pvalue)}
        out["networks"][model] = r
        log(f"  {model} on {rows} rows, {n_seeds} seeds: naive {mn:.4f} +- {hn:.4f}, fused x{plan.max_copies} "
            f"{mf:.4f} +- {hf:.4f} (95%); each mean in the other's interval: {r['each_mean_in_other_ci95']}; "
            f"Welch p = {r['welch_p']:.3f}")
    return out
