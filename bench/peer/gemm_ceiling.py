#!/usr/bin/env python3
"""The machine's SGEMM ceiling as a peer's library reaches it: the median GFLOP/s of square float32
matrix products through torch.mm (MKL in PyPI's PyTorch, OpenBLAS or oneDNN in Debian's). VGG16's
convolutions are GEMM-shaped work, so no framework's VGG16 on this CPU should run faster than
this; scripts/bench-cpu reports every row as a fraction of the highest ceiling it measured.

Prints one line per size:  gemm torch=<version> n=<n> gflops=<median> threads=<t>
"""
import argparse
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for n in args.sizes:
        a, b = torch.rand(n, n), torch.rand(n, n)
        out = torch.empty(n, n)
        for _ in range(2):
            torch.mm(a, b, out=out)
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            torch.mm(a, b, out=out)
            times.append(time.perf_counter() - t0)
        gflops = 2 * n ** 3 / statistics.median(times) / 1e9
        print(f"gemm torch={torch.__version__} n={n} gflops={gflops:.1f} "
              f"threads={torch.get_num_threads()}", flush=True)


if __name__ == "__main__":
    main()
