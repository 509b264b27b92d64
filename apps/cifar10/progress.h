// Training progress on stdout. On a terminal (isatty): one bar per epoch, redrawn in place, with
// running loss and accuracy, images/s and the epoch's ETA. Otherwise (a log file, a pipe): plain
// lines, one at most every 30 s within an epoch, so logs stay short. --quiet: nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace kiln::app {

enum class ProgressStyle { Bar, Lines, Quiet };

// Bar when stdout is a terminal, else Lines; Quiet when quiet.
ProgressStyle default_progress_style(bool quiet);

// "1:05", "1:02:03".
std::string format_duration(double seconds);

class Progress {
 public:
  explicit Progress(ProgressStyle style) : style_(style) {}

  void start_epoch(std::int64_t epoch, std::int64_t epochs, std::int64_t batches);
  // After each batch: batches and images done so far this epoch, running mean loss and accuracy.
  void update(std::int64_t batches_done, std::int64_t images_done, double loss, double accuracy);
  // Ends the bar (if any) and prints the epoch's summary line (unless quiet).
  void end_epoch(const std::string& summary);
  // A line of its own, between epochs (unless quiet).
  void message(const std::string& line);

 private:
  using Clock = std::chrono::steady_clock;
  ProgressStyle style_;
  std::int64_t epoch_ = 0, epochs_ = 0, batches_ = 0;
  Clock::time_point start_, last_print_;
  bool bar_open_ = false;
};

}  // namespace kiln::app
