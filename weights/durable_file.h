// Replacing a file so that a crash, a kill -9, a full disk or a power cut at any moment leaves
// either the old complete file or the new complete one, never a mix (README, "Reliability"):
//   1. write everything into temporary_path(path) = "<path>.tmp-<pid>", beside the target (same
//      file system, so the rename below is atomic);
//   2. fsync it (its data is on disk before its name is);
//   3. rename it over `path`;
//   4. fsync the directory (the rename itself is on disk).
// commit_temporary does 2-4; the writers (write_h5_atomically, write_text_atomically) do 1 and
// remove the temporary on any failure. A process killed during 1-3 leaves its temporary behind:
// remove_stale_temporaries deletes those of processes that no longer exist, and every writer calls
// it first, so leftovers never pile up and a live writer's temporary is never touched.
#pragma once

#include <string>

namespace kiln {

std::string temporary_path(const std::string& path);  // "<path>.tmp-<this process's pid>"

// Steps 2-4. Throws kiln::Error naming `path` (and errno's reason); the temporary is then still
// there for the caller to remove, and `path` is untouched unless the rename already happened.
void commit_temporary(const std::string& tmp, const std::string& path);

// Removes every "<path>.tmp-<pid>" whose pid is not a live process; returns how many. Names with
// anything but digits after ".tmp-" are not Kiln's and are left alone.
int remove_stale_temporaries(const std::string& path);

}  // namespace kiln
