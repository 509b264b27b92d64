#!/usr/bin/env python3
"""PyTorch's side of Kiln's VGG16 benchmark: the same rows as bench/vgg16_bench.cpp, so the two
can be compared on one machine in one run (scripts/bench-e2e pairs them).

  forward     the VGG16 base (13 conv + 5 pool, Keras' layout) in eval mode, no autograd
  train_step  base + head (Flatten, Dense 256 relu, Dropout 0.5, Dense 10), all trainable:
              forward, softmax cross-entropy, backward, Adam step
  train_step_frozen_base  the same with the base frozen (the transfer-learning default)

Sizes, as Kiln's rows: on the CPU 32x32 batch 64; on CUDA 32x32 batch 64 and 256 and 224x224
batch 16 (the head's Dense then takes the 7x7x512 map), in FP32 (default) or, with --tf32, TF32
math (matmul and cuDNN both set explicitly: their defaults differ across PyTorch versions). On
CUDA every timed step ends with torch.cuda.synchronize(), and cuDNN's autotuner is on
(cudnn.benchmark, as Kiln times its algorithms once per geometry) unless --no-cudnn-benchmark.

Run it with /usr/bin/python3 (Debian's python3-torch, CPU only) or any python with torch. Prints
one line per row, the median of --reps timed steps after 2 untimed ones:
  torch <name> median_ms=<ms> images_per_s=<n> threads=<t> device=<cpu|cuda> math=<fp32|tf32>
        size=<px> batch=<n>
"""
import argparse
import statistics
import time

import torch
from torch import nn

CPU_SIZES = [(32, 64)]
CUDA_SIZES = [(32, 64), (32, 256), (224, 16)]


def vgg16_base():
    layers, c = [], 3
    for width, convs in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]:
        for _ in range(convs):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(inplace=True)]
            c = width
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


def keras_init(model):
    """Glorot-uniform kernels and zero biases, as Keras and Kiln initialise. PyTorch's default
    (Kaiming-uniform with a=sqrt(5)) gives other activation magnitudes, and timing on random
    weights must not differ by initialisation alone."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def vgg16_classifier(size):
    side = size // 32  # the base's output map is (512, size/32, size/32)
    head = nn.Sequential(nn.Flatten(), nn.Linear(512 * side * side, 256), nn.ReLU(inplace=True),
                         nn.Dropout(0.5), nn.Linear(256, 10))
    return keras_init(nn.Sequential(vgg16_base(), head))


def median_ms(fn, sync, warmup, reps):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def set_math(device, tf32):
    if device != "cuda":
        return
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def run_size(device, size, batch, reps, sync, report):
    torch.manual_seed(0)
    x = (torch.rand(batch, 3, size, size) * 250 - 120).to(device)  # as Kiln's bench: U(-120, 130)
    y = torch.randint(0, 10, (batch,)).to(device)

    base = keras_init(vgg16_base()).to(device).eval()

    def forward():
        with torch.no_grad():
            base(x)

    report("forward", median_ms(forward, sync, 2, reps))
    del base

    loss_fn = nn.CrossEntropyLoss()
    for name, frozen in [("train_step", False), ("train_step_frozen_base", True)]:
        model = vgg16_classifier(size).to(device).train()
        for p in model[0].parameters():
            p.requires_grad_(not frozen)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                               lr=1e-4, eps=1e-7)

        def train_step():
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()

        report(name, median_ms(train_step, sync, 2, reps))
        del model, opt


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--tf32", action="store_true",
                    help="CUDA: TF32 tensor-core math for matmuls and convolutions (default FP32)")
    ap.add_argument("--no-cudnn-benchmark", action="store_true",
                    help="CUDA: leave cuDNN's autotuner off")
    ap.add_argument("--batch", type=int, default=0,
                    help="only this batch size (default: every row of the device)")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch threads (Debian's build picks 1 by default on 2 vCPUs)")
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            ap.exit(3, "torch_vgg16.py: this PyTorch sees no CUDA device "
                       f"(torch {torch.__version__}, built with CUDA {torch.version.cuda})\n")
        torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
        sync = torch.cuda.synchronize
    else:
        sync = lambda: None  # noqa: E731
    set_math(args.device, args.tf32)
    math = "tf32" if args.tf32 and args.device == "cuda" else "fp32"

    sizes = CUDA_SIZES if args.device == "cuda" else CPU_SIZES
    if args.batch:
        sizes = [(s, b) for s, b in sizes if b == args.batch] or [(32, args.batch)]
    for size, batch in sizes:
        def report(name, ms, size=size, batch=batch):
            print(f"torch {name} median_ms={ms:.1f} images_per_s={batch / ms * 1e3:.1f} "
                  f"threads={torch.get_num_threads()} device={args.device} math={math} "
                  f"size={size} batch={batch}", flush=True)

        run_size(args.device, size, batch, args.reps, sync, report)
        if args.device == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
