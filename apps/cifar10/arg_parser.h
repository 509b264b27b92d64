// The command-line parser behind cifar10's subcommands, apart from their option tables
// (apps/cifar10/options.cpp): every option is "--name VALUE" or "--name=VALUE" (flags take no
// value); anything else that starts with "-" is a usage error naming it; "-h"/"--help" stops the
// parse. The usage text is generated from the same table that parses, so the two cannot
// disagree.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::app {

// A mistake on the command line: main prints it and exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One option: its name ("--epochs"), the name of its value ("" for a flag), its help line, and
// what it sets. `record`: replayed by --resume (see recordable_train_args).
struct OptionSpec {
  std::string name, metavar, help;
  std::function<void(const std::string&)> set;
  bool record = true;
};

class ArgParser {
 public:
  ArgParser(std::string usage_line, std::string intro, std::string outro = "");

  void option(std::string name, std::string metavar, std::string help,
              std::function<void(const std::string&)> set, bool record = true);
  void flag(std::string name, std::string help, std::function<void()> set, bool record = true);

  const OptionSpec* find(const std::string& name) const;  // nullptr when there is none

  // Applies the options; returns the positional arguments. Stops at --help (help = true).
  std::vector<std::string> parse(const std::vector<std::string>& args, bool& help) const;

  std::string usage() const;

  // "  --name VALUE   help", the help wrapped at 100 columns under its own column.
  static std::string help_entry(const std::string& left, const std::string& help);

 private:
  std::string usage_line_, intro_, outro_;
  std::vector<OptionSpec> specs_;
};

// An integer >= min, or a UsageError naming the option and the text.
std::int64_t parse_int(const std::string& name, const std::string& text, std::int64_t min);
// A number in [lo, hi] (hi_open: [lo, hi)), or a UsageError naming the option and the range.
double parse_double(const std::string& name, const std::string& text, double lo, double hi,
                    bool hi_open = false);

}  // namespace kiln::app
