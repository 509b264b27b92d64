// history.csv: one row per finished epoch, as Keras' CSVLogger writes it (plus timings):
//   epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds,images_per_second
// `seconds` is the epoch's wall time, validation included; images_per_second counts training
// images over the training phase only. The whole file is rewritten atomically after each epoch,
// so it is always complete. It is written after the epoch's checkpoint, which keeps the epoch's
// row too: a resumed run drops rows past its checkpoint's epoch and restores that epoch's row
// when a kill or a failed write left it out.
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
std::string format_history_row(const EpochRecord& row);  // one line, no newline
// Rows of a history file; throws kiln::Error naming the file on a malformed row.
std::vector<EpochRecord> parse_history(const std::string& text, const std::string& path);
// Rows of any CSV history with a header naming its columns, in any order: Kiln's, or Keras'
// CSVLogger (epoch,accuracy,loss,val_accuracy,val_loss[,learning_rate]; `acc`/`lr` in Keras 1-2).
// Missing columns read as NaN; `epoch` and `loss` or `accuracy` are required. Epochs counted
// from 0 (CSVLogger's) are shifted to count from 1, as Keras' progress bar and Kiln count them.
// Throws kiln::Error naming the file and line on anything else (an empty file included).
std::vector<EpochRecord> parse_history_columns(const std::string& text, const std::string& path);

class History {
 public:
  // writes false: keeps the rows but never touches the file (the ranks of a data-parallel job
  // other than rank 0).
  explicit History(std::string path, bool writes = true)
      : path_(std::move(path)), writes_(writes) {}

  // Resume: reads the existing file (if any) and keeps the rows up to `last_epoch`. When the
  // file has no row `last_epoch`, `checkpoint_row` (format_history_row's, "" when none) is that
  // row, and the file is rewritten with it.
  void load(std::int64_t last_epoch, const std::string& checkpoint_row = "");
  // Adds a row and rewrites the file.
  void append(const EpochRecord& row);
  const std::vector<EpochRecord>& rows() const { return rows_; }

 private:
  std::string path_;
  bool writes_;
  std::vector<EpochRecord> rows_;
};

}  // namespace kiln::app
