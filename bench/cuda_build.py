"""The CUDA half of a CMake build tree, and `ptxas -v` on what it compiled, for one architecture.

A CMake build lists every compile in compile_commands.json (Kiln's CMakeLists.txt turns it on).
For each .cu it gives the nvcc command and the object it wrote. The object's fatbinary holds the
compute_<arch> PTX nvcc produced (cuda_fatbin.read_object); ptxas on that PTX, with the ptxas
options of the compile command, is the step nvcc itself ran to make the object's sm_<arch> cubin,
so its `-v` report describes the build's own code. Where the object has no such PTX (not built
yet, built for other architectures, compressed in a way cuda_fatbin cannot read), the PTX comes
from running the compile command again with `-ptx -arch=compute_<arch>` instead: the same front
end and flags, so the same PTX, without building anything.
"""
import concurrent.futures
import dataclasses
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import tempfile

import cuda_fatbin


class ToolError(Exception):
    """No report can be made here (no CUDA build, a tool missing or failing)."""


@dataclasses.dataclass
class Unit:
    """One .cu file of the build: how it was compiled and what that made."""
    source: str  # absolute path
    directory: str  # where the command runs
    arguments: list  # the nvcc command, split
    object: str  # absolute path
    depfile: str  # the object's dependency list (may not exist)
    ptx: str = ""
    cubin: bytes = None  # the build's own sm_<arch> cubin, when read from the object
    how: str = ""  # "object", or why the PTX was compiled again
    log: str = ""  # ptxas -v output


@dataclasses.dataclass
class Build:
    directory: str
    source_root: str
    nvcc: str
    architectures: str  # as the compile commands name them, e.g. "sm_80, sm_90"
    units: list


def _cache_value(cache, key):
    m = re.search(r"^" + re.escape(key) + r":[A-Z]+=(.*)$", cache, re.M)
    return m[1].strip() if m else ""


def _output(arguments):
    for i, a in enumerate(arguments):
        if a in ("-o", "--output-file") and i + 1 < len(arguments):
            return arguments[i + 1]
        if a.startswith("--output-file="):
            return a.split("=", 1)[1]
    return None


def load_build(build_dir):
    """The Build in build_dir; ToolError, saying what to do, when it is not a CUDA build."""
    build_dir = os.path.abspath(build_dir)
    cache_path = os.path.join(build_dir, "CMakeCache.txt")
    if not os.path.isfile(cache_path):
        raise ToolError(f"{build_dir} is not a CMake build tree (no CMakeCache.txt); make a CUDA "
                        f"build with: scripts/setup --build-dir {build_dir} --cuda on")
    with open(cache_path) as f:
        cache = f.read()
    commands_path = os.path.join(build_dir, "compile_commands.json")
    if not os.path.isfile(commands_path):
        raise ToolError(f"{build_dir} has no compile_commands.json (Kiln's CMakeLists.txt sets "
                        f"CMAKE_EXPORT_COMPILE_COMMANDS; reconfigure the tree)")
    with open(commands_path) as f:
        commands = json.load(f)
    units = []
    for c in commands:
        if not c["file"].endswith(".cu"):
            continue
        arguments = c.get("arguments") or shlex.split(c["command"])
        out = c.get("output") or _output(arguments)
        if out is None:
            raise ToolError(f"compile_commands.json: no -o in the command for {c['file']}")
        obj = os.path.normpath(os.path.join(c["directory"], out))
        source = os.path.normpath(os.path.join(c["directory"], c["file"]))
        units.append(Unit(source, c["directory"], arguments, obj, obj + ".d"))
    nvcc = _cache_value(cache, "CMAKE_CUDA_COMPILER")
    if not units or not nvcc:
        raise ToolError(f"{build_dir} is not a CUDA build: it compiles no .cu file (the CUDA "
                        f"backend was off: no nvcc when it was configured, or --cuda off). Make "
                        f"one with: scripts/setup --build-dir DIR --cuda on")
    root = _cache_value(cache, "CMAKE_HOME_DIRECTORY") or os.path.dirname(build_dir)
    archs = sorted({m for u in units for a in u.arguments
                    for m in re.findall(r"\b(?:sm|compute)_\d+a?\b|\bnative\b", a)})
    units.sort(key=lambda u: u.source)
    return Build(build_dir, root, nvcc, ", ".join(archs), units)


def tool(nvcc, name):
    """The toolkit program `name` beside nvcc (the build's own toolkit), else on PATH."""
    path = os.path.join(os.path.dirname(nvcc), name)
    if os.access(path, os.X_OK):
        return path
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"no {name} beside {nvcc} or on PATH")
    return found


# nvcc options naming architectures, outputs or dependency files: replaced when compiling again.
_DROP_WITH_VALUE = {"-o", "--output-file", "-gencode", "--generate-code", "-arch",
                    "--gpu-architecture", "-code", "--gpu-code", "-MT", "-MF", "-MQ",
                    "--dependency-output", "--dependency-target-name"}
_DROP = {"-c", "--compile", "-MD", "-MMD", "-MP", "-M", "--generate-dependencies",
         "--generate-nonsystem-dependencies-with-compile", "--generate-dependencies-with-compile"}


def ptx_command(unit, arch):
    """unit's compile command changed to write compute_<arch> PTX; it ends in -o, for the caller
    to append the output path."""
    args, skip = [unit.arguments[0]], False
    for a in unit.arguments[1:]:
        if skip:
            skip = False
        elif a in _DROP_WITH_VALUE:
            skip = True
        elif a in _DROP or any(a.startswith(p + "=") for p in _DROP_WITH_VALUE):
            pass
        elif os.path.normpath(os.path.join(unit.directory, a)) == unit.source:
            pass
        else:
            args.append(a)
    return args + [f"-arch=compute_{arch}", "-ptx", unit.source, "-o"]


def ptxas_options(arguments):
    """The ptxas options nvcc passes for this compile command (beyond -arch)."""
    options, it = [], iter(arguments)
    for a in it:
        if a in ("-Xptxas", "--ptxas-options"):
            options += next(it, "").split(",")
        elif a.startswith(("-Xptxas=", "--ptxas-options=")):
            options += a.split("=", 1)[1].split(",")
        elif a in ("-maxrregcount", "--maxrregcount"):
            options.append(f"--maxrregcount={next(it, '')}")
        elif a.startswith(("-maxrregcount=", "--maxrregcount=")):
            options.append("--maxrregcount=" + a.split("=", 1)[1])
        elif a in ("-G", "--device-debug"):
            options.append("--device-debug")
    return [o for o in options if o]


def _run_unit(unit, arch, ptxas, from_source, scratch):
    if from_source:
        unit.how = "compiled again (--from-source)"
    elif not os.path.isfile(unit.object):
        unit.how = "compiled again: not built"
    else:
        try:
            ptx, cubin, why = cuda_fatbin.read_object(unit.object, arch)
        except (cuda_fatbin.FatbinError, struct.error, ValueError) as e:
            ptx, cubin, why = None, None, f"could not be read ({e})"
        if ptx is None:
            unit.how = f"compiled again: the object {why}"
        else:
            unit.ptx, unit.cubin, unit.how = ptx, cubin, "object"
    stem = os.path.join(scratch, re.sub(r"\W", "_", os.path.relpath(unit.object, "/")))
    if not unit.ptx:
        done = subprocess.run(ptx_command(unit, arch) + [stem + ".ptx"], cwd=unit.directory,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise ToolError(f"nvcc -ptx failed for {unit.source}:\n{done.stderr}")
        with open(stem + ".ptx") as f:
            unit.ptx = f.read()
    if ".entry" not in unit.ptx:
        return  # no kernel in this file
    with open(stem + ".ptx", "w") as f:
        f.write(unit.ptx)
    done = subprocess.run([ptxas, f"-arch=sm_{arch}", "-v", *ptxas_options(unit.arguments),
                           stem + ".ptx", "-o", stem + ".cubin"], capture_output=True, text=True)
    if done.returncode != 0:
        raise ToolError(f"ptxas failed for {unit.source}:\n{done.stderr}")
    unit.log = done.stdout + done.stderr


def run_ptxas(build, arch, from_source=False, jobs=None):
    """Fills every unit's ptx, cubin, how and log, `jobs` units at a time."""
    ptxas = tool(build.nvcc, "ptxas")
    with tempfile.TemporaryDirectory(prefix="kernel-resources-") as scratch:
        with concurrent.futures.ThreadPoolExecutor(jobs or os.cpu_count() or 1) as pool:
            futures = [pool.submit(_run_unit, u, arch, ptxas, from_source, scratch)
                       for u in build.units]
            for f in futures:
                f.result()


def unit_sources(unit, root):
    """{path relative to root: text} of the files under root the unit was compiled from: its
    depfile's list when there is one, else the .cu and the headers beside it."""
    paths = []
    if os.path.isfile(unit.depfile):
        with open(unit.depfile) as f:
            tokens = f.read().replace("\\\n", " ").split()
        paths = [t for t in tokens[1:] if not t.endswith(":")]
    if not paths:
        folder = os.path.dirname(unit.source)
        paths = [os.path.join(folder, n) for n in sorted(os.listdir(folder))
                 if n.endswith((".cuh", ".h"))]
    files = {}
    for p in [unit.source] + paths:
        p = os.path.normpath(p)
        if p.startswith(root + os.sep) and os.path.isfile(p):
            with open(p, errors="replace") as f:
                files[os.path.relpath(p, root)] = f.read()
    return files


def stale_sources(unit, root, sources):
    """The files of `sources` (relative to root) changed after the unit's object was built."""
    if unit.how != "object":
        return []
    built = os.path.getmtime(unit.object)
    return [p for p in sources if os.path.getmtime(os.path.join(root, p)) > built]
