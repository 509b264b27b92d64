// The command-line parser: the input is argv after the program's name, split at NUL bytes; the
// first argument picks the subcommand as main does (train, evaluate, predict, else train).
// A mistake must be a UsageError (main prints it and exits with 2) or a kiln::Error.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "apps/cifar10/options.h"
#include "base/error.h"
#include "fuzz/support/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args;
  const std::string in = kiln::fuzz::as_string(data, size);
  for (std::size_t start = 0; start <= in.size();) {
    const std::size_t end = std::min(in.find('\0', start), in.size());
    args.push_back(in.substr(start, end - start));
    start = end + 1;
  }
  const std::string command = args.front();
  args.erase(args.begin());
  try {
    if (command == "evaluate") {
      kiln::app::parse_evaluate_options(args);
    } else if (command == "predict") {
      kiln::app::parse_predict_options(args);
    } else {
      kiln::app::parse_train_options(args);
      kiln::app::recordable_train_args(args);  // what --resume records and replays
    }
  } catch (const kiln::app::UsageError&) {
  } catch (const kiln::Error&) {
  }
  return 0;
}
