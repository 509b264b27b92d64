// cifar10: train | evaluate | predict | plot | export. Every failure ends here as ONE line on
// stderr, "cifar10: <message>", with exit status 1 (2 for a usage error, 3 when training diverged:
// apps/cifar10/divergence.h), never a core dump.
// Started by mpirun as one of N > 1 processes (apps/cifar10/distributed.h), a failing rank says
// "cifar10: rank R of N: <message>" and ends the whole job with that status (MPI_Abort), so the
// other ranks never wait for it forever. A usage error is the same on every rank (all parse the
// same arguments): rank 0 alone says it, and every rank leaves normally.
#include <omp.h>

#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "apps/cifar10/commands.h"
#include "apps/cifar10/device.h"
#include "apps/cifar10/distributed.h"
#include "apps/cifar10/divergence.h"
#include "apps/cifar10/error_line.h"
#include "apps/cifar10/options.h"
#include "base/error.h"
#include "kernels/comm.h"
#include "kernels/conv2d.h"
#include "kernels/cuda_runtime.h"

namespace {

using kiln::app::CommonOptions;
using kiln::app::UsageError;
namespace comm = kiln::kernels::comm;

int fail(const std::string& message, int status, bool same_on_every_rank = false) {
  // Readers name their format ("cifar10: data_batch_1.bin ..."); do not repeat the program's.
  // One printable line, whatever a library or a damaged file put in the message.
  const std::string line =
      kiln::app::error_line(message.rfind("cifar10: ", 0) == 0 ? message.substr(9) : message);
  std::fflush(stdout);
  const comm::World& world = comm::world();
  if (world.size == 1) {
    std::fprintf(stderr, "cifar10: %s\n", line.c_str());
    return status;
  }
  if (same_on_every_rank) {
    if (world.rank == 0) std::fprintf(stderr, "cifar10: %s\n", line.c_str());
    return status;
  }
  std::fprintf(stderr, "cifar10: rank %d of %d: %s\n", world.rank, world.size, line.c_str());
  comm::abort_job(status);
}

// --help, --device, --conv-engine, --deterministic and --threads, which every command handles the
// same way.
// Returns -1 to go on.
int apply_common(const CommonOptions& common, const std::string& usage) {
  if (common.help) {
    if (kiln::app::job_root()) std::fputs(usage.c_str(), stdout);
    return 0;
  }
  // cuda without a device: an error saying why. The choice is the first line a command prints.
  const std::string device_line = kiln::app::set_compute_device(common.device);
  if (!common.quiet && kiln::app::job_root()) std::printf("%s\n", device_line.c_str());
  if (kiln::app::compute_device() == kiln::Device::CUDA && common.conv_engine_given) {
    kiln::kernels::cuda::set_conv_engine(common.conv_engine);
  }
  // Only GPU work reads the setting, so it is set whatever the device.
  if (common.deterministic) kiln::kernels::cuda::set_deterministic(true);
  if (common.threads > 0) omp_set_num_threads(common.threads);
  return -1;
}

int dispatch(const std::string& command, const std::vector<std::string>& args) {
  using namespace kiln::app;
  if (command == "train") {
    const TrainOptions o = parse_train_options(args);
    const int early = apply_common(o.common, train_usage());
    return early >= 0 ? early : run_train(o, args);
  }
  if (command == "evaluate") {
    const EvaluateOptions o = parse_evaluate_options(args);
    const int early = apply_common(o.common, evaluate_usage());
    return early >= 0 ? early : run_evaluate(o);
  }
  if (command == "predict" || command == "plot" || command == "export") {
    if (job_size() > 1) {
      throw UsageError(command + " runs as one process (started by mpirun as one of " +
                       describe_job() + "): run it without mpirun");
    }
  }
  if (command == "predict") {
    const PredictOptions o = parse_predict_options(args);
    const int early = apply_common(o.common, predict_usage());
    return early >= 0 ? early : run_predict(o);
  }
  if (command == "plot") {
    const PlotOptions o = parse_plot_options(args);
    if (o.help) {
      std::fputs(plot_usage().c_str(), stdout);
      return 0;
    }
    return run_plot(o);
  }
  if (command == "export") {
    const ExportOptions o = parse_export_options(args);
    const int early = apply_common(o.common, export_usage());
    return early >= 0 ? early : run_export(o);
  }
  if (command == "-h" || command == "--help" || command == "help") {
    if (job_root()) std::fputs(program_usage().c_str(), stdout);
    return 0;
  }
  throw UsageError("unknown command '" + command +
                   "' (expected train, evaluate, predict, plot or export)");
}

int run_command(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kiln::app::program_usage().c_str(), stderr);
    return 2;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    return dispatch(argv[1], args);
  } catch (const UsageError& e) {
    const std::string command = argv[1];
    const bool known = command == "train" || command == "evaluate" || command == "predict" ||
                       command == "plot" || command == "export";
    return fail(std::string(e.what()) + " (see cifar10 " + (known ? command + " " : "") + "--help)",
                2, true);
  } catch (const kiln::app::TrainingDiverged& e) {
    return fail(e.what(), kiln::app::kExitDiverged);
  } catch (const kiln::Error& e) {
    return fail(e.what(), 1);
  } catch (const std::bad_alloc&) {
    return fail("out of memory", 1);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  } catch (...) {
    return fail("unexpected error", 1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Joins the job when mpirun started this process; a world of one otherwise (kernels/comm.h).
  try {
    comm::init(&argc, &argv);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
  const int status = run_command(argc, argv);
  comm::finalize();
  return status;
}
