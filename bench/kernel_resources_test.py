"""Self-test of scripts/kernel-resources (`scripts/kernel-resources --self-test`): the ptxas
parser and the spill check on recorded ptxas output, one clean sample and two spilling ones, the
occupancy arithmetic on cases worked by hand, the names, the block-size map, and the fatbin and
cubin readers on files built here byte by byte. Needs no build and no GPU. Where a CUDA toolkit
is installed, two more tests use it (they skip otherwise): the occupancy arithmetic against
NVIDIA's own cuda_occupancy.h on 40800 cases, and the whole run on a real spilling kernel.
"""
import contextlib
import io
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

import cuda_build
import cuda_fatbin
import kernel_resources as kr
from sm_occupancy import SM90, occupancy, registers_for_one_more_block


def find_nvcc():
    return shutil.which("nvcc") or next(
        (p for p in ["/usr/local/cuda/bin/nvcc"] if os.access(p, os.X_OK)), None)

# Recorded from CUDA 13.0's ptxas -arch=sm_90 -v on Kiln's objects (elementwise.cu, bias.cu,
# conv2d_kiln.cu): nothing spills.
CLEAN_LOG = """\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_ZN4kiln7kernels4cuda47_GLOBAL__N__669893e7_14_elementwise_cu_fb7e125116sum_final_kernelEiPKdPd' for 'sm_90'
ptxas info    : Function properties for _ZN4kiln7kernels4cuda47_GLOBAL__N__669893e7_14_elementwise_cu_fb7e125116sum_final_kernelEiPKdPd
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 18 registers, used 1 barriers, 256 bytes smem
ptxas info    : Compile time = 11.079 ms
ptxas info    : Compiling entry function '_ZN4kiln7kernels4cuda47_GLOBAL__N__669893e7_14_elementwise_cu_fb7e125110add_kernelElPKfS4_Pf' for 'sm_90'
ptxas info    : Function properties for _ZN4kiln7kernels4cuda47_GLOBAL__N__669893e7_14_elementwise_cu_fb7e125110add_kernelElPKfS4_Pf
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 26 registers, used 0 barriers
ptxas info    : Compile time = 38.972 ms
ptxas info    : Compiling entry function '_ZN4kiln7kernels4cuda6detail16gemm_tf32_kernelINS0_18ConvForwardProblemIfEELi128EEEvT_iPf' for 'sm_90'
ptxas info    : Function properties for _ZN4kiln7kernels4cuda6detail16gemm_tf32_kernelINS0_18ConvForwardProblemIfEELi128EEEvT_iPf
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 226 registers, used 1 barriers, 41984 bytes smem
ptxas info    : Compile time = 833.547 ms
ptxas info    : Compiling entry function '_ZN4kiln7kernels4cuda39_GLOBAL__N__10af8d20_7_bias_cu_6302dd2721bias_grad_nchw_kernelILi1024EEEvlllPKfPf' for 'sm_90'
ptxas info    : Function properties for _ZN4kiln7kernels4cuda39_GLOBAL__N__10af8d20_7_bias_cu_6302dd2721bias_grad_nchw_kernelILi1024EEEvlllPKfPf
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 32 registers, used 1 barriers, 128 bytes smem
ptxas info    : Compile time = 31.782 ms
"""

# Recorded from `nvcc -arch=sm_90 -cubin -maxrregcount=32 -Xptxas -v` on a 64-accumulator kernel
# (namespace demo { template <int N> __global__ void heavy_kernel(const float*, float*); }):
# capped at 32 registers, it spills.
SPILLING_LOG = """\
ptxas info    : Overriding maximum register limit 256 for '_ZN4demo12heavy_kernelILi64EEEvPKfPf' with  32 of maxrregcount option
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_ZN4demo12heavy_kernelILi64EEEvPKfPf' for 'sm_90'
ptxas info    : Function properties for _ZN4demo12heavy_kernelILi64EEEvPKfPf
    1240 bytes stack frame, 2296 bytes spill stores, 2372 bytes spill loads
ptxas info    : Used 32 registers, used 0 barriers, 1240 bytes cumulative stack size
ptxas info    : Compile time = 78.167 ms
"""

# Recorded the same way (-maxrregcount=24) on a kernel calling a __noinline__ device function
# with a local array: the callee's spills are reported apart from the kernel.
DEVICE_FUNCTION_LOG = """\
ptxas info    : Overriding maximum register limit 256 for '_ZN4demo12outer_kernelEPKfPfi' with  24 of maxrregcount option
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_ZN4demo12outer_kernelEPKfPfi' for 'sm_90'
ptxas info    : Function properties for _ZN4demo12outer_kernelEPKfPfi
    552 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 24 registers, used 0 barriers, 552 bytes cumulative stack size
ptxas info    : Compile time = 21.014 ms
ptxas info    : Function properties for _ZN4demo6helperEPKfi
    0 bytes stack frame, 660 bytes spill stores, 720 bytes spill loads
"""

HEAVY_SOURCE = """\
namespace demo {
// Sixty-four accumulators per thread.
template <int N>
__global__ void heavy_kernel(const float* x, float* y) {
  float acc[N];
  y[threadIdx.x] = acc[0];
}
}  // namespace demo
"""


def spilling_kernel():
    f = kr.parse_ptxas(SPILLING_LOG)[0]
    f.name, f.unit = "heavy_kernel<64>", "demo.cu"
    return f


class ParsePtxasTest(unittest.TestCase):
    def test_clean_sample(self):
        functions = kr.parse_ptxas(CLEAN_LOG)
        self.assertEqual(len(functions), 4)
        self.assertTrue(all(f.entry and not f.spills for f in functions))
        total, add, tf32, grad = functions
        self.assertEqual((total.registers, total.barriers, total.shared), (18, 1, 256))
        self.assertEqual((add.registers, add.barriers, add.shared, add.stack_frame), (26, 0, 0, 0))
        self.assertEqual((tf32.registers, tf32.shared), (226, 41984))
        self.assertEqual(grad.mangled.count("bias_grad_nchw_kernelILi1024E"), 1)

    def test_spilling_sample(self):
        (f,) = kr.parse_ptxas(SPILLING_LOG)
        self.assertEqual(f.mangled, "_ZN4demo12heavy_kernelILi64EEEvPKfPf")
        self.assertEqual((f.registers, f.stack_frame, f.spill_stores, f.spill_loads),
                         (32, 1240, 2296, 2372))
        self.assertEqual(f.cumulative_stack, 1240)
        self.assertTrue(f.spills)

    def test_device_function_spills_are_its_own(self):
        kernel, helper = kr.parse_ptxas(DEVICE_FUNCTION_LOG)
        self.assertTrue(kernel.entry)
        self.assertEqual((kernel.stack_frame, kernel.spills), (552, False))
        self.assertFalse(helper.entry)
        self.assertEqual((helper.mangled, helper.spill_stores, helper.spill_loads),
                         ("_ZN4demo6helperEPKfi", 660, 720))

    def test_registers_must_match_the_build_cubin(self):
        functions = kr.parse_ptxas(CLEAN_LOG)
        built = {f.mangled: f.registers for f in functions}
        self.assertEqual(kr.register_mismatches(functions, built), [])
        built[functions[2].mangled] = 255
        (problem,) = kr.register_mismatches(functions, built)
        self.assertIn("gives 226 registers, the build's sm_90 cubin 255", problem)

    def test_launch_bounds_from_ptx(self):
        ptx = (".visible .entry _Z1aPf(\n.param .u64 _Z1aPf_param_0\n)\n.maxntid 256, 1, 1\n{\n}\n"
               ".visible .entry _Z1bPf(\n.param .u64 _Z1bPf_param_0\n)\n{\n}\n"
               ".visible .entry _Z1cPf(\n.param .u64 _Z1cPf_param_0\n)\n.reqntid 32, 8\n{\n}\n")
        self.assertEqual(kr.launch_bounds(ptx), {"_Z1aPf": 256, "_Z1cPf": 256})


class SpillCheckTest(unittest.TestCase):
    def check(self, source):
        return kr.spill_problems([spilling_kernel()], lambda f: {"demo.cu": source})

    def test_unaccepted_spill_fails_and_says_where(self):
        (problem,) = self.check(HEAVY_SOURCE)
        self.assertIn("heavy_kernel<64> (demo.cu) spills: 2296 bytes stored, 2372 bytes loaded",
                      problem)
        self.assertIn("demo.cu:4", problem)

    def test_marker_above_the_kernel_accepts(self):
        source = HEAVY_SOURCE.replace("// Sixty-four accumulators per thread.",
                                      "// Sixty-four accumulators per thread.\n"
                                      "// spills accepted: only used by the benchmark")
        self.assertEqual(self.check(source), [])

    def test_marker_in_the_body_accepts(self):
        source = HEAVY_SOURCE.replace("  float acc[N];",
                                      "  float acc[N];  // spills accepted: measured: no slower")
        self.assertEqual(self.check(source), [])

    def test_marker_needs_a_reason(self):
        source = HEAVY_SOURCE.replace("  float acc[N];", "  float acc[N];  // spills accepted:")
        self.assertEqual(len(self.check(source)), 1)

    def test_marker_of_another_kernel_does_not_count(self):
        source = ("// spills accepted: not this one\n__global__ void light_kernel(float* y) {}\n"
                  + HEAVY_SOURCE)
        self.assertEqual(len(self.check(source)), 1)

    def test_unfound_definition_fails(self):
        (problem,) = self.check("// nothing here\n")
        self.assertIn("definition was not found", problem)

    def test_clean_sample_passes(self):
        self.assertEqual(kr.spill_problems(kr.parse_ptxas(CLEAN_LOG), lambda f: {}), [])

    def test_check_mode_exit_status(self):
        def result(spills):
            return kr.Result(None, [], [], [], spills, [], 0.0)
        self.assertEqual(kr.exit_status(result(self.check(HEAVY_SOURCE)), check=True), 1)
        self.assertEqual(kr.exit_status(result(self.check(HEAVY_SOURCE)), check=False), 0)
        self.assertEqual(kr.exit_status(result([]), check=True), 0)


class OccupancyTest(unittest.TestCase):
    """Worked by hand from sm_90's limits (bench/sm_occupancy.py's docstring)."""

    def test_elementwise_256_threads_16_registers_is_full(self):
        # 16 x 32 = 512 registers a warp: 32 warps per sub-partition, 128 per SM > 64; 8 warps a
        # block: 2048 / 256 = 8 blocks = 64 warps = 100%, bounded by the 2048 threads.
        o = occupancy(16, 0, 256)
        self.assertEqual((o.blocks, o.warps, o.percent), (8, 64, 100.0))
        self.assertEqual(o.limited_by, ("threads",))
        self.assertEqual(o.limits["registers"], 16)
        self.assertEqual(o.limits["shared"], 228)  # only the reserved 1 KiB per block

    def test_tf32_128_tile_gemm(self):
        # 226 registers round up to 232: 7424 a warp; 16384 / 7424 = 2 warps per sub-partition,
        # 8 per SM = one 256-thread block = 12.5%. Shared: 41984 + 1024 = 43008 -> 5 blocks.
        o = occupancy(226, 41984, 256, barriers=1)
        self.assertEqual((o.blocks, o.percent), (1, 12.5))
        self.assertEqual(o.limited_by, ("registers",))
        self.assertEqual([o.limits[k] for k in ("shared", "threads", "barriers")], [5, 8, 64])
        self.assertEqual(registers_for_one_more_block(226, 41984, 256), 128)

    def test_register_granularity(self):
        # 32 registers: 1024 a warp, 16 per sub-partition, 8 blocks of 256. 33 rounds up to 40:
        # 1280 a warp, 12 per sub-partition, 48 warps = 6 blocks = 75%.
        self.assertEqual(occupancy(32, 0, 256).blocks, 8)
        self.assertEqual((occupancy(33, 0, 256).blocks, occupancy(33, 0, 256).percent), (6, 75.0))

    def test_sub_partitions_hold_whole_warps(self):
        # 136 registers: 4352 a warp. The whole file would hold 15 warps, but each quarter holds
        # only 3 (16384 / 4352 = 3.76), so 12 one-warp blocks, not 15.
        self.assertEqual(occupancy(136, 0, 32).limits["registers"], 12)

    def test_one_warp_blocks_hit_the_block_cap(self):
        o = occupancy(24, 256, 32)
        self.assertEqual((o.blocks, o.percent, o.limited_by), (32, 50.0, ("blocks",)))

    def test_shared_memory_bound(self):
        # 48 KiB static + 1 KiB reserved = 50176 bytes; 233472 / 50176 = 4 blocks of 4 warps.
        o = occupancy(32, 48 * 1024, 128)
        self.assertEqual((o.blocks, o.percent, o.limited_by), (4, 25.0, ("shared",)))
        self.assertEqual(occupancy(32, 48 * 1024 + 1, 128).blocks, 0)  # over the static limit

    def test_too_many_registers_for_the_block_cannot_launch(self):
        o = occupancy(255, 0, 1024)  # 256 x 32 x 32 = 262144 > 65536 registers a block
        self.assertEqual((o.blocks, o.limited_by), (0, ("registers",)))
        self.assertEqual(occupancy(16, 0, 2048).blocks, 0)  # over 1024 threads a block

    def test_more_registers_do_not_help_when_another_limit_binds(self):
        self.assertIsNone(registers_for_one_more_block(16, 0, 256))
        self.assertEqual(SM90.max_warps, 64)


# NVIDIA's own calculator (the toolkit's header-only cuda_occupancy.h) with an H100's properties
# (cudaGetDeviceProperties on sm_90: 228 KiB shared per SM, 227 KiB opt-in, 1 KiB reserved).
# Reads "registers shared threads barriers" lines, prints "blocks limiting-factor-bits" lines.
OCCUPANCY_REFERENCE = r"""
#include <cstdio>
#include "cuda_occupancy.h"
int main() {
  cudaOccDeviceProp sm90;
  sm90.computeMajor = 9, sm90.computeMinor = 0, sm90.maxThreadsPerBlock = 1024;
  sm90.maxThreadsPerMultiprocessor = 2048, sm90.regsPerBlock = 65536;
  sm90.regsPerMultiprocessor = 65536, sm90.warpSize = 32, sm90.sharedMemPerBlock = 49152;
  sm90.sharedMemPerMultiprocessor = 233472, sm90.numSms = 132;
  sm90.sharedMemPerBlockOptin = 232448, sm90.reservedSharedMemPerBlock = 1024;
  cudaOccDeviceState state;
  int regs, threads, barriers;
  size_t shared;
  while (std::scanf("%d %zu %d %d", &regs, &shared, &threads, &barriers) == 4) {
    cudaOccFuncAttributes f;
    f.maxThreadsPerBlock = 1024, f.numRegs = regs, f.sharedSizeBytes = shared;
    f.numBlockBarriers = barriers;
    cudaOccResult r;
    if (cudaOccMaxActiveBlocksPerMultiprocessor(&r, &sm90, &f, &state, threads, 0) != 0) {
      std::printf("error\n");
    } else {
      std::printf("%d %u\n", r.activeBlocksPerMultiprocessor, r.limitingFactors);
    }
  }
}
"""
OCC_BITS = {"threads": 1, "registers": 2, "shared": 4, "blocks": 8, "barriers": 16}


def find_occupancy_header():
    nvcc = find_nvcc()
    roots = ([os.path.join(os.path.dirname(os.path.dirname(nvcc)), "include")] if nvcc else []) \
        + ["/usr/local/cuda/include"]
    return next((r for r in roots if os.path.isfile(os.path.join(r, "cuda_occupancy.h"))), None)


@unittest.skipUnless(shutil.which("c++") and find_occupancy_header(), "no c++ or cuda_occupancy.h")
class OccupancyAgainstNvidiaTest(unittest.TestCase):
    def test_same_blocks_and_limits_as_cuda_occupancy_h(self):
        cases = [(r, s, t, b) for r in range(1, 256) for t in range(32, 1025, 32)
                 for s, b in [(0, 0), (256, 1), (16640, 1), (41984, 1), (49152, 1)]]
        with tempfile.TemporaryDirectory() as d:
            exe = os.path.join(d, "occupancy")
            subprocess.run(["c++", "-std=c++17", "-O1", "-x", "c++", "-", "-I",
                            find_occupancy_header(), "-o", exe], input=OCCUPANCY_REFERENCE,
                           text=True, check=True)
            lines = "".join(f"{r} {s} {t} {b}\n" for r, s, t, b in cases)
            out = subprocess.run([exe], input=lines, capture_output=True, text=True,
                                 check=True).stdout.split("\n")
        for case, line in zip(cases, out):
            blocks, bits = map(int, line.split())
            o = occupancy(*case)
            self.assertEqual((o.blocks, sum(OCC_BITS[k] for k in o.limited_by)), (blocks, bits),
                             case)


class NamesTest(unittest.TestCase):
    def test_readable_names(self):
        cases = {
            "kiln::kernels::cuda::(anonymous namespace)::add_kernel(long, float const*, float "
            "const*, float*)": "add_kernel",
            "void kiln::kernels::cuda::detail::gemm_tf32_kernel<kiln::kernels::ConvForwardProblem"
            "<float>, 128>(kiln::kernels::ConvForwardProblem<float>, int, float*)":
            "gemm_tf32_kernel<ConvForwardProblem<float>, 128>",
            "void kiln::kernels::cuda::(anonymous namespace)::bias_add_nchw_kernel<unsigned int>("
            "unsigned int, unsigned int, unsigned int, float const*, float*)":
            "bias_add_nchw_kernel<uint32_t>",
            "void kiln::kernels::cuda::(anonymous namespace)::bias_add_nchw_kernel<long>(long, "
            "long, long, float const*, float*)": "bias_add_nchw_kernel<int64_t>",
            "void kiln::kernels::cuda::detail::splitk_reduce_kernel<kiln::kernels::"
            "MatrixProductProblem<float> >(kiln::kernels::MatrixProductProblem<float>, int, float "
            "const*)": "splitk_reduce_kernel<MatrixProductProblem<float>>",
        }
        for demangled, name in cases.items():
            self.assertEqual(kr.readable_name(demangled), name)

    @unittest.skipUnless(shutil.which("c++filt"), "no c++filt")
    def test_demangle_keeps_template_instances_apart(self):
        stem = "_ZN4kiln7kernels4cuda6detail16gemm_tf32_kernelINS0_18ConvForwardProblemIfEELi"
        names = [kr.readable_name(n)
                 for n in kr.demangle([stem + "128EEEvT_iPf", stem + "64EEEvT_iPf"])]
        self.assertEqual(names, ["gemm_tf32_kernel<ConvForwardProblem<float>, 128>",
                                 "gemm_tf32_kernel<ConvForwardProblem<float>, 64>"])


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_repo_file(rel):
    with open(os.path.join(REPO, rel)) as f:
        return f.read()


class LaunchesTest(unittest.TestCase):
    def kernel(self, name):
        return kr.Function("_Z1xv", entry=True, registers=32, name=name, unit="x.cu")

    def test_every_entry_resolves_in_this_checkout(self):
        for key, launch in kr.LAUNCHES.items():
            for threads in kr.block_sizes(launch, read_repo_file):
                self.assertTrue(0 < threads <= 1024 and threads % 32 == 0, (key, threads))

    def test_named_constants_and_products(self):
        files = {"k.cu": "constexpr int kTileCols = 32;\nconstexpr int kRowLanes = 8;\n",
                 "kernels/cuda/launch.h": "constexpr int kThreads = 256;\n"}
        launch = kr.Launch("k.cu", ("kTileCols * kRowLanes", "kThreads", "64"), "k.cu")
        self.assertEqual(kr.block_sizes(launch, files.__getitem__), [256, 256, 64])
        with self.assertRaisesRegex(ValueError, "no `constexpr int kMissing"):
            kr.block_sizes(kr.Launch("k.cu", ("kMissing",), "k.cu"), files.__getitem__)

    def test_a_kernel_missing_from_the_map_fails(self):
        rows, problems, _ = kr.tabulate([self.kernel("brand_new_kernel")], read_repo_file)
        self.assertEqual(rows, [])
        self.assertIn("brand_new_kernel (x.cu) has no block size in LAUNCHES", problems[0])

    def test_instances_and_templates(self):
        self.assertIs(kr.launch_for(self.kernel("gemm_fp32_kernel<ConvForwardProblem<float>, 64>")),
                      kr.LAUNCHES["gemm_fp32_kernel"])
        self.assertIs(kr.launch_for(self.kernel("bias_grad_nchw_kernel<1024>")),
                      kr.LAUNCHES["bias_grad_nchw_kernel<1024>"])
        self.assertIsNone(kr.launch_for(self.kernel("bias_grad_nchw_kernel<512>")))

    def test_launch_beyond_launch_bounds_fails(self):
        f = self.kernel("sum_final_kernel")  # launched with 1024 threads
        f.launch_bound = 256
        _, problems, _ = kr.tabulate([f], read_repo_file)
        self.assertIn("more than its __launch_bounds__(256)", problems[0])


def elf(sections):
    """A little-endian ELF64 file holding `sections` [(name, type, body, link)] after the null
    section and a .shstrtab (at index 1), as the readers expect."""
    names = b"\0.shstrtab\0" + b"".join(n.encode() + b"\0" for n, *_ in sections)
    table = [("", 0, b"", 0, 0), (".shstrtab", 3, names, 0, 1)]
    offsets, pos = {}, 11
    for n, *_ in sections:
        offsets[n], pos = pos, pos + len(n) + 1
    table += [(n, t, body, link, offsets[n]) for n, t, body, link in sections]
    data = bytearray(64)
    headers = []
    for name, kind, body, link, name_offset in table:
        headers.append(struct.pack("<IIQQQQIIQQ", name_offset, kind, 0, 0, len(data), len(body),
                                   link, 0, 1, 0))
        data += body
    shoff = len(data)
    data += b"".join(headers)
    data[0:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", data, 0x28, shoff)
    struct.pack_into("<HHH", data, 0x3A, 64, len(table), 1)
    return bytes(data)


def fatbin(entries):
    """A .nv_fatbin section of `entries` [(kind, arch, flags, payload)]."""
    body = b""
    for kind, arch, flags, payload in entries:
        padded = payload + b"\0" * (-len(payload) % 8)
        header = struct.pack("<HHIQIIHHIIIQQQ", kind, 0x101, 64, len(padded),
                             len(payload) if flags else 0, 0, 0, 9, arch, 0, 0, flags, 0,
                             len(payload))
        body += header + padded
    return struct.pack("<IHHQ", cuda_fatbin.FATBIN_MAGIC, 1, 16, len(body)) + body


PTX = ".version 9.0\n.target sm_90\n.visible .entry _Z1kPf(\n.param .u64 p\n)\n{\nret;\n}\n"


class FatbinTest(unittest.TestCase):
    def write_object(self, directory, entries):
        path = os.path.join(directory, "x.cu.o")
        with open(path, "wb") as f:
            f.write(elf([(".text", 1, b"\xc3", 0), (".nv_fatbin", 1, fatbin(entries), 0)]))
        return path

    def test_reads_the_ptx_of_the_right_architecture(self):
        with tempfile.TemporaryDirectory() as d:
            path = self.write_object(d, [(1, 80, 0, b"sm80 ptx"), (1, 90, 0, PTX.encode()),
                                         (2, 90, 0, b"\x7fELF a cubin ...")])
            ptx, cubin, why = cuda_fatbin.read_object(path, 90)
            self.assertEqual((ptx, cubin, why), (PTX, b"\x7fELF a cubin ...", None))
            self.assertEqual(cuda_fatbin.read_object(path, 100)[2], "it holds no compute_100 PTX")

    @unittest.skipUnless(shutil.which("zstd"), "no zstd")
    def test_zstd_compressed_ptx(self):
        packed = subprocess.run(["zstd", "-q", "-c"], input=PTX.encode(), capture_output=True,
                                check=True).stdout
        with tempfile.TemporaryDirectory() as d:
            path = self.write_object(d, [(1, 90, cuda_fatbin.FLAG_ZSTD, packed)])
            self.assertEqual(cuda_fatbin.read_object(path, 90)[0], PTX)

    def test_lz4_ptx_is_reported_unreadable(self):
        with tempfile.TemporaryDirectory() as d:
            path = self.write_object(d, [(1, 90, cuda_fatbin.FLAG_LZ4, b"\x10opaque")])
            ptx, _, why = cuda_fatbin.read_object(path, 90)
            self.assertIsNone(ptx)
            self.assertIn("LZ4", why)

    def test_object_without_device_code(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "host.o")
            with open(path, "wb") as f:
                f.write(elf([(".text", 1, b"\xc3", 0)]))
            self.assertIn("no .nv_fatbin", cuda_fatbin.read_object(path, 90)[2])

    def test_cubin_register_counts(self):
        strings = b"\0_Z1kPf\0_Z1jPf\0"
        symbols = b"".join(struct.pack("<IBBHQQ", name, kind, 0, 0, 0, 0)
                           for name, kind in [(0, 0), (1, 0x12), (8, 0x12)])
        info = (struct.pack("<BBHII", 4, 0x2F, 8, 1, 226)  # EIATTR_REGCOUNT _Z1kPf 226
                + struct.pack("<BBH", 3, 0x1B, 7)  # an EIFMT_HVAL record, skipped
                + struct.pack("<BBHII", 4, 0x11, 8, 1, 0)  # EIATTR_FRAME_SIZE, skipped
                + struct.pack("<BBHII", 4, 0x2F, 8, 2, 26))
        # Section 2 is .strtab, the symbol table's sh_link.
        cubin = elf([(".strtab", 3, strings, 0), (".symtab", 2, symbols, 2),
                     (".nv.info", 0x70000000, info, 0)])
        self.assertEqual(cuda_fatbin.cubin_register_counts(cubin), {"_Z1kPf": 226, "_Z1jPf": 26})


class BuildTest(unittest.TestCase):
    def test_not_a_build_tree(self):
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaisesRegex(cuda_build.ToolError, "not a CMake build tree"):
                cuda_build.load_build(d)

    def test_build_without_cuda(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "CMakeCache.txt"), "w") as f:
                f.write(f"CMAKE_HOME_DIRECTORY:INTERNAL={REPO}\n")
            with open(os.path.join(d, "compile_commands.json"), "w") as f:
                json.dump([{"directory": d, "command": "c++ -c a.cpp -o a.o", "file": "a.cpp"}], f)
            with self.assertRaisesRegex(cuda_build.ToolError, "not a CUDA build"):
                cuda_build.load_build(d)
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr):
                self.assertEqual(kr.main(["--build-dir", d, "--check"]), 2)
            self.assertIn("not a CUDA build", stderr.getvalue())

    def test_recompile_command_and_ptxas_options(self):
        unit = cuda_build.Unit(
            "/r/kernels/cuda/a.cu", "/b/kernels",
            ["/cuda/bin/nvcc", "-forward-unknown-to-host-compiler", "-DX=1", "-O3",
             "--generate-code=arch=compute_80,code=[compute_80,sm_80]", "-Xptxas", "-O3,-v",
             "-maxrregcount=64", "-x", "cu", "-c", "/r/kernels/cuda/a.cu", "-o", "a.cu.o",
             "-MD", "-MT", "a.cu.o", "-MF", "a.cu.o.d"], "/b/kernels/a.cu.o", "/b/kernels/a.cu.o.d")
        self.assertEqual(cuda_build.ptx_command(unit, 90),
                         ["/cuda/bin/nvcc", "-forward-unknown-to-host-compiler", "-DX=1", "-O3",
                          "-Xptxas", "-O3,-v", "-maxrregcount=64", "-x", "cu",
                          "-arch=compute_90", "-ptx", "/r/kernels/cuda/a.cu", "-o"])
        self.assertEqual(cuda_build.ptxas_options(unit.arguments),
                         ["-O3", "-v", "--maxrregcount=64"])


SPILLING_ADD = """\
#include "kernels/cuda/launch.h"
// A kernel that needs ~70 registers, compiled with -maxrregcount=32.
__global__ void add_kernel(const float* x, float* y) {
  float acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) acc[i] = x[threadIdx.x * 64 + i];
#pragma unroll
  for (int k = 0; k < 8; ++k)
#pragma unroll
    for (int i = 0; i < 64; ++i) acc[i] = acc[i] * acc[(i + k) % 64] + 1.f;
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < 64; ++i) s += acc[i] * acc[63 - i];
  y[threadIdx.x] = s;
}
"""


@unittest.skipUnless(find_nvcc(), "no nvcc")
class EndToEndTest(unittest.TestCase):
    """The whole run on a one-file CUDA "build" (configured, never built, so its PTX is compiled
    again): a real spill fails --check until its source accepts it."""

    def run_check(self, source):
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "kernels/cuda"))
            build = os.path.join(root, "build")
            os.makedirs(build)
            with open(os.path.join(root, "kernels/cuda/launch.h"), "w") as f:
                f.write("#pragma once\nconstexpr int kThreads = 256;\n")
            cu = os.path.join(root, "kernels/cuda/add.cu")
            with open(cu, "w") as f:
                f.write(source)
            with open(os.path.join(build, "CMakeCache.txt"), "w") as f:
                f.write(f"CMAKE_CUDA_COMPILER:STRING={find_nvcc()}\n"
                        f"CMAKE_HOME_DIRECTORY:INTERNAL={root}\n")
            command = (f"{find_nvcc()} -I{root} -O3 -maxrregcount=32 "
                       f"--generate-code=arch=compute_90,code=[compute_90,sm_90] -x cu -c {cu} "
                       f"-o add.cu.o")
            with open(os.path.join(build, "compile_commands.json"), "w") as f:
                f.write(json.dumps([{"directory": build, "command": command, "file": cu}]))
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
                status = kr.main(["--build-dir", build, "--check"])
            return status, stderr.getvalue()

    def test_spill_fails_the_check_until_accepted(self):
        status, log = self.run_check(SPILLING_ADD)
        self.assertEqual(status, 1, log)
        self.assertIn("SPILLS: add_kernel (kernels/cuda/add.cu) spills", log)
        status, log = self.run_check(SPILLING_ADD.replace(
            "// A kernel", "// spills accepted: a test of the check\n// A kernel"))
        self.assertEqual(status, 0, log)
        self.assertIn("1 spilling (0 not accepted)", log)


if __name__ == "__main__":
    unittest.main()
