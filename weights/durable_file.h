// Replacing a file so that a crash, a kill -9, a full disk or a power cut at any moment leaves
// either the old complete file or the new complete one, never a mix (README, "Reliability"):
//   1. write everything into temporary_path(path) = "<path>.tmp-<pid>", beside the target (same
//      file system, so the rename below is atomic);
//   2. fsync it (its data is on disk before its name is);
//   3. rename it over `path`;
//   4. fsync the directory (the rename itself is on disk).
// Every file cifar10 writes goes through write_file_atomically: HDF5 files are built in memory
// first (write_h5_atomically), text files are strings. A process killed during 1-3 leaves its
// temporary behind: remove_stale_temporaries deletes those of processes that no longer exist,
// and write_file_atomically calls it first, so leftovers never pile up and a live writer's
// temporary is never touched.
//
// NOTE: "no longer exist" is judged on this machine: two machines must not write into one
// shared output folder at once.
#pragma once

#include <cstddef>
#include <string>

namespace kiln {

std::string temporary_path(const std::string& path);  // "<path>.tmp-<this process's pid>"

// Steps 1-4. Throws kiln::Error "<path>: cannot save: <reason>" (the system's, e.g. "No space
// left on device" or "File too large"); the temporary is then removed and `path` is untouched,
// unless only the final fsync of the directory failed (the message says so).
void write_file_atomically(const std::string& path, const void* data, std::size_t size);

// Removes every "<path>.tmp-<pid>" whose pid is not a live process; returns how many. Names with
// anything but digits after ".tmp-" are not Kiln's and are left alone.
int remove_stale_temporaries(const std::string& path);

}  // namespace kiln
