// The subcommands of cifar10. Each takes its parsed options (and train the raw arguments, which
// its checkpoints record for --resume), returns the exit status, and throws kiln::Error (or
// UsageError) on failure; main turns those into one line on stderr.
#pragma once

#include <string>
#include <vector>

#include "apps/cifar10/options.h"

namespace kiln::app {

int run_train(const TrainOptions& options, const std::vector<std::string>& args);
int run_evaluate(const EvaluateOptions& options);
int run_predict(const PredictOptions& options);
int run_plot(const PlotOptions& options);
int run_export(const ExportOptions& options);

}  // namespace kiln::app
