// cifar10 plot: redraws the training picture from a history file.
#include <cstdio>
#include <filesystem>
#include <string>

#include "apps/cifar10/commands.h"
#include "apps/cifar10/history.h"
#include "apps/cifar10/pictures.h"
#include "apps/cifar10/text_file.h"

namespace kiln::app {

int run_plot(const PlotOptions& o) {
  const std::vector<EpochRecord> rows = parse_history_columns(read_text_file(o.history), o.history);
  const std::filesystem::path history(o.history);
  const std::string prefix = o.out.empty() ? (history.parent_path() / "training").string() : o.out;
  TrainingFacts facts;
  facts.title = o.title.empty() ? history.filename().string() : o.title;
  for (const std::string& path : write_training_pictures(prefix, rows, facts)) {
    std::printf("wrote %s\n", path.c_str());
  }
  return 0;
}

}  // namespace kiln::app
