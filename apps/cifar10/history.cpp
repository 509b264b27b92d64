#include "apps/cifar10/history.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "apps/cifar10/text_file.h"
#include "base/error.h"

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

std::vector<EpochRecord> parse_history_columns(const std::string& text, const std::string& path) {
  std::istringstream in(text);
  std::string line;
  std::int64_t line_no = 0;
  while (line.empty() && std::getline(in, line)) ++line_no;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a BOM (a CSV saved by Excel)
  KILN_CHECK(!line.empty(), path, ": empty; expected a CSV history with a header line");
  // Each column's slot in EpochRecord's fields (-1: a column Kiln does not draw).
  const std::vector<std::pair<std::string, int>> known = {
      {"epoch", 0},    {"loss", 1},         {"accuracy", 2},         {"acc", 2},
      {"val_loss", 3}, {"val_accuracy", 4}, {"val_acc", 4},          {"learning_rate", 5},
      {"lr", 5},       {"seconds", 6},      {"images_per_second", 7}};
  std::vector<int> slot;
  std::vector<bool> seen(8, false);
  std::istringstream header(line);
  std::string name;
  while (std::getline(header, name, ',')) {
    int s = -1;
    for (const auto& [k, v] : known) {
      if (k == name) s = v;
    }
    if (s >= 0) seen[static_cast<std::size_t>(s)] = true;
    slot.push_back(s);
  }
  KILN_CHECK(seen[0] && (seen[1] || seen[2]), path, ": line ", line_no, ": the header '", line,
             "' names no epoch column and no loss or accuracy column");
  std::vector<EpochRecord> rows;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    double v[8];
    for (double& x : v) x = std::nan("");
    std::istringstream fields(line);
    std::string field;
    std::size_t column = 0;
    while (std::getline(fields, field, ',')) {
      KILN_CHECK(column < slot.size(), path, ": line ", line_no, " has more fields than the ",
                 slot.size(), " the header names");
      char* end = nullptr;
      // An empty cell or "NA" (CSVLogger's for a metric an epoch lacks) is a missing value.
      const bool missing = field.empty() || field == "NA";
      const double x = missing ? std::nan("") : std::strtod(field.c_str(), &end);
      KILN_CHECK(missing || *end == '\0', path, ": line ", line_no, ": '", field,
                 "' is not a number");
      if (slot[column] >= 0) v[slot[column]] = x;
      ++column;
    }
    if (line.back() == ',') ++column;  // a last empty cell, which getline does not hand out
    KILN_CHECK(column == slot.size(), path, ": line ", line_no, " has ", column,
               " fields, the header names ", slot.size());
    KILN_CHECK(v[0] >= 0 && v[0] <= 1e15 && v[0] == std::floor(v[0]), path, ": line ", line_no,
               ": epoch ", v[0], " is not a whole number of epochs");
    rows.push_back({static_cast<std::int64_t>(v[0]), v[1], v[2], v[3], v[4], v[5], v[6], v[7]});
  }
  KILN_CHECK(!rows.empty(), path, ": no epochs after the header");
  if (rows.front().epoch == 0) {
    for (EpochRecord& r : rows) ++r.epoch;
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
