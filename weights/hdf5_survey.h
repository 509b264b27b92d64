// The defence against HDF5 files that crash the HDF5 library itself. libhdf5 1.10 (Debian 12's)
// trusts a file's internal structures: fuzzed Keras files have segfaulted it inside H5Aread (a
// variable-length string's global-heap reference, H5T__conv_vlen -> H5HG_read). Kiln reads
// weight files users download, so such a crash must become a one-line error, not a core dump.
//
// Chosen design: before H5File::open_read hands out a file, a forked child process reads it the
// way Kiln's readers would (every group, every attribute through each of H5Group's attribute
// readers, every dataset through read_floats, small ones through read_doubles too) and exits. If
// the child is killed by a signal, fails a sanitizer check, or runs past the time limit, the file
// is refused with an error naming it; otherwise the parent reads it for real. libhdf5 is
// deterministic on the same bytes, and the parent's reads are a subset of the child's, so what
// the child survived the parent survives. Besides every listed link, the walk follows the names
// the readers open by lookup (layers, vars, model_weights, ..., and the names in layer_names and
// weight_names), which on a damaged file can reach objects that listing the group does not; and
// a link name that is empty, '.' or holds '/' is an error (H5Group::children), since opening it
// by name would reach another object than the link. Errors the child meets (kiln::Error) are not
// reported: the parent's own read reports them, with the usual messages. A child whose resident
// memory grew by more than twice the file's size plus KILN_HDF5_SURVEY_MEMORY_MB (default 512)
// refuses the file too: libhdf5 allocates and fills what a corrupt heap reference claims. The
// parent polls the child's resident memory while it waits (every 20 ms at most) and kills it past
// that allowance, so such a file costs at most the allowance plus one poll's worth of filling, not
// the gigabytes the reference claims. The walk also refuses any soft or external link, and any
// dataset stored in external or virtual files: those make HDF5 open whatever file they name as the
// parent reads, and Keras writes none. Why not the alternatives: validating heap references
// ourselves means re-implementing part of HDF5's file format for one known crash, not for the next;
// a newer libhdf5 (1.14, PyPI's) is not a Debian package here. The cost is one fork and a second
// read: about a tenth of a second for VGG16's 58 MB base (the weights stay in the page cache). Not
// thread-safe with other HDF5 use (neither is the serial library); the child touches nothing but
// the file, and leaves with _exit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "weights/hdf5.h"

namespace kiln {

// Throws kiln::Error ("<path>: damaged or hostile HDF5 file: the HDF5 library crashed (signal
// 11, SIGSEGV) reading it; nothing was loaded") when reading the file kills a child process, or
// takes longer than KILN_HDF5_SURVEY_SECONDS (default 30: VGG16 with its top, 528 MB, reads in
// a few seconds even from a cold disk). Returns normally otherwise.
// `open` opens the file without a survey (H5File::open_read_surveyed or open_image_surveyed);
// `name` is what messages call it.
// `file_bytes`: the file's size, for the memory allowance (-1: stat `name`).
void survey_hdf5_in_child(const std::string& name, const std::function<H5File()>& open,
                          std::int64_t file_bytes = -1);

}  // namespace kiln
