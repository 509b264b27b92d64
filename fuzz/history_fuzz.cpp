// history.csv, as a resumed run reads it back (History::load -> parse_history): the input is the
// file's text. Rows past the checkpoint's epoch are dropped, so the epoch column is compared.
#include <cstddef>
#include <cstdint>
#include <string>

#include "apps/cifar10/history.h"
#include "base/error.h"
#include "fuzz/support/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path =
      kiln::fuzz::write_scratch_file("history.csv", kiln::fuzz::as_string(data, size));
  try {
    kiln::app::History history(path);
    history.load(3);
  } catch (const kiln::Error&) {
  }
  return 0;
}
