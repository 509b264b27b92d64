#!/usr/bin/env python3
"""PyTorch's side of Kiln's CPU benchmark: VGG16 at 32x32, batch 64, the same two measurements
as bench/vgg16_cpu_bench.cpp, so the two can be compared on one machine in one run.

  forward     the VGG16 base (13 conv + 5 pool, Keras' layout) in eval mode, no autograd
  train_step  base + head (Flatten, Dense 256 relu, Dropout 0.5, Dense 10), all trainable:
              forward, softmax cross-entropy, backward, Adam step
  train_step_frozen_base  the same with the base frozen (the transfer-learning default)

Needs Debian's python3-torch (run it with /usr/bin/python3). Prints one line per measurement:
  torch <name> median_ms=<ms> images_per_s=<n> threads=<t>
"""
import argparse
import statistics
import time

import torch
from torch import nn


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


def vgg16_classifier():
    head = nn.Sequential(nn.Flatten(), nn.Linear(512, 256), nn.ReLU(inplace=True),
                         nn.Dropout(0.5), nn.Linear(256, 10))
    return keras_init(nn.Sequential(vgg16_base(), head))


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
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2,
                    help="torch threads (Debian's build picks 1 by default on 2 vCPUs)")
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(args.batch, 3, 32, 32) * 250 - 120  # as Kiln's bench: U(-120, 130)
    y = torch.randint(0, 10, (args.batch,))

    base = keras_init(vgg16_base()).eval()

    def forward():
        with torch.no_grad():
            base(x)

    ms = median_ms(forward, 2, args.reps)
    print(f"torch forward median_ms={ms:.1f} images_per_s={args.batch / ms * 1e3:.1f} "
          f"threads={torch.get_num_threads()}")

    loss_fn = nn.CrossEntropyLoss()
    for name, frozen in [("train_step", False), ("train_step_frozen_base", True)]:
        model = vgg16_classifier().train()
        for p in model[0].parameters():
            p.requires_grad_(not frozen)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                               lr=1e-4, eps=1e-7)

        def train_step():
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()

        ms = median_ms(train_step, 2, args.reps)
        print(f"torch {name} median_ms={ms:.1f} images_per_s={args.batch / ms * 1e3:.1f} "
              f"threads={torch.get_num_threads()}")


if __name__ == "__main__":
    main()
