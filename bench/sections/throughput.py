"""The throughput section: steady-state images per second of each network, naive ``model.fit``
against fused programs of several widths, and on a CPU the ceilings that explain the ratios
(flops per image, the dense matmul rate, the bare training step, a naive epoch's profile)."""

from __future__ import annotations

import math
import time

import numpy as np

from sections.common import log, median


def flops_per_image(model: str) -> float:
    """Multiply-adds x 2 of one training image through ``model`` (forward + backward ~ 3x the
    forward pass), counted from the layers that the registered factory builds."""
    import keras

    from datavsmath.models import make_model

    net = make_model(model, seed=0)
    m = net.build(10)
    fwd = 0
    for layer in m.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            h, w = layer.output.shape[1:3]
            fwd += 2 * h * w * kh * kw * cin * cout
        elif isinstance(layer, keras.layers.Dense):
            fwd += 2 * math.prod(layer.kernel.shape)
    keras.backend.clear_session()
    return 3.0 * fwd


def matmul_gflops(repeats: int = 5, n: int = 2048) -> float:
    """This machine's float32 dense matmul rate (GFLOP/s), the practical compute ceiling."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    f = tf.function(lambda a, b: tf.matmul(a, b))
    f(a, b).numpy()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(a, b).numpy()
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / median(times) / 1e9


def step_ceiling(model: str, x, y, steps: int = 40, repeats: int = 3, precision: str = "float32") -> float:
    """Images per second of the network's bare training step: one fixed batch of 128 already
    in memory, ``steps`` optimizer steps in one compiled loop (no shuffling, no batching, no
    Python between steps). What is left is the arithmetic: the most any input pipeline or
    fusion of copies can reach with one copy on this device. ``precision`` is a keras dtype
    policy ("mixed_bfloat16" measures what bfloat16 arithmetic would give; nothing else in
    the package uses it)."""
    import keras
    import tensorflow as tf

    from datavsmath.models import make_model

    net = make_model(model, seed=17)
    keras.utils.set_random_seed(17)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        m = net.build(10)
    finally:
        keras.config.set_dtype_policy(previous)
    opt = net.optimizer()
    xb = tf.constant(net.features(x[:128]))
    yb = tf.one_hot(y[:128], 10)
    loss_fn = keras.losses.CategoricalCrossentropy()

    @tf.function
    def run(n):
        for _ in tf.range(n):
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, m(xb, training=True))
            opt.apply_gradients(zip(tape.gradient(loss, m.trainable_variables), m.trainable_variables))
        return loss

    run(tf.constant(2)).numpy()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(tf.constant(steps)).numpy()
        times.append(time.perf_counter() - t0)
    keras.backend.clear_session()
    return steps * 128 / median(times)


def epoch_timer(model: str, variant: str, x, y, copies: int, jit: bool):
    """A function that measures the steady-state seconds of one training epoch (all copies)
    at the R settings, warmed up before it is returned."""
    from datavsmath.training.fused import FusedKerasNets
    from datavsmath.models import make_model

    def fit(epochs: int, rows: int | None = None) -> float:
        xs, ys1 = x[:rows], y[:rows]
        net = make_model(model, seed=17)
        net.epochs = epochs
        if variant == "naive":
            t0 = time.perf_counter()
            net.fit(xs, ys1)
        else:
            nets = FusedKerasNets(net, seeds=[17 + i for i in range(copies)], jit=jit)
            ys = np.stack([ys1] * copies)
            t0 = time.perf_counter()
            nets.fit(xs, ys)
        return time.perf_counter() - t0

    # warm-up: imports, first traces, a fused program's compilation (the timed fits build
    # their own models, so their set-up cancels in the difference); a few rows do, except for
    # a fused JAX program, which compiles once per image base and so is warmed on all the rows
    from datavsmath.models import keras_backend

    fit(1, rows=None if variant == "fused" and keras_backend() == "jax" else 1024)
    return lambda: max(1e-9, (fit(3) - fit(1)) / 2)


#: per setting: (network, rows given to it, [(variant, copies, XLA, repeats)]); repeats None =
#: the run's --repeats. On a CPU, XLA is measured once, for the record. At full data the CNN
#: is measured once (a naive epoch there takes about 80 s), its widths at 12,000 rows.
THROUGHPUT = {
    "small": [("dnn", 3000, [("naive", 1, False, None), ("fused", 1, False, None), ("fused", 8, False, None),
                             ("fused", 8, True, None)]),
              ("cnn", 1280, [("naive", 1, False, None), ("fused", 1, False, None), ("fused", 2, False, None),
                             ("fused", 2, True, 1)])],
    "cpu": [("dnn", 60000, [("naive", 1, False, None), ("fused", 1, False, None), ("fused", 8, False, None),
                            ("fused", 16, False, None), ("fused", 8, True, 1)]),
            ("cnn", 12000, [("naive", 1, False, None), ("fused", 1, False, None), ("fused", 2, False, None)]),
            ("cnn", 60000, [("naive", 1, False, 1), ("fused", 1, False, 1)])],
}

#: rows of the naive CNN epoch profile (``--setting cpu``)
PROFILE_ROWS = 12000


def naive_epoch_profile(x, y, epochs: int = 2) -> dict:
    """Where a naive CNN epoch's time goes: wall seconds per epoch and the wait from the
    start of each epoch to the end of its first batch (``model.fit`` rebuilds its input
    iterator there), taken with a keras callback around the unchanged ``KerasNet.fit``."""
    import keras

    from datavsmath.models import make_model

    marks = {"begin": [], "first": [], "end": []}

    class Marks(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            marks["begin"].append(time.perf_counter())

        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                marks["first"].append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            marks["end"].append(time.perf_counter())

    original = keras.Model.fit

    def fit_with_marks(self, *args, **kw):
        return original(self, *args, **{**kw, "callbacks": [*(kw.get("callbacks") or []), Marks()]})

    keras.Model.fit = fit_with_marks
    try:
        net = make_model("cnn", seed=17)
        net.epochs = epochs
        net.fit(x, y)
    finally:
        keras.Model.fit = original
    return {"epoch_seconds": [round(e - b, 2) for b, e in zip(marks["begin"], marks["end"])],
            "first_batch_seconds": [round(f - b, 2) for b, f in zip(marks["begin"], marks["first"])]}


def throughput_section(setting: str, repeats: int, data, gpu: bool) -> dict:
    from datavsmath.training.fused import plan_for
    from datavsmath.models import keras_backend, validation_cut

    out = {"method": "epoch = (fit(3 epochs) - fit(1 epoch)) / 2; images/s = copies x train rows / epoch",
           "networks": []}
    if gpu:  # the GPU's plan: fused with XLA at its memory-sized width
        widths = {m: sorted({1, 8, plan_for(m, "auto").max_copies}) for m in ("dnn", "cnn")}
        runs = [(m, 60000, [("naive", 1, False, None)] + [("fused", w, True, None) for w in widths[m]])
                for m in ("dnn", "cnn")]
    else:
        runs = THROUGHPUT["small" if setting == "small" else "cpu"]
    # the CPU ceilings (matmul rate, bare step) are TensorFlow programs
    ceilings = not gpu and keras_backend() == "tensorflow"
    if ceilings:
        out["matmul_gflops_start"] = round(matmul_gflops(), 1)
    for model, n, variants in runs:
        plan = plan_for(model, "auto")
        x, y = data.x_train[:n], data.y_train[:n]
        cut = validation_cut(n)
        timers = [epoch_timer(model, variant, x, y, copies, jit) for variant, copies, jit, _ in variants]
        # round robin over the variants, so that a change in the machine's speed during the
        # run (shared hosts) hits naive and fused alike
        secs_of = [[] for _ in variants]
        for rep in range(max(reps or repeats for *_, reps in variants)):
            for timer, secs, (*_, reps) in zip(timers, secs_of, variants):
                if rep < (reps or repeats):
                    secs.append(timer())
        res = []
        for (variant, copies, jit, _), secs in zip(variants, secs_of):
            ips = copies * cut / median(secs)
            res.append({"variant": variant, "copies": copies, "xla": jit, "epoch_seconds": secs,
                        "images_per_second": round(ips, 1)})
            log(f"  {model} {variant:5s} x{copies:<2d}{' XLA' if jit else '    '}: "
                f"{median(secs):7.3f} s/epoch, {ips:9.0f} images/s")
        base = res[0]["images_per_second"]
        for r in res:
            r["ratio_vs_naive"] = round(r["images_per_second"] / base, 3)
        best = max(res[1:], key=lambda r: r["images_per_second"])
        chosen = next((r for r in res if r["variant"] == "fused" and r["copies"] == plan.max_copies
                       and r["xla"] == plan.jit), None)
        info = {
            "model": model, "rows": n, "train_rows": cut, "variants": res,
            "policy": {"backend": plan.backend, "copies": plan.max_copies, "xla": plan.jit,
                       "ratio_vs_naive": chosen["ratio_vs_naive"] if chosen else None},
            "best": {k: best[k] for k in ("copies", "xla", "ratio_vs_naive")},
            "gflop_per_image": round(flops_per_image(model) / 1e9, 4)}
        out["networks"].append(info)
        chosen_ratio = f"{chosen['ratio_vs_naive']}x naive" if chosen else "not measured at this size"
        log(f"  {model} on {n} rows: auto plan ({plan}) {chosen_ratio}; "
            f"best measured x{best['copies']}{' XLA' if best['xla'] else ''} {best['ratio_vs_naive']}x")
    if ceilings:
        cnn = next(i for i in out["networks"] if i["model"] == "cnn")
        ceiling = step_ceiling("cnn", data.x_train, data.y_train)
        bf16 = step_ceiling("cnn", data.x_train, data.y_train, precision="mixed_bfloat16")
        out["cnn_step_ceiling_images_per_second"] = round(ceiling, 1)
        out["cnn_step_ceiling_bfloat16_images_per_second"] = round(bf16, 1)
        log(f"  cnn bare training step (one resident batch, compiled loop): {ceiling:.0f} images/s, "
            f"{ceiling / cnn['variants'][0]['images_per_second']:.2f}x naive on {cnn['rows']} rows; "
            f"in mixed bfloat16 {bf16:.0f} images/s ({bf16 / ceiling:.2f}x float32)")
        out["matmul_gflops_end"] = round(matmul_gflops(), 1)
        peak = (out["matmul_gflops_start"] + out["matmul_gflops_end"]) / 2
        out["matmul_gflops"] = round(peak, 1)
        for info in out["networks"]:
            for r in info["variants"]:
                r["gflops"] = round(r["images_per_second"] * info["gflop_per_image"], 1)
                r["share_of_matmul_rate"] = round(r["gflops"] / peak, 3)
        log(f"  float32 matmul 2048^2: {out['matmul_gflops_start']:.0f} GFLOP/s at the start, "
            f"{out['matmul_gflops_end']:.0f} at the end (the practical ceiling for the CNN's arithmetic)")
    if setting != "small":
        n = PROFILE_ROWS
        out["naive_cnn_epochs"] = prof = naive_epoch_profile(data.x_train[:n], data.y_train[:n])
        log(f"  naive CNN on {n} rows: epochs {prof['epoch_seconds']} s, of which start to first batch "
            f"{prof['first_batch_seconds']} s")
    return out
