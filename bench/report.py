#!/usr/bin/env python3
"""Turns Google Benchmark JSON files from Kiln's kernel benchmarks into one Markdown report.

    bench/report.py OUT1.json [OUT2.json ...] > report.md

Benchmark names follow "<kernel>/<case...>/<cpu|gpu>/<version>" (bench/relu_bench.cpp); the
counters are the ones bench/support/bench.cpp sets from the median iteration: ms, GB/s, TFLOP/s,
%rival (the group's rival's median over this one's, x100) and %ceiling (of the machine's measured
copy bandwidth or GEMM throughput, whichever bounds the kernel).
"""
import json
import sys

CONTEXT_KEYS = [
    ("date", "date"), ("cpu_model", "CPU"), ("cpu_threads", "CPU threads"),
    ("cpu_copy_GB/s", "CPU copy ceiling, GB/s"), ("cpu_sgemm_TFLOP/s", "CPU SGEMM ceiling, TFLOP/s"),
    ("gpu", "GPU"), ("gpu_copy_GB/s", "GPU copy ceiling, GB/s"),
    ("gpu_sgemm_fp32_TFLOP/s", "GPU SGEMM FP32 ceiling, TFLOP/s"),
    ("gpu_sgemm_tf32_TFLOP/s", "GPU SGEMM TF32 ceiling, TFLOP/s"),
]


def fmt(value, digits):
    return "" if value is None else f"{value:.{digits}f}"


def split_name(name):
    parts = name.split("/")
    if parts and parts[-1] in ("manual_time", "real_time"):
        parts = parts[:-1]
    if len(parts) >= 3 and (parts[-2] == "cpu" or parts[-2].startswith("gpu")):  # gpu, gpu_tf32
        return "/".join(parts[:-2]), parts[-2], parts[-1]
    return "/".join(parts), "", ""


def program_table(path, data):
    program = path.rsplit("/", 1)[-1].removesuffix(".json")
    lines = [f"## {program}", ""]
    ctx = data.get("context", {})
    ceilings = [f"{label} {ctx[key]}" for key, label in CONTEXT_KEYS if "ceiling" in label and key in ctx]
    if ceilings:  # each program measures its own, at its start
        lines += ["Ceilings measured by this program: " + "; ".join(ceilings) + ".", ""]
    lines.append("| kernel / case | device | version | ms (median) | GB/s | TFLOP/s "
                 "| % of rival | % of ceiling |")
    lines.append("|---|---|---|---:|---:|---:|---:|---:|")
    failures = 0
    for b in data.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        case, device, version = split_name(b["name"])
        if b.get("error_occurred"):
            failures += 1
            lines.append(f"| {case} | {device} | {version} | FAILED: {b.get('error_message', '')}"
                         " | | | | |")
            continue
        lines.append("| " + " | ".join([
            case, device, version, fmt(b.get("ms"), 3), fmt(b.get("GB/s"), 1),
            fmt(b.get("TFLOP/s"), 2), fmt(b.get("%rival"), 0), fmt(b.get("%ceiling"), 0)]) + " |")
    lines.append("")
    return lines, failures


def main(paths):
    out, failures, context = [], 0, {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        context = context or data.get("context", {})
        table, bad = program_table(path, data)
        out += table
        failures += bad
    header = ["# Kiln kernel benchmarks", ""]
    for key, label in CONTEXT_KEYS:
        if key in context and "ceiling" not in label:
            header.append(f"- {label}: {context[key]}")
    header += ["- Times are medians over iterations, each timed alone after a cache flush "
               "(L2 on the GPU, last-level cache on the CPU).",
               "- % of rival: the rival's median time over this version's (above 100 is faster). "
               "% of ceiling: achieved GB/s or TFLOP/s over the ceiling measured in the same run.",
               ""]
    print("\n".join(header + out))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
