"""Real Keras' BatchNormalization against Kiln's BatchNorm2d (run by run_keras_batch_norm.sh).

  keras_batch_norm.py write WORKDIR
  keras_batch_norm.py verify WORKDIR

Keras 3 builds Sequential([Input((3, 2, 2)), BatchNormalization(axis=1, name="bn"),
BatchNormalization(axis=1, name="bn_1")]) with momentum 0.9, epsilon 1e-3 and random weights,
and writes into WORKDIR:
  before.weights.h5, before.h5   the weights (Keras 3 layout; legacy full-model .h5)
  x.f32                          an input (4, 3, 2, 2), float32, C order
  y_eval.f32                     Keras' output in inference mode
  y_train.f32                    its output in training mode (batch statistics) ...
  after.weights.h5               ... and the weights after that call moved the moving statistics
kiln_weights_tests' KerasBatchNormInterop reads them (KILN_KERAS_BN_DIR=WORKDIR), computes the
same in Kiln, and writes its state after the training call as kiln.h5 (tf.keras 2 layout) and
kiln.weights.h5 (Keras 3). `verify` loads both into the Keras model: its weights must be Keras'
own after.weights.h5, within float32 rounding of two summation orders.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402


def build():
    return keras.Sequential([
        keras.Input((3, 2, 2)),
        layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-3, name="bn"),
        layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-3, name="bn_1"),
    ])


def verify(work):
    want = build()
    want.load_weights(os.path.join(work, "after.weights.h5"))
    for name in ("kiln.h5", "kiln.weights.h5"):
        got = build()
        got.load_weights(os.path.join(work, name))
        for g, w in zip(got.get_weights(), want.get_weights()):
            if not np.allclose(g, w, rtol=1e-5, atol=1e-5):
                sys.exit(f"keras_batch_norm.py: {name} loads {g}, Keras' own state is {w}")
        print("keras loads", name, ": the moving statistics and the parameters Keras has")


def write(work):
    rng = np.random.default_rng(7)
    model = build()
    for layer in model.layers:
        layer.set_weights([rng.uniform(0.5, 1.5, 3).astype("float32") for _ in range(4)])
    assert [w.name for w in model.layers[0].weights] == [
        "gamma", "beta", "moving_mean", "moving_variance"], model.layers[0].weights
    model.save_weights(os.path.join(work, "before.weights.h5"))
    model.save(os.path.join(work, "before.h5"))
    x = (rng.standard_normal((4, 3, 2, 2)) * 2 + 1).astype("float32")
    x.tofile(os.path.join(work, "x.f32"))
    np.asarray(model(x, training=False), dtype="float32").tofile(os.path.join(work, "y_eval.f32"))
    np.asarray(model(x, training=True), dtype="float32").tofile(os.path.join(work, "y_train.f32"))
    model.save_weights(os.path.join(work, "after.weights.h5"))
    print("keras", keras.__version__, ": wrote", sorted(os.listdir(work)))


if __name__ == "__main__":
    {"write": write, "verify": verify}[sys.argv[1]](sys.argv[2])
