"""ONNX Runtime runs what `cifar10 export` writes (run by tests/interop/run_onnx_interop.sh).

  onnx_interop.py CIFAR10_BINARY WORKDIR

Images: the first 500 of data/cifar-10-batches-bin/data_batch_1.bin when present (real
CIFAR-10, see ../shared/data/README.md), else 500 random ones written as a CIFAR-10 batch file.
Models, each trained here for one epoch with `train --weights none` (a random base, a head
trained a little: ImageNet weights are not obtainable offline):
  - 32x32 on the batch file as it is. Its base ends in 1x1 maps, where Keras' NHWC and Kiln's
    NCHW flatten orders agree;
  - 64x64, on 100 of the images upscaled 2x (pixel repetition) and written as PNG files, so that
    predict resizes nothing and ONNX Runtime gets the same pixels; its base ends in 2x2 maps,
    where a wrong flatten order would show.
  - $KILN_ONNX_INTEROP_MODEL as well when set (a model file of yours, 32x32 or larger).
For each, both exports, float (N,3,H,W) input preprocessed here as Kiln does and --raw-input
uint8 (N,H,W,3) RGB, run in ONNX Runtime (CPU). Their probabilities must equal `cifar10
predict`'s CSV within TOLERANCE, the predicted classes must agree wherever the top two
probabilities are further apart than that, and the metadata's class names must be the file's.

TOLERANCE 1e-5 (absolute, on probabilities): Kiln's CSV has 6 decimals (rounding <= 5e-7) and
the two runtimes sum VGG16's convolutions (up to 4608 products each) in different orders in
float32, ~1e-6 relative on the logits; the measured maxima are printed.
"""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

TOLERANCE = 1e-5
IMAGES = 500
IMAGES_64 = 100
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


def train(cifar10, data, out, size, images):
    run(cifar10, "train", "--quiet", "--device", "cpu", "--weights", "none", "--epochs", "1",
        "--image-size", str(size), "--limit-train", str(images), "--limit-val", "32",
        "--batch-size", "32", "--no-augment", "--data", data, "--out-dir", out)
    return os.path.join(out, "best.h5")


def predict(cifar10, work, model, inputs):
    """cifar10 predict's probabilities, (n, classes), in input order."""
    preds = os.path.join(work, "preds.csv")
    run(cifar10, "predict", "--quiet", "--device", "cpu", "--model", model, *inputs, "--out",
        preds)
    with open(preds, newline="") as f:
        rows = list(csv.DictReader(f))
    classes = sum(1 for k in rows[0] if k.startswith("p") and k[1:].isdigit())
    return np.array([[float(r[f"p{c}"]) for c in range(classes)] for r in rows])


def compare(cifar10, work, model, pixels, want, label):
    """Exports `model` both ways, runs ONNX Runtime on pixels (n, h, w, 3) uint8 RGB; returns the
    failures."""
    bgr = pixels[..., ::-1].astype(np.float32) - VGG_MEAN_BGR  # Keras' caffe preprocess_input
    nchw = np.ascontiguousarray(bgr.transpose(0, 3, 1, 2))
    failures = []
    for raw in (False, True):
        onnx_path = os.path.join(work, "raw.onnx" if raw else "model.onnx")
        run(cifar10, "export", "--quiet", "--device", "cpu", "--model", model, "--onnx", onnx_path,
            *(["--raw-input"] if raw else []))
        session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        names = json.loads(session.get_modelmeta().custom_metadata_map["class_names"])
        if len(names) != want.shape[1]:
            failures.append(f"{label}: {len(names)} class names for {want.shape[1]} classes")
        got = session.run(["probabilities"], {session.get_inputs()[0].name: pixels if raw else nchw})[0]
        diff = np.abs(got - want)
        top2 = np.sort(want, axis=1)[:, -2:]
        clear = (top2[:, 1] - top2[:, 0]) > TOLERANCE
        agree = (got.argmax(1) == want.argmax(1))[clear].mean()
        kind = "--raw-input" if raw else "float input"
        print(f"{label}, {kind}: {len(want)} images, probabilities max |diff| {diff.max():.2g} "
              f"(mean {diff.mean():.2g}); predicted classes agree on {agree:.1%} of "
              f"{clear.sum()} clear cases; mean top probability {want.max(1).mean():.3f}")
        if diff.max() > TOLERANCE:
            failures.append(f"{label}, {kind}: max |diff| {diff.max():.3g} > {TOLERANCE}")
        if agree < 1:
            failures.append(f"{label}, {kind}: predicted classes differ")
    return failures


def main():
    cifar10, work = sys.argv[1], sys.argv[2]
    print(f"onnxruntime {ort.__version__}")
    real = os.path.join(REPO, "data", "cifar-10-batches-bin", "data_batch_1.bin")
    data = os.path.join(work, "data")
    os.makedirs(data)
    batch = os.path.join(data, "data_batch_1.bin")
    if os.path.exists(real):
        with open(real, "rb") as f:
            records = np.frombuffer(f.read(3073 * IMAGES), dtype=np.uint8).reshape(-1, 3073)
        source = f"real CIFAR-10 ({real})"
    else:
        rng = np.random.default_rng(5)
        records = rng.integers(0, 256, size=(IMAGES, 3073), dtype=np.uint8)
        records[:, 0] = rng.integers(0, 10, size=IMAGES)
        source = "random images"
    records.tofile(batch)
    pixels = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()  # NHWC RGB
    print(f"images: {source}")

    failures = []
    model32 = train(cifar10, data, os.path.join(work, "m32"), 32, 256)
    failures += compare(cifar10, work, model32, pixels, predict(cifar10, work, model32, [batch]),
                        "32x32 model")

    model64 = train(cifar10, data, os.path.join(work, "m64"), 64, 128)
    big = pixels[:IMAGES_64].repeat(2, axis=1).repeat(2, axis=2)
    pngs = []
    for i, image in enumerate(big):
        pngs.append(os.path.join(work, "png", f"{i:04d}.png"))
        os.makedirs(os.path.dirname(pngs[-1]), exist_ok=True)
        Image.fromarray(image).save(pngs[-1])
    failures += compare(cifar10, work, model64, big, predict(cifar10, work, model64, pngs),
                        "64x64 model")

    mine = os.environ.get("KILN_ONNX_INTEROP_MODEL", "")
    if mine:
        failures += compare(cifar10, work, mine, pixels, predict(cifar10, work, mine, [batch]),
                            mine)
    if failures:
        sys.exit("FAILED:\n  " + "\n  ".join(failures))
    print("onnx_interop: OK")


if __name__ == "__main__":
    main()
