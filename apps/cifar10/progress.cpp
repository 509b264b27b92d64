#include "apps/cifar10/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace kiln::app {

ProgressStyle default_progress_style(bool quiet) {
  if (quiet) return ProgressStyle::Quiet;
  return ::isatty(STDOUT_FILENO) ? ProgressStyle::Bar : ProgressStyle::Lines;
}

std::string format_duration(double seconds) {
  const long s = seconds < 0 ? 0 : std::lround(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

void Progress::start_epoch(std::int64_t epoch, std::int64_t epochs, std::int64_t batches) {
  epoch_ = epoch;
  epochs_ = epochs;
  batches_ = batches;
  start_ = last_print_ = Clock::now();
}

void Progress::update(std::int64_t batches_done, std::int64_t images_done, double loss,
                      double accuracy) {
  if (style_ == ProgressStyle::Quiet) return;
  const Clock::time_point now = Clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double since_print = std::chrono::duration<double>(now - last_print_).count();
  const bool last = batches_done == batches_;
  if (style_ == ProgressStyle::Lines && (since_print < 30 || last)) return;
  if (style_ == ProgressStyle::Bar && since_print < 0.1 && !last) return;
  last_print_ = now;
  const double rate = elapsed > 0 ? images_done / elapsed : 0;
  const double eta = batches_done > 0 ? elapsed * (batches_ - batches_done) / batches_done : 0;
  char stats[160];
  std::snprintf(stats, sizeof stats, "loss %.4f acc %.4f  %.1f img/s  ETA %s", loss, accuracy, rate,
                format_duration(eta).c_str());
  if (style_ == ProgressStyle::Lines) {
    std::printf("epoch %lld/%lld  batch %lld/%lld  %s\n", static_cast<long long>(epoch_),
                static_cast<long long>(epochs_), static_cast<long long>(batches_done),
                static_cast<long long>(batches_), stats);
  } else {
    constexpr int kWidth = 30;
    const int filled = batches_ > 0 ? static_cast<int>(kWidth * batches_done / batches_) : kWidth;
    std::string bar(static_cast<std::size_t>(kWidth), '.');
    for (int i = 0; i < filled; ++i) bar[static_cast<std::size_t>(i)] = '=';
    if (filled < kWidth) bar[static_cast<std::size_t>(filled)] = '>';
    std::printf("\r\033[Kepoch %lld/%lld [%s] %lld/%lld %s", static_cast<long long>(epoch_),
                static_cast<long long>(epochs_), bar.c_str(), static_cast<long long>(batches_done),
                static_cast<long long>(batches_), stats);
    bar_open_ = true;
  }
  std::fflush(stdout);
}

void Progress::end_epoch(const std::string& summary) {
  if (style_ == ProgressStyle::Quiet) return;
  if (bar_open_) std::printf("\r\033[K");
  bar_open_ = false;
  std::printf("%s\n", summary.c_str());
  std::fflush(stdout);
}

void Progress::message(const std::string& line) {
  if (style_ == ProgressStyle::Quiet) return;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

}  // namespace kiln::app
