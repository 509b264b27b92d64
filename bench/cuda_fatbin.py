"""Reads the device code nvcc embeds in a host object file, without cuobjdump.

A CUDA object (an x86-64 ELF .o) carries one fatbinary in its .nv_fatbin section: one or more
fat headers, each followed by entries, each entry one PTX text (kind 1) or one cubin (kind 2, an
ELF of SASS) for one architecture. CUDA 13.0 compresses the PTX entries with zstd (flag 0x8000;
decompressed with the zstd program) and leaves cubins as they are; other toolkits may use raw LZ4
blocks (flag 0x2000), which this module does not decode: it reports them as unreadable, and the
caller compiles the source again instead.

NVIDIA does not document the layout; this is the one open-source fatbin readers use, checked
against what CUDA 13.0 writes. Little-endian, entries 8-byte aligned:
    fat header:  u32 magic 0xBA55ED50, u16 version, u16 header size, u64 size of the entries
    entry:       u16 kind, u16 version, u32 header size, u64 payload size, u32 compressed size,
                 u32 -, u16 minor, u16 major, u32 arch (90 = sm_90 / compute_90), u32 -, u32 -,
                 u64 flags, u64 -, u64 uncompressed size; then the payload
"""
import shutil
import struct
import subprocess

FATBIN_MAGIC = 0xBA55ED50
KIND_PTX, KIND_CUBIN = 1, 2
FLAG_LZ4, FLAG_ZSTD = 0x2000, 0x8000
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
EIATTR_REGCOUNT = 0x2F  # .nv.info attribute: (symbol index, registers per thread)
EIFMT_SVAL = 4  # .nv.info record with a u16 size and a body


class FatbinError(Exception):
    pass


def elf_sections(data):
    """[(name, header, bytes)] of a little-endian ELF64 file's sections, in section-index order.

    header is (sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, ...)."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise FatbinError("not a little-endian ELF64 file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = data[headers[shstrndx][4]:headers[shstrndx][4] + headers[shstrndx][5]]
    return [(_string(names, h[0]), h, data[h[4]:h[4] + h[5]]) for h in headers]


def _string(table, offset):
    return table[offset:table.index(b"\0", offset)].decode()


def fatbin_entries(fatbin):
    """Yields (kind, arch, flags, payload) for every entry of a .nv_fatbin section."""
    pos = 0
    while pos + 16 <= len(fatbin):
        magic, _, header_size, size = struct.unpack_from("<IHHQ", fatbin, pos)
        if magic != FATBIN_MAGIC:
            if any(fatbin[pos:pos + 16]):
                raise FatbinError(f"bad fatbin magic 0x{magic:08x} at offset {pos}")
            break  # zero padding after the last fat header
        entry, end = pos + header_size, pos + header_size + size
        while entry < end:
            kind, _, entry_header_size, payload_size = struct.unpack_from("<HHIQ", fatbin, entry)
            compressed_size, _, _, _, arch = struct.unpack_from("<IIHHI", fatbin, entry + 16)
            flags = 0
            if entry_header_size >= 48:
                flags = struct.unpack_from("<Q", fatbin, entry + 40)[0]
            start = entry + entry_header_size
            compressed = flags & (FLAG_LZ4 | FLAG_ZSTD) and compressed_size
            stored = compressed_size if compressed else payload_size  # the rest is padding
            yield kind, arch, flags, fatbin[start:start + stored]
            entry = start + payload_size
        pos = (end + 7) & ~7


def _payload(flags, payload):
    """The entry's bytes, decompressed; None with a reason when this module cannot."""
    if flags & FLAG_ZSTD or payload[:4] == ZSTD_MAGIC:
        zstd = shutil.which("zstd")
        if zstd is None:
            return None, "its device code is zstd-compressed and no zstd program is installed"
        done = subprocess.run([zstd, "-dcq"], input=payload, capture_output=True)
        if done.returncode != 0:
            return None, f"zstd could not decompress it: {done.stderr.decode().strip()}"
        return done.stdout, None
    if flags & FLAG_LZ4:
        return None, "its device code is LZ4-compressed, which this script cannot read"
    return payload, None


def read_object(path, arch):
    """(ptx text or None, cubin bytes or None, reason) for `arch` (e.g. 90) in an object file.

    reason says why the PTX is missing (no fatbin, no compute_<arch> entry, unreadable)."""
    with open(path, "rb") as f:
        data = f.read()
    fatbins = [body for name, _, body in elf_sections(data) if name == ".nv_fatbin"]
    if not fatbins:
        return None, None, "it holds no device code (no .nv_fatbin section)"
    ptx = cubin = None
    reason = f"it holds no compute_{arch} PTX"
    for kind, entry_arch, flags, payload in fatbin_entries(fatbins[0]):
        if entry_arch != arch:
            continue
        body, why = _payload(flags, payload)
        if kind == KIND_PTX:
            if body is None:
                reason = why
            else:
                ptx = body.rstrip(b"\0").decode()
        elif kind == KIND_CUBIN and body is not None:
            cubin = body
    return ptx, cubin, None if ptx is not None else reason


def cubin_register_counts(cubin):
    """{mangled kernel: registers per thread} from a cubin's .nv.info records (EIATTR_REGCOUNT)."""
    sections = elf_sections(cubin)
    symtab = next((s for s in sections if s[0] == ".symtab"), None)
    info = next((s[2] for s in sections if s[0] == ".nv.info"), b"")
    if symtab is None:
        raise FatbinError("cubin without a .symtab")
    strings = sections[symtab[1][6]][2]  # sh_link: the symbol names' string table
    symbols = [_string(strings, struct.unpack_from("<I", symtab[2], i * 24)[0])
               for i in range(len(symtab[2]) // 24)]
    counts = {}
    pos = 0
    while pos + 2 <= len(info):
        fmt, attr = info[pos], info[pos + 1]
        if fmt == EIFMT_SVAL:
            size = struct.unpack_from("<H", info, pos + 2)[0]
            if attr == EIATTR_REGCOUNT and size >= 8:
                symbol, value = struct.unpack_from("<II", info, pos + 4)
                counts[symbols[symbol]] = value
            pos += 4 + size
        elif fmt == 3:  # EIFMT_HVAL: a u16 value
            pos += 4
        elif fmt == 2:  # EIFMT_BVAL: a u8 value
            pos += 3
        else:  # EIFMT_NVAL: no value
            pos += 2
    return counts
