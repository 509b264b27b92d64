#include "apps/cifar10/history.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "apps/cifar10/text_file.h"
#include "core/error.h"

namespace kiln::app {

const char* const kHistoryHeader =
    "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds,images_per_second";

std::string format_history_row(const EpochRecord& r) {
  char line[512];
  std::snprintf(line, sizeof line, "%lld,%.6f,%.6f,%.6f,%.6f,%.6g,%.3f,%.2f",
                static_cast<long long>(r.epoch), r.loss, r.accuracy, r.val_loss, r.val_accuracy,
                r.learning_rate, r.seconds, r.images_per_second);
  return line;
}

std::string format_history(const std::vector<EpochRecord>& rows) {
  std::string out = std::string(kHistoryHeader) + "\n";
  for (const EpochRecord& r : rows) out += format_history_row(r) + "\n";
  return out;
}

std::vector<EpochRecord> parse_history(const std::string& text, const std::string& path) {
  std::vector<EpochRecord> rows;
  std::istringstream in(text);
  std::string line;
  std::int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line.rfind("epoch", 0) == 0) continue;  // blank or header
    std::vector<double> v;
    std::istringstream fields(line);
    std::string field;
    while (std::getline(fields, field, ',')) {
      char* end = nullptr;
      v.push_back(std::strtod(field.c_str(), &end));
      KILN_CHECK(!field.empty() && *end == '\0', path, ": line ", line_no, ": '", field,
                 "' is not a number");
    }
    KILN_CHECK(v.size() == 8, path, ": line ", line_no, " has ", v.size(), " fields, expected 8");
    // Checked before the cast: converting 1e300 or nan to an integer is undefined behaviour.
    KILN_CHECK(v[0] >= 0 && v[0] <= 1e15 && v[0] == std::floor(v[0]), path, ": line ", line_no,
               ": epoch ", v[0], " is not a whole number of epochs");
    rows.push_back({static_cast<std::int64_t>(v[0]), v[1], v[2], v[3], v[4], v[5], v[6], v[7]});
  }
  return rows;
}

void History::load(std::int64_t last_epoch, const std::string& checkpoint_row) {
  rows_.clear();
  std::error_code ec;
  if (std::filesystem::exists(path_, ec)) {
    for (const EpochRecord& r : parse_history(read_text_file(path_), path_)) {
      if (r.epoch <= last_epoch) rows_.push_back(r);
    }
  }
  if ((rows_.empty() || rows_.back().epoch < last_epoch) && !checkpoint_row.empty()) {
    const std::vector<EpochRecord> row = parse_history(checkpoint_row, path_ + " (checkpoint row)");
    if (row.size() == 1 && row[0].epoch == last_epoch) {
      rows_.push_back(row[0]);
      if (writes_) write_text_atomically(path_, format_history(rows_));
    }
  }
}

void History::append(const EpochRecord& row) {
  rows_.push_back(row);
  if (writes_) write_text_atomically(path_, format_history(rows_));
}

}  // namespace kiln::app
