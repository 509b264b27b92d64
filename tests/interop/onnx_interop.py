"""ONNX Runtime runs what `cifar10 export` writes (run by tests/interop/run_onnx_interop.sh).

  onnx_interop.py CIFAR10_BINARY WORKDIR

The model: $KILN_ONNX_INTEROP_MODEL when set (a best.h5, .weights.h5 or .keras that train
wrote), else one trained here for one epoch on 256 images with `--weights none` (a random base,
a head trained a little: ImageNet weights are not obtainable offline).
The images: the first 500 of data/cifar-10-batches-bin/data_batch_1.bin when present (real
CIFAR-10, see ../shared/data/README.md), else 500 random ones written as a CIFAR-10 batch file.

Both exports, float (N,3,H,W) input preprocessed here as Kiln does and --raw-input uint8
(N,H,W,3) RGB, run in ONNX Runtime (CPU) on the images. Their probabilities must equal
`cifar10 predict`'s CSV within TOLERANCE, the predicted classes must agree wherever the top two
probabilities are further apart than that, and the metadata's class names must be the file's.

TOLERANCE 1e-5 (absolute, on probabilities): Kiln's CSV has 6 decimals (rounding <= 5e-7) and
the two runtimes sum VGG16's convolutions (up to 4608 products each) in different orders in
float32, ~1e-6 relative on the logits; measured maxima are printed.
"""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort

TOLERANCE = 1e-5
IMAGES = 500
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)  # data/preprocess.h


def run(cifar10, *args):
    r = subprocess.run([cifar10, *args], capture_output=True, text=True)
    if r.returncode != 0:
        if "no ONNX support" in r.stderr:
            print("skipped: this cifar10 was built without ONNX support")
            sys.exit(77)
        sys.exit(f"cifar10 {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def cifar_records(path, n):
    """(labels (n,), pixels (n, 32, 32, 3) uint8 RGB) of a CIFAR-10 batch file's first n."""
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)[:n]
    return raw[:, 0], raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()


def main():
    cifar10, work = sys.argv[1], sys.argv[2]
    real = os.path.join(REPO, "data", "cifar-10-batches-bin", "data_batch_1.bin")
    data = os.path.join(work, "data")
    os.makedirs(data)
    batch = os.path.join(data, "data_batch_1.bin")
    if os.path.exists(real):
        with open(real, "rb") as f:
            head = f.read(3073 * IMAGES)
        source = f"real CIFAR-10 ({real})"
    else:
        rng = np.random.default_rng(5)
        rec = rng.integers(0, 256, size=(IMAGES, 3073), dtype=np.uint8)
        rec[:, 0] = rng.integers(0, 10, size=IMAGES)
        head = rec.tobytes()
        source = "random images"
    with open(batch, "wb") as f:
        f.write(head)

    model = os.environ.get("KILN_ONNX_INTEROP_MODEL", "")
    if not model:
        run(cifar10, "train", "--quiet", "--device", "cpu", "--weights", "none", "--epochs", "1",
            "--limit-train", "256", "--limit-val", "64", "--batch-size", "32", "--no-augment",
            "--data", data, "--out-dir", os.path.join(work, "models"))
        model = os.path.join(work, "models", "best.h5")
    print(f"model {model}; {IMAGES} images: {source}")

    preds = os.path.join(work, "preds.csv")
    run(cifar10, "predict", "--quiet", "--device", "cpu", "--model", model, batch, "--out", preds)
    with open(preds, newline="") as f:
        rows = list(csv.DictReader(f))
    classes = sum(1 for k in rows[0] if k.startswith("p") and k[1:].isdigit())
    want = np.array([[float(r[f"p{c}"]) for c in range(classes)] for r in rows])

    _, pixels = cifar_records(batch, IMAGES)
    bgr = pixels[..., ::-1].astype(np.float32) - VGG_MEAN_BGR  # Keras' caffe preprocess_input
    nchw = np.ascontiguousarray(bgr.transpose(0, 3, 1, 2))
    failures = []
    for raw in (False, True):
        onnx_path = os.path.join(work, "raw.onnx" if raw else "model.onnx")
        run(cifar10, "export", "--quiet", "--device", "cpu", "--model", model, "--onnx", onnx_path,
            *(["--raw-input"] if raw else []))
        session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        meta = session.get_modelmeta().custom_metadata_map
        names = json.loads(meta["class_names"])
        if len(names) != classes:
            failures.append(f"{onnx_path}: {len(names)} class names for {classes} classes")
        feed = {session.get_inputs()[0].name: pixels if raw else nchw}
        got = session.run(["probabilities"], feed)[0]
        diff = np.abs(got - want)
        top2 = np.sort(want, axis=1)[:, -2:]
        clear = (top2[:, 1] - top2[:, 0]) > TOLERANCE
        agree = (got.argmax(1) == want.argmax(1))[clear].mean()
        spread = want.max(1).mean()
        print(f"{'--raw-input' if raw else 'float input'}: onnxruntime {ort.__version__}, "
              f"probabilities max |diff| {diff.max():.2g} (mean {diff.mean():.2g}), "
              f"predicted classes agree on {agree:.1%} of {clear.sum()} clear cases; "
              f"mean top probability {spread:.3f}; class names {names}")
        if diff.max() > TOLERANCE:
            failures.append(f"{onnx_path}: max |diff| {diff.max():.3g} > {TOLERANCE}")
        if agree < 1:
            failures.append(f"{onnx_path}: predicted classes differ")
    if failures:
        sys.exit("FAILED:\n  " + "\n  ".join(failures))
    print("onnx_interop: OK")


if __name__ == "__main__":
    main()
