#!/usr/bin/env python3
"""Keras 3 (TensorFlow backend) side of Kiln's VGG16 benchmark: the rows of bench/vgg16_bench.cpp
and bench/peer/torch_vgg16.py, on the CPU, so scripts/bench-e2e can put the three side by side.

  forward     keras.applications.VGG16(include_top=False, weights=None): 13 conv + 5 pool, the
              layers Kiln's VGG16 copies; called in inference mode inside one tf.function
  train_step  base + head (Flatten, Dense 256 relu, Dropout 0.5, Dense 10 softmax), all trainable:
              train_on_batch with categorical cross-entropy and Adam(1e-4), as a Keras user trains
  train_step_frozen_base  the same with base.trainable = False (the transfer-learning default)

32x32, batch 64, channels-last (Keras' default; TensorFlow's oneDNN kernels want it). Keras'
initialisation (Glorot uniform, zero bias) is the default on both Keras and Kiln's side; inputs
U(-120, 130) like Kiln's and PyTorch's rows. Run it with .venv-keras/bin/python
(scripts/setup-peers or scripts/setup-keras). Prints one line per row, the median of --reps
timed steps after 2 untimed ones (the first traces the graph):
  keras <name> median_ms=<ms> images_per_s=<n> threads=<t> device=cpu math=fp32 size=32 batch=64
"""
import argparse
import os
import statistics
import sys
import time


def median_ms(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="TensorFlow's intra-op and inter-op threads (default: every core)")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--jit", choices=["auto", "on", "off"], default="auto",
                    help="XLA for the training steps: Keras' default (auto), or forced")
    args = ap.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no start-up banners in the report
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import numpy as np
    import tensorflow as tf

    # Before any op runs: TensorFlow fixes its thread pools on first use.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    size, batch = 32, args.batch
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(-120, 130, (batch, size, size, 3)).astype("float32"))
    y = tf.constant(keras.utils.to_categorical(rng.integers(0, 10, batch), 10))
    jit = {"auto": "auto", "on": True, "off": False}[args.jit]

    def report(name, ms):
        print(f"keras {name} median_ms={ms:.1f} images_per_s={batch / ms * 1e3:.1f} "
              f"threads={args.threads} device=cpu math=fp32 size={size} batch={batch}",
              flush=True)

    keras.utils.set_random_seed(0)
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(size, size, 3))
    forward = tf.function(lambda t: base(t, training=False))
    report("forward", median_ms(lambda: forward(x).numpy(), 2, args.reps))

    for name, frozen in [("train_step", False), ("train_step_frozen_base", True)]:
        keras.utils.set_random_seed(0)
        base = keras.applications.VGG16(include_top=False, weights=None,
                                        input_shape=(size, size, 3))
        base.trainable = not frozen
        model = keras.Sequential([
            keras.Input((size, size, 3)), base, keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"), keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="categorical_crossentropy",
                      jit_compile=jit)
        report(name, median_ms(lambda: model.train_on_batch(x, y), 2, args.reps))
        del model, base
    print(f"keras version keras={keras.__version__} tensorflow={tf.__version__} jit={args.jit}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
