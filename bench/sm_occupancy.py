"""Theoretical occupancy of a kernel on one SM: how many of its blocks can be resident at once,
and which per-SM resource runs out first.

The arithmetic is NVIDIA's own, cudaOccMaxActiveBlocksPerMultiprocessor in the toolkit's
include/cuda_occupancy.h (CUDA 13.0), for the case Kiln has: static shared memory only (no
dynamic shared memory), the default shared-memory carveout (the driver may then give the kernel
the SM's whole 228 KiB), no partitioned global caching. Every limit gives a number of blocks; the
smallest wins:
  threads    max_threads_per_sm / (warps per block * 32)
  blocks     the hardware's cap on resident blocks
  registers  each warp gets registers * 32 rounded up to the allocation unit (256: per-thread
             counts round up to a multiple of 8); each of the 4 sub-partitions holds whole warps in
             its quarter of the register file, so the SM holds 4 * floor(16384 / per-warp) warps
  shared     (static + the 1 KiB the system reserves per block) rounded up to 128 bytes, into
             the SM's 228 KiB
  barriers   2 barrier slots per resident-block slot (64 on sm_90), shared by the blocks' barriers
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class SmLimits:
    """Per-SM limits of one compute capability, as cuda_occupancy.h models them."""
    name: str
    regs_per_sm: int
    regs_per_block: int
    max_regs_per_thread: int
    reg_alloc_unit: int  # registers are given to a warp in units of this many
    sub_partitions: int  # each SM quarter has its own slice of registers and its own warps
    max_threads_per_sm: int
    max_threads_per_block: int
    max_blocks_per_sm: int
    smem_per_sm: int  # the largest carveout
    smem_per_block: int  # without opt-in; static __shared__ can never exceed it
    smem_per_block_optin: int  # dynamic shared memory after cudaFuncSetAttribute
    smem_reserved_per_block: int  # the system's share of every block, sm_80 and newer
    smem_alloc_unit: int
    barrier_slots_per_block: int  # barriers per resident-block slot
    warp_size: int = 32

    @property
    def max_warps(self):
        return self.max_threads_per_sm // self.warp_size


# sm_90 (H100 and H200 have the same SM): the CUDA C++ Programming Guide's table of limits per
# compute capability, and cuda_occupancy.h.
SM90 = SmLimits(
    name="sm_90 (H100 / H200)",
    regs_per_sm=65536, regs_per_block=65536, max_regs_per_thread=255, reg_alloc_unit=256,
    sub_partitions=4, max_threads_per_sm=2048, max_threads_per_block=1024, max_blocks_per_sm=32,
    smem_per_sm=228 * 1024, smem_per_block=48 * 1024, smem_per_block_optin=227 * 1024,
    smem_reserved_per_block=1024, smem_alloc_unit=128, barrier_slots_per_block=2)

# The limits in the order the report names them, with their names there.
LIMIT_NAMES = {"registers": "registers", "shared": "shared memory",
               "threads": "threads (2048/SM)", "blocks": "blocks (32/SM)", "barriers": "barriers"}


@dataclasses.dataclass(frozen=True)
class Occupancy:
    threads: int  # per block
    blocks: int  # resident blocks per SM
    warps: int  # resident warps per SM
    max_warps: int
    limits: dict  # limit -> the blocks per SM it alone would allow
    limited_by: tuple  # the limits equal to `blocks`, in LIMIT_NAMES order

    @property
    def percent(self):
        return 100.0 * self.warps / self.max_warps


def _round_up(x, unit):
    return (x + unit - 1) // unit * unit


def occupancy(registers, shared, threads, barriers=0, sm=SM90):
    """Occupancy of blocks of `threads` threads using `registers` registers per thread, `shared`
    bytes of static shared memory and `barriers` named barriers."""
    warps_per_block = -(-threads // sm.warp_size)
    limits = {}
    fits = threads <= sm.max_threads_per_block
    limits["threads"] = sm.max_warps // warps_per_block if fits else 0
    limits["blocks"] = sm.max_blocks_per_sm
    if registers > 0:
        per_warp = _round_up(registers * sm.warp_size, sm.reg_alloc_unit)
        # The hardware checks a block as if its warps were spread evenly over the sub-partitions.
        fits = (registers <= sm.max_regs_per_thread
                and per_warp * _round_up(warps_per_block, sm.sub_partitions) <= sm.regs_per_block
                and per_warp * warps_per_block <= sm.regs_per_block)
        warps = (sm.regs_per_sm // sm.sub_partitions) // per_warp * sm.sub_partitions
        limits["registers"] = warps // warps_per_block if fits else 0
    smem = _round_up(shared + sm.smem_reserved_per_block, sm.smem_alloc_unit)
    fits = smem <= sm.smem_per_block + sm.smem_reserved_per_block
    limits["shared"] = sm.smem_per_sm // smem if fits else 0
    if barriers > 0:
        limits["barriers"] = sm.max_blocks_per_sm * sm.barrier_slots_per_block // barriers
    blocks = min(limits.values())
    limited_by = tuple(k for k in LIMIT_NAMES if limits.get(k) == blocks)
    return Occupancy(threads, blocks, blocks * warps_per_block, sm.max_warps, limits, limited_by)


def registers_for_one_more_block(registers, shared, threads, barriers=0, sm=SM90):
    """The most registers per thread at which one more block fits, or None when registers are
    not what stops it (another limit binds first)."""
    blocks = occupancy(registers, shared, threads, barriers, sm).blocks
    for fewer in range(registers - 1, 0, -1):
        more = occupancy(fewer, shared, threads, barriers, sm)
        if more.blocks > blocks:
            return fewer
        if "registers" not in more.limited_by:
            return None
    return None
