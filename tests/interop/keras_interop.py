"""Real-Keras interop for Kiln's Keras files, both ways (run by tests/interop/run_keras_interop.sh).

  keras_interop.py CIFAR10_BINARY WORKDIR

(a) Keras 3 writes the recipe, Sequential([VGG16(include_top=False, weights=None,
    input_shape=(32, 32, 3)), Flatten(), Dense(256, relu), Dropout(0.5), Dense(10, softmax)]),
    as .keras, .weights.h5 and legacy .h5, and a flat functional model of the same layers as
    .keras and .h5 (the .h5 with the head named flatten, dense, dropout, dense_1, which Kiln's
    legacy reader looks for), and two other spellings of the recipe as .keras; `cifar10 predict`
    on each must give Keras' probabilities.
(b) Kiln writes best.keras, best.h5 (nested and flat) and best.weights.h5; Keras loads them
    (keras.saving.load_model, model.load_weights) and must predict what Kiln predicts.
Also: the config.json Kiln writes equals Keras' own for the same model, and the fixtures in
tests/weights/keras315_configs.h are still what this Keras writes (shared_object_id aside).

Probabilities are compared within 2e-6: Kiln's CSV has 6 decimals (rounding <= 5e-7) and the
two frameworks sum convolutions in different orders (float32, ~1e-7 relative).
"""
import csv
import json
import os
import re
import subprocess
import sys
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

TOLERANCE = 2e-6
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_models():
    """The nested and the flat recipe, in this order, as the fixtures were made (Keras numbers
    auto-named layers per session: the flat model's head is flatten_1, dense_2, ...)."""
    keras.utils.set_random_seed(1)
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    nested = keras.Sequential([base, layers.Flatten(), layers.Dense(256, activation="relu"),
                               layers.Dropout(0.5), layers.Dense(10, activation="softmax")])
    x = layers.Flatten()(base.output)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    flat = keras.Model(base.input, layers.Dense(10, activation="softmax")(x))
    # Glorot kernels but zero biases: give every bias values so that a lost bias shows.
    rng = np.random.default_rng(2)
    for layer in nested.layers[0].layers + nested.layers[1:] + flat.layers[-4:]:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.uniform(-0.05, 0.05, layer.bias.shape).astype("float32"))
    return nested, flat


def fresh_nested():
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    return keras.Sequential([base, layers.Flatten(), layers.Dense(256, activation="relu"),
                             layers.Dropout(0.5), layers.Dense(10, activation="softmax")])


def fresh_flat(names=(None, None, None, None)):
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    x = layers.Flatten(name=names[0])(base.output)
    x = layers.Dense(256, activation="relu", name=names[1])(x)
    x = layers.Dropout(0.5, name=names[2])(x)
    return keras.Model(base.input, layers.Dense(10, activation="softmax", name=names[3])(x))


def write_cifar(path, n, seed):
    rng = np.random.default_rng(seed)
    rows = np.zeros((n, 3073), np.uint8)
    rows[:, 0] = np.arange(n) % 10
    rows[:, 1:] = rng.integers(0, 256, (n, 3072))
    rows.tofile(path)


def cifar_images(path):
    raw = np.fromfile(path, np.uint8).reshape(-1, 3073)
    x = raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype("float32")
    return keras.applications.vgg16.preprocess_input(x)  # what Kiln does to a .bin's images


def kiln(binary, *args):
    run = subprocess.run([binary, *args], capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"cifar10 {' '.join(args)} failed ({run.returncode}): {run.stderr}")
    return run.stdout


def kiln_probabilities(binary, model, batch, csv_path):
    kiln(binary, "predict", "--model", model, batch, "--out", csv_path)
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    classes = sum(1 for k in rows[0] if re.fullmatch(r"p\d+", k))
    return np.array([[float(r[f"p{i}"]) for i in range(classes)] for r in rows])


def without_shared_ids(j):
    if isinstance(j, dict):
        return {k: without_shared_ids(v) for k, v in j.items() if k != "shared_object_id"}
    if isinstance(j, list):
        return [without_shared_ids(v) for v in j]
    return j


def archive_config(path):
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))


failures = []


def check(what, got, want):
    diff = float(np.abs(got - want).max())
    ok = diff <= TOLERANCE and (got.argmax(1) == want.argmax(1)).all()
    print(f"{'ok  ' if ok else 'FAIL'} {what}: max abs diff {diff:.2e}")
    if not ok:
        failures.append(what)


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(f"{work}/data", exist_ok=True)
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")
    write_cifar(f"{work}/data/data_batch_1.bin", 16, 1)
    write_cifar(f"{work}/data/test_batch.bin", 16, 2)
    batch = f"{work}/data/test_batch.bin"
    x = cifar_images(batch)

    # (a) Keras writes, Kiln reads.
    nested, flat = build_models()
    # NOTE: Kiln finds a legacy .h5's head by the names dense and dense_1, which the flat model
    # built second in this session does not have (dense_2, dense_3); the same layers renamed.
    flat_named = fresh_flat(names=("flatten", "dense", "dropout", "dense_1"))
    flat_named.set_weights(flat.get_weights())
    files = {"nested.keras": (nested, nested.save), "nested.weights.h5": (nested, nested.save_weights),
             "nested.h5": (nested, nested.save), "flat.keras": (flat, flat.save),
             "flat.h5": (flat_named, flat_named.save)}
    for name, (model, save) in files.items():
        save(f"{work}/{name}")
        check(f"Keras wrote {name}, cifar10 predict",
              kiln_probabilities(binary, f"{work}/{name}", batch, f"{work}/{name}.csv"),
              model.predict(x, verbose=0))

    # Two other ways to write the recipe, with another head: a Functional model calling the base
    # as one layer, and a Sequential with its own Input over a VGG16 built for any size.
    inp = keras.Input((32, 32, 3))
    y = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))(inp)
    y = layers.Dropout(0.25)(layers.Dense(32, activation="relu")(layers.Flatten()(y)))
    called = keras.Model(inp, layers.Dense(3, activation="softmax")(y))
    any_size = keras.Sequential([keras.Input((32, 32, 3)),
                                 keras.applications.VGG16(include_top=False, weights=None),
                                 layers.Flatten(), layers.Dense(16, activation="relu"),
                                 layers.Dropout(0.1), layers.Dense(4, activation="softmax")])
    for name, model in (("called.keras", called), ("any_size.keras", any_size)):
        model.save(f"{work}/{name}")
        check(f"Keras wrote {name}, cifar10 predict",
              kiln_probabilities(binary, f"{work}/{name}", batch, f"{work}/{name}.csv"),
              model.predict(x, verbose=0))

    # The fixtures and Kiln's writer against what this Keras writes.
    header = open(f"{REPO}/tests/weights/keras315_configs.h").read()
    fixtures = [json.loads(t) for t in re.findall(r'R"json\((.*?)\)json"', header, re.S)]
    for label, fixture, name in (("nested", fixtures[0], "nested.keras"),
                                 ("flat", fixtures[1], "flat.keras")):
        same = without_shared_ids(fixture) == without_shared_ids(archive_config(f"{work}/{name}"))
        print(f"{'ok  ' if same else 'FAIL'} keras315_configs.h {label} config is what Keras writes")
        if not same:
            failures.append(f"fixture {label}")

    # (b) Kiln writes, Keras reads.
    common = ["train", "--data", f"{work}/data", "--weights", "none", "--epochs", "1",
              "--batch-size", "8", "--quiet"]
    outputs = {"best.keras": ["--save-format", "keras"], "best.h5": [],
               "flat/best.h5": ["--keras-layout", "flat"],
               "best.weights.h5": ["--save-format", "weights.h5"]}
    for name, extra in outputs.items():
        out = f"{work}/kiln/{os.path.dirname(name) or 'nested'}-{os.path.basename(name)}"
        kiln(binary, *common, "--out-dir", out, *extra)
        path = f"{out}/{os.path.basename(name)}"
        got = kiln_probabilities(binary, path, batch, f"{path}.csv")
        if name == "best.keras":
            model = keras.saving.load_model(path)
            same = without_shared_ids(archive_config(path)) == without_shared_ids(
                archive_config(f"{work}/nested.keras"))
            print(f"{'ok  ' if same else 'FAIL'} Kiln's config.json equals Keras' own")
            if not same:
                failures.append("Kiln's config.json")
        else:
            model = fresh_flat() if name.startswith("flat/") else fresh_nested()
            model.load_weights(path)
        check(f"Kiln wrote {name}, Keras loaded it", model.predict(x, verbose=0), got)

    if failures:
        raise SystemExit(f"keras interop: {len(failures)} failed: {', '.join(failures)}")
    print("keras interop: all passed")


if __name__ == "__main__":
    main()
