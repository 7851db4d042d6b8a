"""The markdown summary of a benchmark's results (the JSON written by ``bench/run.py``)."""

from __future__ import annotations

from sections.common import median
from sections.experiments import fit_seconds_by_model
from sections.throughput import PROFILE_ROWS


def markdown(res: dict) -> str:
    env = res["environment"]
    hw = env["hardware"]
    lines = [f"# Benchmark, setting {res['setting']}: {env['date']}", "",
             f"Hardware: {hw['cpu']}, {hw['cores']} cores, {hw['memory_gib']} GiB; GPU: {hw['gpu'] or 'none'}. "
             f"keras {env['versions'].get('keras')} on {env.get('keras_backend', 'tensorflow')} "
             f"(TensorFlow {env['versions'].get('tensorflow')}, JAX {env['versions'].get('jax', 'absent')}), "
             f"xgboost {env['versions'].get('xgboost')}, dask {env['dask']}. Commit {env['git_commit']}.",
             f"Medians of {res['repeats']} runs.", ""]
    if not hw["gpu"]:
        lines += ["No GPU on this machine: the GPU targets (full grid on one GPU in at most 5 min, GPU busy "
                  "at least 70% while networks train, at least 10x the naive loop) are **unmeasured** here; run "
                  "`bench/run.py --setting full` on a GPU machine.", ""]
    th = res.get("throughput")
    if th:
        lines += ["## Training throughput (steady state, R settings)", "",
                  "| network | rows | variant | copies | XLA | s/epoch | images/s | vs naive |",
                  "|---|---|---|---|---|---|---|---|"]
        for info in th["networks"]:
            for r in info["variants"]:
                lines.append(f"| {info['model']} | {info['train_rows']} | {r['variant']} | {r['copies']} | "
                             f"{'yes' if r['xla'] else 'no'} | {median(r['epoch_seconds']):.3f} | "
                             f"{r['images_per_second']:.0f} | {r['ratio_vs_naive']:.2f}x |")
        if "matmul_gflops" in th:
            cnn = max((i for i in th["networks"] if i["model"] == "cnn"), key=lambda i: i["rows"])
            naive = cnn["variants"][0]
            lines += ["", f"Float32 matmul on this machine: {th['matmul_gflops']:.0f} GFLOP/s (mean of "
                      f"{th['matmul_gflops_start']:.0f} at the start and {th['matmul_gflops_end']:.0f} at the end "
                      "of the throughput section). The CNN needs "
                      f"{cnn['gflop_per_image'] * 1000:.0f} MFLOP per training image; naive `model.fit` runs it at "
                      f"{naive['gflops']:.0f} GFLOP/s ({100 * naive['share_of_matmul_rate']:.0f}% of the matmul rate)."]
            if "cnn_step_ceiling_images_per_second" in th:
                c = th["cnn_step_ceiling_images_per_second"]
                lines += [f"The CNN's bare training step (one batch resident, steps in one compiled loop, no input "
                          f"pipeline) runs {c:.0f} images/s, {c / naive['images_per_second']:.2f}x naive "
                          f"`model.fit` on {cnn['train_rows']} rows: the ceiling for one copy on this device."]
            if "cnn_step_ceiling_bfloat16_images_per_second" in th:
                c16 = th["cnn_step_ceiling_bfloat16_images_per_second"]
                lines += [f"The same step with keras' mixed_bfloat16 policy: {c16:.0f} images/s "
                          f"({c16 / c:.2f}x float32). Not used: it changes the arithmetic of R's float32 runs."]
        if "naive_cnn_epochs" in th:
            prof = th["naive_cnn_epochs"]
            lines += ["", f"Naive CNN epochs on {PROFILE_ROWS} rows (callback profile): {prof['epoch_seconds']} s, "
                      f"of which start of epoch to end of first batch {prof['first_batch_seconds']} s."]
        lines.append("")
    pa = res.get("parity")
    if pa:
        lines += [f"## Parity on one cell ({pa['rows']} training rows, clean, {len(pa['seeds'])} seeds each)", "",
                  "| network | naive acc (95% CI) | fused acc (95% CI) | copies | each mean in the other's CI | Welch p |",
                  "|---|---|---|---|---|---|"]
        for model, r in pa["networks"].items():
            lines.append(f"| {model} | {r['naive_mean']:.4f} +- {r['naive_ci95']:.4f} | {r['fused_mean']:.4f} +- "
                         f"{r['fused_ci95']:.4f} | {r['copies']} | {'yes' if r['each_mean_in_other_ci95'] else 'no'} | "
                         f"{r['welch_p']:.3f} |")
        lines.append("")
    ex = res.get("experiments")
    if ex:
        lines += ["## Whole experiments through the runner", "",
                  f"Optimised side: {ex.get('optimised_on', 'this process')}.", "",
                  "| subset | fits | naive s | optimised s | ratio | acc diff (opt - naive), 95% CI |",
                  "|---|---|---|---|---|---|"]
        fmt = lambda v: f"{v:.1f}" if v is not None else "not run"  # noqa: E731
        for r in ex["runs"]:
            ms = r["median_seconds"]
            naive = fmt(ms.get("naive")) + (" (est.)" if "naive_sample" in r else "")
            if "ratio" in r:
                p = r["parity"]["acc"]
                lines.append(f"| {r['label']} | {r['fits']} | {naive} | {ms['auto']:.1f} | "
                             f"{r['ratio']:.2f}x | {p['mean_difference']:+.4f} +- {p['ci95_half_width']:.4f} |")
            else:
                lines.append(f"| {r['label']} | {r['fits']} | {naive} | {fmt(ms.get('auto'))} | - | - |")
        t = ex["total_seconds"]
        ratio = f"**{ex['total_ratio']:.2f}x**" if "total_ratio" in ex else "-"
        lines += [f"| **all** | | {fmt(t.get('naive'))} | {fmt(t.get('auto'))} | {ratio} | |", ""]
        if ex.get("complete") is False:
            lines += [f"**Partial**: {len(ex['runs'])} of {ex['experiments_planned']} experiments finished "
                      "when this file was written (the run stopped or is still going).", ""]
        by_model = fit_seconds_by_model(ex["runs"])
        if by_model:
            lines += ["Fit seconds by model (sum over the cells run; a fused fit counts its share of the group):", "",
                      "| model | " + " | ".join(by_model) + " |", "|---|" + "---|" * len(by_model)]
            models = sorted({m for side in by_model.values() for m in side})
            lines += [f"| {m} | " + " | ".join(f"{by_model[side].get(m, 0):.1f}" for side in by_model) + " |"
                      for m in models]
            lines.append("")
        if ex.get("naive_every", 1) > 1:
            lines += [f"The naive side ran one cell in {ex['naive_every']} of each experiment (a systematic "
                      "sample) and its time for the whole experiment is that time x all fits / sampled fits: "
                      "an estimate; parity is over the sampled cells.", ""]
        if ex.get("kept_in"):
            lines += [f"The optimised side's fits were kept in `{ex['kept_in']}` (`--keep`): a results "
                      "folder of the same run that was timed.", ""]
        if "quick_profile_seconds_at_most_1200" in ex.get("targets", {}):
            lines += [f"Target (quick profile on the CPU, optimised): at most 1200 s; measured "
                      f"{ex['total_seconds']['auto']:.0f} s: "
                      f"{'met' if ex['targets']['quick_profile_seconds_at_most_1200'] else 'NOT met'}.", ""]
        elif "targets" in ex:
            tg = ex["targets"]
            lines += ["Targets (full grid, 1 replicate): optimised at most 300 s: "
                      f"{'met' if tg['optimised_seconds_at_most_300'] else 'NOT met'}"
                      + (f"; GPU busy at least 70% while networks train "
                         f"({ex['gpu_busy_while_networks_train_pct']:.1f}%): "
                         f"{'met' if tg['gpu_busy_at_least_70_pct'] else 'NOT met'}"
                         if "gpu_busy_at_least_70_pct" in tg else "")
                      + (f"; at least 10x naive: {'met' if tg['ratio_at_least_10'] else 'NOT met'}"
                         if "ratio_at_least_10" in tg else "") + ".", ""]
        gpu_rows = [(r["label"], use) for r in ex["runs"] for use in r.get("gpu_use", {}).get("auto", [])]
        if gpu_rows:
            lines += ["GPU utilisation on the optimised side (nvidia-smi, sampled):", "",
                      "| subset | mean % (whole run) | mean % while networks train | network seconds | peak MiB |",
                      "|---|---|---|---|---|"]
            for label, use in gpu_rows:
                a, w = use["all"], use.get("while_networks_train", {})
                lines.append(f"| {label} | {a.get('mean_utilisation_pct', '-')} | "
                             f"{w.get('mean_utilisation_pct', '-')} | {use.get('network_seconds', '-')} | "
                             f"{a.get('peak_memory_mib', '-')} |")
            lines.append("")
        plans = sorted({r.get("plan", "") for r in ex["runs"] if r.get("plan")})
        lines += [f"Plan ({p})" for p in plans] + [""]
    th = res.get("threads")
    if th and "skipped" not in th:
        lines += [f"## xgboost's threads ({th['rounds']} rounds on {th['rows']} real rows, {th['cores']} cores, "
                  f"medians of {th['repeats']})", "",
                  f"Load average {th['machine_load_before']['loadavg']} before, "
                  f"{th['machine_load_after']['loadavg']} after; busiest processes before:", ""]
        lines += [f"    {p}" for p in th["machine_load_before"].get("top_processes", [])] + [""]
        lines += ["| alone | s |", "|---|---|"] + [f"| {k} | {v:.2f} |" for k, v in th["alone_median"].items()]
        lines += ["", "| side by side | wall s | in line s | beside / in line |", "|---|---|---|---|"]
        lines += [f"| {k} | {v['wall_median']:.2f} | {v['in_line_seconds']:.2f} | {v['beside_over_in_line']:.2f} |"
                  for k, v in th["pairs"].items()]
        pol = th["policy"]
        lines += ["", f"Policy: xgboost nthread={pol['xgb_nthread']}"
                  f"{' on a background thread' if pol['xgb_on_a_thread'] else ''}; trees beside the networks: "
                  f"{'yes' if pol['trees_beside_networks'] else 'no'} ({pol['rule']}). Predictions identical "
                  f"across nthread: {'yes' if th['xgb_predictions_identical_across_nthread'] else 'no'} "
                  f"(largest difference {th['xgb_predictions_max_abs_difference']:.2e}).", ""]
    ov = res.get("overlap")
    if ov:
        t, ms = ov["tree_threads"], ov["median_seconds"]
        lines += ["## Trees beside the networks (optimised runner)", "",
                  f"{ov['label']}, {ov['fits']} fits: trees in line {ms['0']:.1f} s "
                  f"(runs {', '.join(f'{v:.1f}' for v in ov['seconds']['0'])}), on {t} background "
                  f"thread{'s' if t > 1 else ''} {ms[str(t)]:.1f} s (runs "
                  f"{', '.join(f'{v:.1f}' for v in ov['seconds'][str(t)])}): **{ov['ratio']:.2f}x**. Tree "
                  f"results the same both ways: {'yes' if ov['tree_results_identical'] else 'no'}. "
                  f"The runner's default on this device: {ov['runner_default_here']} threads.", ""]
    it = res.get("interrupt")
    if it:
        lines += ["## Ctrl-C to exit (forest fit in flight on a tree thread)", "",
                  f"Median {it['median_seconds']} s, max {it['max_seconds']} s over {len(it['runs'])} stops "
                  f"(target < {it['target_seconds']:g} s: {'met' if it['within_target'] else 'NOT met'}); exit "
                  f"statuses {sorted({r['status'] for r in it['runs']})}.", ""]
    return "\n".join(lines)
