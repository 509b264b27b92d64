#!/usr/bin/env python3
"""PyTorch's side of the cifar10 recipe comparison: the same model, data, split sizes, optimiser,
augmentation and epochs as `cifar10 train --weights none --fine-tune`, so validation accuracy and
images/s can be compared on one machine.

  VGG16 (random init, all trainable) -> Flatten -> Dense 256 relu -> Dropout 0.5 -> Dense 10,
  softmax cross-entropy, Adam (lr 1e-4, eps 1e-7), batch 64; augmentation as Keras'
  ImageDataGenerator(rotation 15, zoom 0.1, shifts 0.1, horizontal flip, fill nearest) through
  affine_grid/grid_sample with border padding; VGG caffe preprocessing (BGR, ImageNet means).

  /usr/bin/python3 bench/peer/torch_cifar10_train.py --data data/cifar-10-batches-bin \
      --epochs 2 --val 5000 [--limit-train N]
Prints one line per epoch: epoch, loss, accuracy, val_loss, val_accuracy, seconds, images/s.
"""
import argparse
import glob
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from torch_vgg16 import vgg16_classifier  # the same model as the benchmark, Keras' init

MEAN_BGR = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)


def read_cifar(directory):
    files = sorted(glob.glob(os.path.join(directory, "data_batch*.bin")))
    raw = np.concatenate([np.fromfile(f, dtype=np.uint8).reshape(-1, 3073) for f in files])
    labels = raw[:, 0].astype(np.int64)
    images = raw[:, 1:].reshape(-1, 3, 32, 32)  # planes R, G, B
    return torch.from_numpy(images.copy()), torch.from_numpy(labels)


def preprocess(x_rgb):  # float RGB 0..255 -> BGR minus means
    return x_rgb.flip(1) - MEAN_BGR


def augment(x, gen):
    n = x.shape[0]
    theta = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(15)
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * 0.1 * 2  # fraction of size, in [-1,1] units
    zoom = 1 + (torch.rand(n, 2, generator=gen) * 2 - 1) * 0.1
    cos, sin = torch.cos(theta), torch.sin(theta)
    mat = torch.zeros(n, 2, 3)
    mat[:, 0, 0], mat[:, 0, 1] = cos * zoom[:, 0], -sin * zoom[:, 1]
    mat[:, 1, 0], mat[:, 1, 1] = sin * zoom[:, 0], cos * zoom[:, 1]
    mat[:, :, 2] = torch.stack([cos * shift[:, 0] - sin * shift[:, 1],
                                sin * shift[:, 0] + cos * shift[:, 1]], 1)
    grid = F.affine_grid(mat, x.shape, align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/cifar-10-batches-bin")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--val", type=int, default=5000, help="images held out for validation")
    ap.add_argument("--limit-train", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1337)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    images, labels = read_cifar(args.data)
    order = torch.randperm(len(labels), generator=gen)
    val_idx, train_idx = order[:args.val], order[args.val:]
    if args.limit_train:
        train_idx = train_idx[:args.limit_train]
    net = vgg16_classifier()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, eps=1e-7)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{len(train_idx)} train / {len(val_idx)} validation")
    print("epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s")
    for epoch in range(1, args.epochs + 1):
        net.train()
        start = time.perf_counter()
        perm = train_idx[torch.randperm(len(train_idx), generator=gen)]
        loss_sum = correct = seen = 0
        for b in range(0, len(perm), 64):
            idx = perm[b:b + 64]
            x = preprocess(augment(images[idx].float(), gen))
            y = labels[idx]
            logits = net(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(idx)
        seconds = time.perf_counter() - start
        net.eval()
        vloss = vcorrect = 0
        with torch.no_grad():
            for b in range(0, len(val_idx), 256):
                idx = val_idx[b:b + 256]
                logits = net(preprocess(images[idx].float()))
                vloss += F.cross_entropy(logits, labels[idx], reduction="sum").item()
                vcorrect += (logits.argmax(1) == labels[idx]).sum().item()
        print(f"{epoch},{loss_sum / seen:.4f},{correct / seen:.4f},{vloss / len(val_idx):.4f},"
              f"{vcorrect / len(val_idx):.4f},{seconds:.0f},{seen / seconds:.1f}", flush=True)


if __name__ == "__main__":
    main()
