#!/usr/bin/env python3
"""Registers, spills, shared and local memory of every Kiln CUDA kernel on sm_90 (H100, H200),
and its theoretical occupancy at the block size(s) Kiln launches it with: all from the compiler,
no GPU needed. scripts/kernel-resources is the command line; its header lists the options.

  1. cuda_build: the build's compile_commands.json -> each .cu object's compute_90 PTX (read from
     the object, or compiled again) -> `ptxas -arch=sm_90 -v` on it;
  2. parse_ptxas: per kernel, registers, spill stores/loads, stack frame, static shared memory;
     the registers must equal those in the build's own sm_90 cubin (cuda_fatbin), which proves
     the numbers describe the code that was built;
  3. LAUNCHES: the block size(s) each kernel is launched with; sm_occupancy: what one SM holds.

What must stay true: every kernel found has its block size(s) in LAUNCHES, so no kernel goes
unreported; a kernel that spills fails --check unless its source says why that is accepted
(SPILL_MARKER, on a comment line right above the kernel or inside its body).
"""
import argparse
import dataclasses
import datetime
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Beside this file in bench/:
import cuda_build  # noqa: E402
import cuda_fatbin  # noqa: E402
from sm_occupancy import LIMIT_NAMES, SM90, occupancy, registers_for_one_more_block  # noqa: E402

ARCH = 90

# The comment that accepts a kernel's spills; the reason after the colon must not be empty.
SPILL_MARKER = re.compile(r"//\s*spills accepted:\s*(\S.*?)\s*$")


@dataclasses.dataclass(frozen=True)
class Launch:
    """Where a kernel is launched and with what block size(s).

    sizes: products of integers and `constexpr int` names, read from `constants` (a file under
    the source root) and then from kernels/cuda/launch.h, so the report follows the source."""
    where: str
    sizes: tuple
    constants: str = "kernels/cuda/launch.h"


# Block size(s) each kernel is launched with: the one place the report takes them from. A key is a
# kernel's readable name (see readable_name): with template arguments it covers that instance,
# bare it covers every instance. A kernel found in the objects and missing here fails the run.
LAUNCHES = {
    # kernels/cuda/elementwise.cu: every op is <<<blocks_for(n), kThreads>>> (launch.h: 256)
    "add_kernel": Launch("elementwise.cu add()", ("kThreads",)),
    "mul_kernel": Launch("elementwise.cu mul()", ("kThreads",)),
    "scale_kernel": Launch("elementwise.cu scale()", ("kThreads",)),
    "axpy_kernel": Launch("elementwise.cu axpy()", ("kThreads",)),
    "relu_forward_kernel": Launch("elementwise.cu relu_forward()", ("kThreads",)),
    "relu_backward_kernel": Launch("elementwise.cu relu_backward()", ("kThreads",)),
    "sum_partials_kernel": Launch("elementwise.cu sum(), pass 1", ("kThreads",)),
    # sum(), pass 2: one block, sum_final_kernel<<<1, 1024>>>
    "sum_final_kernel": Launch("elementwise.cu sum(), pass 2: `<<<1, 1024>>>`", ("1024",)),
    # kernels/cuda/augment.cu: <<<blocks_for(total), detail::kThreads>>>
    "augment_preprocess_kernel": Launch("augment.cu augment_preprocess()", ("kThreads",)),
    # kernels/cuda/bias.cu launch_bias_add<Index>: <<<blocks_for(...), kThreads>>>
    "bias_add_nchw_kernel": Launch("bias.cu launch_bias_add()", ("kThreads",)),
    "bias_add_nchw_vec4_kernel": Launch("bias.cu launch_bias_add()", ("kThreads",)),
    # bias_grad_nchw: the template argument is the block size, 1024 for long channels
    "bias_grad_nchw_kernel<1024>": Launch("bias.cu bias_grad_nchw(), N*HW >= 2^15", ("1024",)),
    "bias_grad_nchw_kernel<256>": Launch("bias.cu bias_grad_nchw(), N*HW < 2^15", ("kThreads",)),
    # kernels/cuda/dropout.cu: <<<blocks_for(n), detail::kThreads>>>
    "dropout_forward_kernel": Launch("dropout.cu dropout_forward()", ("kThreads",)),
    # kernels/cuda/fill_kernels.cuh queue_fill_float: <<<blocks_for(n), kThreads>>>
    "fill_float_kernel": Launch("fill.cu fill_float()", ("kThreads",)),
    # kernels/cuda/linear_kernels.cuh: queue_linear_add_bias <<<blocks_for(m * n), kThreads>>>;
    # queue_linear_bias_gradient a 2-D block
    "add_bias_kernel": Launch("linear.cu linear_forward()", ("kThreads",)),
    "bias_gradient_kernel": Launch(
        "linear.cu linear_backward_weight(): `dim3(kBiasGradientTileCols, kBiasGradientRowLanes)`",
        ("kBiasGradientTileCols * kBiasGradientRowLanes",), "kernels/cuda/linear_kernels.cuh"),
    # kernels/cuda/loss.cu: the row kernels take row_threads(k), K rounded up to whole warps and
    # clamped to 32..512: 32 for K <= 32 (CIFAR-10), 128 for K = 100, 512 for K > 480.
    "softmax_cross_entropy_forward_kernel": Launch(
        "loss.cu softmax_cross_entropy_forward(): row_threads(k)", ("32", "128", "512")),
    "count_correct_kernel": Launch("loss.cu count_correct(): row_threads(k)", ("32", "128", "512")),
    "sum_row_losses_kernel": Launch("loss.cu softmax_cross_entropy_forward(): `<<<1, 1024>>>`",
                                    ("1024",)),
    "softmax_cross_entropy_backward_kernel": Launch("loss.cu softmax_cross_entropy_backward()",
                                                    ("kThreads",)),
    # kernels/cuda/optim.cu: <<<blocks_for(...), kThreads>>>
    "adam_update_kernel": Launch("optim.cu adam_update()", ("kThreads",)),
    "sgd_update_kernel": Launch("optim.cu sgd_update()", ("kThreads",)),
    "adam_update_multi_kernel": Launch("optim.cu adam_update_multi()", ("kThreads",)),
    # kernels/cuda/pool2d.cu: <<<blocks_for(total), kThreads>>>
    "max_pool2d_forward_kernel": Launch("pool2d.cu max_pool2d_forward()", ("kThreads",)),
    "max_pool2d_backward_kernel": Launch("pool2d.cu max_pool2d_backward()", ("kThreads",)),
    # kernels/cuda/implicit_gemm_kernels.cuh: queue_implicit_gemm <<<grid, kGemmThreads>>> for
    # every problem and tile (also their __launch_bounds__), then the split-K sum <<<.., kThreads>>>
    "gemm_fp32_kernel": Launch("implicit_gemm_kernels.cuh queue_implicit_gemm()", ("kGemmThreads",),
                               "kernels/cuda/implicit_gemm_kernels.cuh"),
    "gemm_tf32_kernel": Launch("implicit_gemm_kernels.cuh queue_implicit_gemm()", ("kGemmThreads",),
                               "kernels/cuda/implicit_gemm_kernels.cuh"),
    "splitk_reduce_kernel": Launch("implicit_gemm_kernels.cuh queue_implicit_gemm()",
                                   ("kThreads",)),
    # kernels/cuda/batch_norm_kernels.cuh: the per-channel sums take one block per channel, the
    # template argument its size (1024 for channels of N*HW >= 2^15); the elementwise kernels
    # grid_stride_shape, <<<blocks_for(...), kThreads>>>
    "batch_norm_stats_kernel<1024>": Launch("batch_norm.cu batch_norm_stats(), N*HW >= 2^15",
                                            ("1024",)),
    "batch_norm_stats_kernel<256>": Launch("batch_norm.cu batch_norm_stats(), N*HW < 2^15",
                                           ("kThreads",)),
    "batch_norm_backward_sums_kernel<1024>": Launch(
        "batch_norm.cu batch_norm_backward(), N*HW >= 2^15", ("1024",)),
    "batch_norm_backward_sums_kernel<256>": Launch(
        "batch_norm.cu batch_norm_backward(), N*HW < 2^15", ("kThreads",)),
    "batch_norm_forward_kernel": Launch("batch_norm.cu batch_norm_forward()", ("kThreads",)),
    "batch_norm_forward_vec4_kernel": Launch("batch_norm.cu batch_norm_forward()", ("kThreads",)),
    "batch_norm_input_grad_kernel": Launch("batch_norm.cu batch_norm_backward()", ("kThreads",)),
    "batch_norm_input_grad_vec4_kernel": Launch("batch_norm.cu batch_norm_backward()",
                                                ("kThreads",)),
    # bench/support/rival_kernels.cu (the benchmarks' own rivals)
    "nll_mean_kernel": Launch("rival_kernels.cu nll_mean(): `<<<1, 256>>>`", ("256",)),
    "nll_backward_kernel": Launch("rival_kernels.cu nll_backward()", ("kThreads",)),
}


@dataclasses.dataclass
class Function:
    """One function's resources as ptxas reports them (bytes, except registers and barriers)."""
    mangled: str
    entry: bool  # a __global__ kernel; False for a non-inlined __device__ function
    registers: int = 0
    barriers: int = 0
    stack_frame: int = 0
    spill_stores: int = 0
    spill_loads: int = 0
    local: int = 0  # "bytes lmem": local memory outside the stack frame (older toolkits)
    shared: int = 0  # static __shared__
    cumulative_stack: int = 0
    # Filled in from the build:
    name: str = ""  # readable_name of the demangled name
    unit: str = ""  # the .cu it was compiled from, relative to the source root
    source: str = ""  # the same, absolute
    launch_bound: int = 0  # threads per block from __launch_bounds__ (.maxntid), 0 if none

    @property
    def spills(self):
        return self.spill_stores > 0 or self.spill_loads > 0

    @property
    def base(self):
        return self.name.split("<", 1)[0]


_ENTRY = re.compile(r"Compiling entry function '([^']+)' for '")
_PROPERTIES = re.compile(r"Function properties for (\S+)")
_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers")
_USED_FIELDS = {"barriers": re.compile(r"used (\d+) barriers"),
                "local": re.compile(r"(\d+) bytes lmem"),
                "shared": re.compile(r"(\d+) bytes smem"),
                "cumulative_stack": re.compile(r"(\d+) bytes cumulative stack size")}


def parse_ptxas(text):
    """[Function] from the output of `ptxas -v` (or `nvcc -Xptxas -v`): the entries in the order
    printed, and non-inlined device functions, whose frames and spills are their own."""
    functions, by_name = [], {}
    entry = pending = None
    for line in text.splitlines():
        if m := _ENTRY.search(line):
            entry = Function(m[1], entry=True)
            functions.append(entry)
            by_name[m[1]] = entry
        elif m := _PROPERTIES.search(line):
            pending = by_name.get(m[1])
            if pending is None:
                pending = by_name[m[1]] = Function(m[1], entry=False)
                functions.append(pending)
        elif m := _FRAME.search(line):
            if pending is None:
                raise ValueError(f"ptxas output: a stack/spill line outside a function: {line!r}")
            pending.stack_frame, pending.spill_stores, pending.spill_loads = map(int, m.groups())
            pending = None
        elif m := _USED.search(line):
            if entry is None:
                raise ValueError(f"ptxas output: a 'Used' line before any entry: {line!r}")
            entry.registers = int(m[1])
            for field, pattern in _USED_FIELDS.items():
                if f := pattern.search(line):
                    setattr(entry, field, int(f[1]))
    return functions


def launch_bounds(ptx):
    """{mangled entry: threads per block} of the entries with __launch_bounds__ (.maxntid in the
    PTX) or a required block size (.reqntid)."""
    bounds = {}
    for m in re.finditer(r"\.entry\s+([\w$.]+)\s*\(", ptx):
        brace = ptx.find("{", m.end())
        header = ptx[m.end():brace if brace >= 0 else len(ptx)]
        if d := re.search(r"\.(?:maxntid|reqntid)\s+(\d+)(?:\s*,\s*(\d+))?(?:\s*,\s*(\d+))?",
                          header):
            threads = 1
            for dim in d.groups():
                threads *= int(dim) if dim else 1
            bounds[m[1]] = threads
    return bounds


# Template arguments spelled as Kiln's sources spell them.
_TYPE_NAMES = [(r"\bunsigned long long\b", "uint64_t"), (r"\bunsigned long\b", "uint64_t"),
               (r"\bunsigned int\b", "uint32_t"), (r"\blong long\b", "int64_t"),
               (r"\blong\b", "int64_t")]


def readable_name(demangled):
    """`void kiln::kernels::cuda::detail::gemm_tf32_kernel<kiln::kernels::ConvForwardProblem<float>,
    128>(kiln::kernels::ConvForwardProblem<float>, int, float*)` becomes
    `gemm_tf32_kernel<ConvForwardProblem<float>, 128>`: no namespaces, return type or parameter
    list; the template arguments stay, so every instance keeps a name of its own."""
    s = demangled.replace("(anonymous namespace)::", "")
    if s.endswith(")"):  # drop the parameter list, the last top-level parenthesised group
        depth = 0
        for i in range(len(s) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(s[i], 0)
            if depth == 0:
                s = s[:i]
                break
    if s.startswith("void "):  # function templates demangle with their return type
        s = s[len("void "):]
    s = re.sub(r"\b[A-Za-z_]\w*::", "", s)
    for pattern, name in _TYPE_NAMES:
        s = re.sub(pattern, name, s)
    return re.sub(r"\s*>", ">", s).strip()


def demangle(names):
    if not names:
        return []
    cxxfilt = shutil.which("c++filt")
    if cxxfilt is None:
        raise cuda_build.ToolError("c++filt (binutils) is needed to demangle the kernel names")
    done = subprocess.run([cxxfilt], input="\n".join(names) + "\n", capture_output=True,
                          text=True, check=True)
    out = done.stdout.splitlines()
    if len(out) != len(names):
        raise cuda_build.ToolError(f"c++filt returned {len(out)} names for {len(names)}")
    return out


def _constants(text):
    found = {}
    pattern = (r"\bconstexpr\s+(?:static\s+)?(?:int|unsigned|long|std::u?int(?:32|64)_t)\s+"
               r"(\w+)\s*=\s*(\d+)\s*;")
    for m in re.finditer(pattern, text):
        found.setdefault(m[1], set()).add(int(m[2]))
    return found


def block_sizes(launch, read_source):
    """The block sizes of a Launch as integers; read_source(path under the source root) returns
    a file's text."""
    tables = [(launch.constants, _constants(read_source(launch.constants)))]
    if launch.constants != "kernels/cuda/launch.h":
        tables.append(("kernels/cuda/launch.h", _constants(read_source("kernels/cuda/launch.h"))))
    sizes = []
    for expression in launch.sizes:
        value = 1
        for factor in (f.strip() for f in expression.split("*")):
            if factor.isdigit():
                value *= int(factor)
                continue
            found = next(((path, t[factor]) for path, t in tables if factor in t), None)
            if found is None:
                raise ValueError(f"block size '{expression}' of {launch.where}: no `constexpr int "
                                 f"{factor} = <number>;` in {' or '.join(p for p, _ in tables)}")
            if len(found[1]) != 1:
                raise ValueError(f"block size '{expression}' of {launch.where}: {factor} has "
                                 f"several values in {found[0]}: {sorted(found[1])}")
            value *= next(iter(found[1]))
        sizes.append(value)
    return sizes


def launch_for(function):
    """The LAUNCHES entry of a kernel: its instance's, else its template's."""
    return LAUNCHES.get(function.name) or LAUNCHES.get(function.base)


def tabulate(functions, read_source):
    """(rows, problems, unused LAUNCHES keys): a row (Function, Launch, [Occupancy per block
    size]) per kernel. A kernel missing from LAUNCHES, or launched with more threads than its
    __launch_bounds__ allow, is a problem."""
    rows, problems, used = [], [], set()
    for f in functions:
        if not f.entry:
            continue
        launch = launch_for(f)
        if launch is None:
            problems.append(f"{f.name} ({f.unit}) has no block size in LAUNCHES "
                            f"(bench/kernel_resources.py): add the size(s) its launch uses")
            continue
        used.add(f.name if f.name in LAUNCHES else f.base)
        try:
            sizes = block_sizes(launch, read_source)
        except (OSError, ValueError) as e:
            problems.append(str(e))
            continue
        for threads in sizes:
            if f.launch_bound and threads > f.launch_bound:
                problems.append(f"{f.name} ({f.unit}): LAUNCHES says {threads} threads, more than "
                                f"its __launch_bounds__({f.launch_bound}): that launch would fail")
        rows.append((f, launch, [occupancy(f.registers, f.shared, t, f.barriers) for t in sizes]))
    return rows, problems, sorted(set(LAUNCHES) - used)


def find_definition(base, files):
    """(path, line, accepted-spills reason or None) of the __global__ or __device__ function
    `base` in files ({path: text}), or None. The marker counts on the comment lines right above
    the definition (above its template<> line, if any) or anywhere in its body."""
    pattern = re.compile(r"__(?:global|device)__\b[^;{}]*?\b" + re.escape(base) + r"\s*\(")
    for path, text in files.items():
        m = pattern.search(text)
        if m is None:
            continue
        lines = text.splitlines()
        start = text.count("\n", 0, m.start())  # 0-based line of __global__
        above = start - 1
        if above >= 0 and lines[above].lstrip().startswith("template"):
            above -= 1
        comments = []
        while above >= 0 and lines[above].lstrip().startswith("//"):
            comments.append(lines[above])
            above -= 1
        brace = text.find("{", m.end())
        if brace >= 0:
            depth = 0
            for i in range(brace, len(text)):
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                if depth == 0:
                    comments += text[brace:i].splitlines()
                    break
        reason = next((r[1] for r in map(SPILL_MARKER.search, comments) if r), None)
        return path, start + 1, reason
    return None


def spill_problems(functions, sources_for):
    """A message for every function that spills without an accepted-spills comment.
    sources_for(function) returns {path: text} of the sources its unit was compiled from."""
    problems = []
    for f in functions:
        if not f.spills:
            continue
        found = find_definition(f.base, sources_for(f))
        what = (f"{f.name} ({f.unit}) spills: {f.spill_stores} bytes stored, {f.spill_loads} "
                f"bytes loaded, a {f.stack_frame}-byte stack frame")
        if found is None:
            problems.append(f"{what}; its definition was not found, to look for a "
                            f"'// spills accepted: <reason>' comment")
        elif found[2] is None:
            problems.append(f"{what}. Remove the spill, or say why it is accepted in a "
                            f"'// spills accepted: <reason>' comment above {found[0]}:{found[1]}")
    return problems


def register_mismatches(functions, built):
    """Messages for the kernels whose ptxas register count differs from the build's cubin's
    (`built`: {mangled: registers}); a kernel missing from the cubin is not compared."""
    return [f"{f.mangled} ({f.unit}): ptxas on the build's PTX gives {f.registers} registers, the "
            f"build's sm_{ARCH} cubin {built[f.mangled]}: the build passes ptxas options this "
            f"script does not forward (cuda_build.ptxas_options)"
            for f in functions
            if f.entry and f.mangled in built and built[f.mangled] != f.registers]


@dataclasses.dataclass
class Result:
    build: cuda_build.Build
    functions: list  # kernels, then non-inlined device functions
    rows: list  # from tabulate
    problems: list  # each fails the run
    spill_problems: list  # each fails --check
    notes: list  # printed and reported, never fatal
    seconds: float


def analyse(build, from_source=False, jobs=None):
    started = time.monotonic()
    cuda_build.run_ptxas(build, ARCH, from_source, jobs)
    root = build.source_root
    problems, notes, functions, sources = [], [], [], {}
    for unit in build.units:
        rel = os.path.relpath(unit.source, root)
        if unit.how != "object":
            notes.append(f"{rel}: {unit.how}")
        sources[unit.source] = cuda_build.unit_sources(unit, root)
        if stale := cuda_build.stale_sources(unit, root, sources[unit.source]):
            notes.append(f"{rel}: the object is older than {', '.join(stale)}: rebuild for "
                         f"numbers that match the sources")
        bounds = launch_bounds(unit.ptx)
        parsed = parse_ptxas(unit.log)
        for f in parsed:
            f.unit, f.source, f.launch_bound = rel, unit.source, bounds.get(f.mangled, 0)
        if unit.cubin:
            problems += register_mismatches(parsed, cuda_fatbin.cubin_register_counts(unit.cubin))
        functions += parsed
    for f, name in zip(functions, demangle([f.mangled for f in functions])):
        f.name = readable_name(name)
    functions.sort(key=lambda f: (not f.entry, f.unit, f.name))

    def read_source(rel):
        with open(os.path.join(root, rel)) as fh:
            return fh.read()

    rows, launch_problems, unused = tabulate(functions, read_source)
    problems += launch_problems
    if unused:
        notes.append(f"LAUNCHES entries that match no kernel of this build: {', '.join(unused)}")
    spills = spill_problems(functions, lambda f: sources[f.source])
    return Result(build, functions, rows, problems, spills, notes, time.monotonic() - started)


def exit_status(result, check):
    """1 when the run found a problem, or spills that --check does not accept; else 0."""
    return 1 if result.problems or (check and result.spill_problems) else 0


# --------------------------------------------------------------------------------------------
# The report


def _command_output(args, cwd=None):
    try:
        done = subprocess.run(args, capture_output=True, text=True, cwd=cwd)
    except OSError:
        return ""
    return done.stdout if done.returncode == 0 else ""


def machine_description():
    cpu, system = platform.machine(), platform.platform()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
        with open("/etc/os-release") as f:
            system = next((line.split("=", 1)[1].strip().strip('"') for line in f
                           if line.startswith("PRETTY_NAME=")), system)
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {system}"


def _bytes(n):
    return f"{n}" if n < 1024 else f"{n} ({n / 1024:.1f} KiB)"


def _limited_by(occ):
    names = ", ".join(LIMIT_NAMES[k] for k in occ.limited_by)
    return names if occ.blocks else "cannot launch: " + names


def _sources_line(build):
    root = build.source_root
    commit = _command_output(["git", "rev-parse", "--short", "HEAD"], cwd=root).strip()
    if not commit:
        return "not a git checkout"
    files = sorted({p for u in build.units for p in cuda_build.unit_sources(u, root)})
    status = _command_output(["git", "status", "--porcelain", "--", *files], cwd=root)
    changed = sorted({line[3:] for line in status.splitlines() if len(line) > 3})
    if changed:
        return f"commit {commit}, with uncommitted changes to {', '.join(changed)}"
    return f"commit {commit}, no uncommitted change to the kernels' sources"


def render(result, command, date):
    b = result.build
    release = next((line.split(",", 1)[1].strip() for line in
                    _command_output([b.nvcc, "--version"]).splitlines() if "release" in line),
                   "unknown")
    from_objects = sum(u.how == "object" for u in b.units)
    kernels = [f for f in result.functions if f.entry]
    lines = [
        f"# Kiln's CUDA kernels on {SM90.name}: registers, spills, memory, occupancy — "
        f"{date}", "",
        f"`{command}`. From the compiler alone, no GPU: ptxas compiled the compute_{ARCH} PTX "
        f"of the build for sm_{ARCH} with `-v` ({from_objects} of {len(b.units)} .cu files read "
        f"from their objects, whose sm_{ARCH} cubins have the same register counts), and the "
        f"occupancy is NVIDIA's arithmetic (cuda_occupancy.h, see bench/sm_occupancy.py) at the "
        f"block size(s) each kernel is launched with.", "",
        f"- machine (none of it needs a GPU): {machine_description()}",
        f"- toolkit: nvcc {release} ({b.nvcc}); the build compiles for {b.architectures}",
        f"- sources: {_sources_line(b)}",
        f"- {len(kernels)} kernels, from {sum(1 for u in b.units if '.entry' in u.ptx)} of the "
        f"{len(b.units)} .cu files", "",
        "## Headline", ""]
    lines += headline(result)
    lines += [
        "", f"## Per-SM limits ({SM90.name})", "",
        f"{SM90.regs_per_sm} registers (at most {SM90.max_regs_per_thread} per thread; a warp gets "
        f"them in units of {SM90.reg_alloc_unit}, so per-thread counts round up to a multiple of "
        f"{SM90.reg_alloc_unit // SM90.warp_size}; each of the {SM90.sub_partitions} "
        f"sub-partitions holds whole warps in its quarter of the file); "
        f"{SM90.max_threads_per_sm} threads ({SM90.max_warps} warps); {SM90.max_blocks_per_sm} "
        f"blocks; {SM90.smem_per_sm // 1024} KiB shared memory ({SM90.smem_per_block // 1024} KiB "
        f"per block by default, {SM90.smem_per_block_optin // 1024} KiB with opt-in, plus "
        f"{SM90.smem_reserved_per_block} bytes per block reserved by the system; allocated in "
        f"{SM90.smem_alloc_unit}-byte units); {SM90.barrier_slots_per_block} barriers per block "
        f"slot. Occupancy = resident warps / {SM90.max_warps}.", "",
        "## Kernels", "",
        "Sizes in bytes. *Blocks/SM by limit*: what registers / shared memory / threads / the "
        "block cap would each allow alone; the smallest wins, and *limited by* names it (all of "
        "them when several tie).", "",
        "| kernel | source | threads | launch bounds | registers | spill stores / loads | static "
        "shared | stack frame | blocks/SM by limit | occupancy | limited by |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for f, _, occupancies in result.rows:
        for o in occupancies:
            stack = str(f.stack_frame) + (f" + {f.local} lmem" if f.local else "")
            by = " / ".join(str(o.limits[k]) for k in ("registers", "shared", "threads", "blocks"))
            lines.append(
                f"| `{f.name}` | {f.unit} | {o.threads} | {f.launch_bound or ''} | {f.registers} "
                f"| {f.spill_stores} / {f.spill_loads} | {_bytes(f.shared)} | {stack} | {by} "
                f"| {o.blocks} x {-(-o.threads // SM90.warp_size)} warps = {o.percent:.1f}% "
                f"| {_limited_by(o)} |")
    device = [f for f in result.functions if not f.entry]
    if device:
        lines += ["", "Non-inlined device functions (frames and spills of their own):", "",
                  "| function | source | stack frame | spill stores / loads |",
                  "|---|---|---:|---:|"]
        lines += [f"| `{f.name}` | {f.unit} | {f.stack_frame} | {f.spill_stores} / "
                  f"{f.spill_loads} |" for f in device]
    lines += ["", "## Block sizes", "",
              "From LAUNCHES in bench/kernel_resources.py; named constants are read from the "
              "sources on every run, and a kernel without an entry fails the run.", "",
              "| kernel | threads | launched in |", "|---|---|---|"]
    seen = set()
    for f, launch, occupancies in result.rows:
        key = f.name if f.name in LAUNCHES else f.base
        if key not in seen:
            seen.add(key)
            named = [s for s in launch.sizes if not s.isdigit()]
            lines.append(f"| `{key}` | {', '.join(str(o.threads) for o in occupancies)}"
                         + (f" (`{', '.join(named)}`)" if named else "") + f" | {launch.where} |")
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def headline(result):
    kernels = [f for f in result.functions if f.entry]
    spilling = [f for f in result.functions if f.spills]
    if spilling:
        out = [f"- Spills: {len(spilling)} function(s) spill: " + "; ".join(
            f"`{f.name}` ({f.spill_stores} bytes stored, {f.spill_loads} loaded)" for f in spilling)
            + (f". {len(result.spill_problems)} of them without an accepted-spills comment: "
               f"`--check` fails." if result.spill_problems
               else "; every one accepted in its source.")]
    else:
        frames = [f for f in kernels if f.stack_frame]
        out = [f"- Spills: none. All {len(kernels)} kernels have 0 bytes of spill stores and loads"
               + (f"; {len(frames)} have a stack frame." if frames
                  else ", and none a stack frame.")]
    ceiling = SM90.max_regs_per_thread
    near = [f for f in kernels if f.registers > ceiling - SM90.reg_alloc_unit // SM90.warp_size]
    if near:
        out.append("- Near the register ceiling: " + "; ".join(
            f"`{f.name}` uses {f.registers} of the {ceiling} registers a thread may have"
            for f in near) + ": little room is left before ptxas must spill.")
    rows = [(f, o) for f, _, occs in result.rows for o in occs]
    below = [(f, o) for f, o in rows if o.percent < 100.0]
    out.append(f"- {len(rows) - len(below)} of {len(rows)} (kernel, block size) pairs reach 100% "
               f"theoretical occupancy. Below 100%:")
    if not below:
        return out
    out += ["", "| kernel | threads | registers | static shared | occupancy | limited by | one "
            "more block/SM needs |", "|---|---:|---:|---:|---:|---|---|"]
    for f, o in sorted(below, key=lambda r: (r[1].limited_by, r[1].percent, r[0].name)):
        fewer = registers_for_one_more_block(f.registers, f.shared, o.threads, f.barriers)
        if fewer is not None:
            need = f"<= {fewer} registers"
        elif "blocks" in o.limited_by:
            need = "bigger blocks (the 32-block cap)"
        elif "shared" in o.limited_by:
            need = "less shared memory"
        else:
            need = ""
        out.append(f"| `{f.name}` | {o.threads} | {f.registers} | {_bytes(f.shared)} | "
                   f"{o.percent:.1f}% | {_limited_by(o)} | {need} |")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="scripts/kernel-resources",
                                     description="Resources and occupancy of Kiln's CUDA kernels "
                                     "on sm_90, from the compiler (scripts/kernel-resources).")
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--out")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--from-source", action="store_true")
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args(argv)
    if args.self_test:
        import unittest
        import kernel_resources_test
        suite = unittest.defaultTestLoader.loadTestsFromModule(kernel_resources_test)
        return 0 if unittest.TextTestRunner(verbosity=1).run(suite).wasSuccessful() else 1
    try:
        result = analyse(cuda_build.load_build(args.build_dir), args.from_source, args.jobs)
    except (cuda_build.ToolError, ValueError) as e:  # ValueError: ptxas output not understood
        print(f"scripts/kernel-resources: {e}", file=sys.stderr)
        return 2
    for note in result.notes:
        print(f"scripts/kernel-resources: note: {note}", file=sys.stderr)
    if args.out or not args.check:
        given = sys.argv[1:] if argv is None else argv
        command = " ".join(["scripts/kernel-resources"] + [shlex.quote(a) for a in given])
        report = render(result, command, args.date)
        if args.out:
            with open(args.out, "w") as f:
                f.write(report)
            print(f"scripts/kernel-resources: wrote {args.out}", file=sys.stderr)
        else:
            sys.stdout.write(report)
    for p in result.problems:
        print(f"scripts/kernel-resources: ERROR: {p}", file=sys.stderr)
    if args.check:
        for p in result.spill_problems:
            print(f"scripts/kernel-resources: SPILLS: {p}", file=sys.stderr)
    kernels = sum(1 for f in result.functions if f.entry)
    spilling = sum(1 for f in result.functions if f.spills)
    status = exit_status(result, args.check)
    print(f"scripts/kernel-resources: {kernels} kernels from {len(result.build.units)} .cu files, "
          f"{spilling} spilling ({len(result.spill_problems)} not accepted), "
          f"{len(result.problems)} error(s), {result.seconds:.1f} s: "
          f"{'FAILED' if status else 'ok'}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
