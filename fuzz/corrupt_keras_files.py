#!/usr/bin/env python3
"""Issue 18's experiment, repeatable: real Keras writes the cifar10 recipe (VGG16 base + head) as
a legacy .h5 model and as a Keras 3 .weights.h5, and `cifar10 predict` reads randomly damaged
copies of each, as a damaged download would be. Counts the endings: predictions (damage inside
weight data, which no reader without checksums can see), a one-line error (the survey's refusals
among them), anything else (a signal, another exit status, more lines: a bug).

  .venv-keras/bin/python fuzz/corrupt_keras_files.py CIFAR10_BINARY [--count N] [--seed S]
                                                    [--work DIR]

Damage, cycling: the file cut short at a random length; 1-8 random bytes changed anywhere;
1-8 bytes changed within 512 bytes after the name of a layer_names / weight_names / name attribute
(half the time) or after a random HDF5 structure's signature: what libhdf5's parsers read. Needs the venv of
scripts/setup-keras. Exits 1 when any run ended otherwise than the two good ways.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
STRUCTURES = [b"OHDR", b"OCHK", b"GCOL", b"TREE", b"HEAP", b"SNOD", b"BTHD", b"BTLF", b"FRHP",
              b"FHDB"]
ATTRIBUTES = [b"layer_names", b"weight_names", b"name"]  # variable-length strings in Keras 3


def write_keras_files(work):
    import numpy as np
    import keras
    from keras import layers
    keras.utils.set_random_seed(1)
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    model = keras.Sequential([base, layers.Flatten(), layers.Dense(256, activation="relu"),
                              layers.Dropout(0.5), layers.Dense(10, activation="softmax")])
    model(np.zeros((1, 32, 32, 3), "float32"))
    paths = {"legacy .h5": os.path.join(work, "model.h5"),
             "Keras 3 .weights.h5": os.path.join(work, "model.weights.h5")}
    model.save(paths["legacy .h5"])
    model.save_weights(paths["Keras 3 .weights.h5"])
    rng = np.random.default_rng(0)
    records = bytearray()
    for i in range(16):
        records.append(i % 10)
        records += rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
    batch = os.path.join(work, "test_batch.bin")
    with open(batch, "wb") as f:
        f.write(records)
    return paths, batch


def offsets(data, marks):
    found = []
    for mark in marks:
        at = data.find(mark)
        while at >= 0:
            found.append(at)
            at = data.find(mark, at + 1)
    return found


def damage(data, kind, marks, rng):
    if kind == 0:
        cut = rng.randrange(len(data))
        return data[:cut], f"cut to {cut} bytes"
    out = bytearray(data)
    where = []
    for _ in range(rng.randint(1, 8)):
        # Metadata: half the time after an attribute's name (its message holds the strings'
        # global-heap references, where libhdf5 1.10 crashed), else after a structure's signature.
        anchors = marks[rng.randrange(2)] or marks[0] or [0]
        at = rng.randrange(len(out)) if kind == 1 else min(len(out) - 1,
                                                            rng.choice(anchors) + rng.randrange(512))
        out[at] ^= rng.randint(1, 255)
        where.append(at)
    return bytes(out), "changed bytes at " + ", ".join(map(str, where))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cifar10")
    ap.add_argument("--count", type=int, default=150, help="damaged copies of each file")
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--work", help="a folder to work in (default: a temporary one)")
    args = ap.parse_args()
    args.cifar10 = os.path.abspath(args.cifar10)  # the runs' working folder is `work`
    work = args.work or tempfile.mkdtemp(prefix="kiln-corrupt-")
    paths, batch = write_keras_files(work)
    rng = random.Random(args.seed)
    env = dict(os.environ, KILN_HDF5_SURVEY_SECONDS="10")
    bad = 0
    for label, path in paths.items():
        with open(path, "rb") as f:
            data = f.read()
        marks = (offsets(data, STRUCTURES) + [0], offsets(data, ATTRIBUTES))
        damaged = os.path.join(work, "damaged.weights.h5" if path.endswith(".weights.h5")
                               else "damaged.h5")
        tally = {"predictions": 0, "one-line errors": 0, "survey refusals": 0, "other": 0}
        kinds = [0, 0, 0]
        for i in range(args.count):
            kind = i % 3
            kinds[kind] += 1
            bytes_, what = damage(data, kind, marks, rng)
            with open(damaged, "wb") as f:
                f.write(bytes_)
            out_csv = os.path.join(work, "preds.csv")
            if os.path.exists(out_csv):
                os.remove(out_csv)
            r = subprocess.run([args.cifar10, "predict", "--model", damaged, batch, "--device",
                                "cpu", "--out", out_csv, "--quiet"], capture_output=True,
                               text=True, errors="backslashreplace", env=env, cwd=work)
            lines = r.stderr.strip().splitlines()
            if r.returncode == 0 and os.path.exists(out_csv):
                tally["predictions"] += 1
            elif (r.returncode == 1 and len(lines) == 1 and lines[0].startswith("cifar10: ")
                  and os.path.basename(damaged) in lines[0]):
                tally["one-line errors"] += 1
                if "damaged or hostile HDF5 file" in lines[0]:
                    tally["survey refusals"] += 1
            else:
                tally["other"] += 1
                bad += 1
                keep = os.path.join(work, f"bad-{len(os.listdir(work))}-{os.path.basename(damaged)}")
                os.rename(damaged, keep)
                print(f"{label} #{i} ({what}): exit {r.returncode}, stderr: {r.stderr[-400:]!r}; "
                      f"kept as {keep}", flush=True)
        print(f"{label} ({len(data)} bytes, {len(marks[0])} structures, {len(marks[1])} attribute names): {args.count} copies "
              f"(cut {kinds[0]}, bytes anywhere {kinds[1]}, bytes in metadata {kinds[2]}): " +
              ", ".join(f"{k} {v}" for k, v in tally.items()), flush=True)
    print(f"work folder: {work}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
