// history.csv: one row per finished epoch, as Keras' CSVLogger writes it (plus timings):
//   epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds,images_per_second
// `seconds` is the epoch's wall time, validation included; images_per_second counts training
// images over the training phase only. The whole file is rewritten atomically after each epoch,
// so it is always complete; a resumed run first drops rows past its checkpoint's epoch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::app {

struct EpochRecord {
  std::int64_t epoch = 0;  // 1-based
  double loss = 0, accuracy = 0, val_loss = 0, val_accuracy = 0;
  double learning_rate = 0, seconds = 0, images_per_second = 0;
};

extern const char* const kHistoryHeader;

std::string format_history(const std::vector<EpochRecord>& rows);
// Rows of a history file; throws kiln::Error naming the file on a malformed row.
std::vector<EpochRecord> parse_history(const std::string& text, const std::string& path);

class History {
 public:
  explicit History(std::string path) : path_(std::move(path)) {}

  // Resume: reads the existing file (if any) and keeps the rows up to `last_epoch`.
  void load(std::int64_t last_epoch);
  // Adds a row and rewrites the file.
  void append(const EpochRecord& row);
  const std::vector<EpochRecord>& rows() const { return rows_; }

 private:
  std::string path_;
  std::vector<EpochRecord> rows_;
};

}  // namespace kiln::app
