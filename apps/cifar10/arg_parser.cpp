#include "apps/cifar10/arg_parser.h"

#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <utility>

namespace kiln::app {

ArgParser::ArgParser(std::string usage_line, std::string intro, std::string outro)
    : usage_line_(std::move(usage_line)), intro_(std::move(intro)), outro_(std::move(outro)) {}

void ArgParser::option(std::string name, std::string metavar, std::string help,
                       std::function<void(const std::string&)> set, bool record) {
  specs_.push_back({std::move(name), std::move(metavar), std::move(help), std::move(set), record});
}

void ArgParser::flag(std::string name, std::string help, std::function<void()> set, bool record) {
  option(
      std::move(name), "", std::move(help), [set = std::move(set)](const std::string&) { set(); },
      record);
}

const OptionSpec* ArgParser::find(const std::string& name) const {
  for (const OptionSpec& s : specs_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::vector<std::string> ArgParser::parse(const std::vector<std::string>& args, bool& help) const {
  std::vector<std::string> positional;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      help = true;
      return positional;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    const std::size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    const OptionSpec* spec = find(name);
    if (spec == nullptr) throw UsageError("unknown option '" + name + "'");
    if (spec->metavar.empty()) {
      if (eq != std::string::npos) throw UsageError(name + " takes no value");
      spec->set("");
    } else if (eq != std::string::npos) {
      spec->set(arg.substr(eq + 1));
    } else {
      if (i + 1 >= args.size()) throw UsageError(name + " needs a value (" + spec->metavar + ")");
      spec->set(args[++i]);
    }
  }
  return positional;
}

std::string ArgParser::usage() const {
  std::ostringstream out;
  out << "usage: " << usage_line_ << "\n\n" << intro_ << "\n\noptions:\n";
  for (const OptionSpec& s : specs_) {
    out << help_entry(s.name + (s.metavar.empty() ? "" : " " + s.metavar), s.help);
  }
  out << help_entry("-h, --help", "show this help");
  if (!outro_.empty()) out << "\n" << outro_ << "\n";
  return out.str();
}

std::string ArgParser::help_entry(const std::string& left, const std::string& help) {
  constexpr std::size_t kColumn = 26, kWidth = 100;
  std::string out = "  " + left;
  out += out.size() < kColumn ? std::string(kColumn - out.size(), ' ')
                              : "\n" + std::string(kColumn, ' ');
  std::size_t col = kColumn;
  std::istringstream words(help);
  std::string word;
  bool first = true;
  while (words >> word) {
    if (!first && col + 1 + word.size() > kWidth) {
      out += "\n" + std::string(kColumn, ' ');
      col = kColumn;
      first = true;
    }
    if (!first) {
      out += ' ';
      ++col;
    }
    out += word;
    col += word.size();
    first = false;
  }
  return out + "\n";
}

std::int64_t parse_int(const std::string& name, const std::string& text, std::int64_t min) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < min) {
    throw UsageError(name + ": expected an integer >= " + std::to_string(min) + ", got '" + text +
                     "'");
  }
  return v;
}

double parse_double(const std::string& name, const std::string& text, double lo, double hi,
                    bool hi_open) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  const bool in_range = v >= lo && (hi_open ? v < hi : v <= hi);
  if (text.empty() || *end != '\0' || errno != 0 || !in_range) {
    std::ostringstream msg;
    msg << name << ": expected a number in [" << lo << ", " << hi << (hi_open ? ")" : "]")
        << ", got '" << text << "'";
    throw UsageError(msg.str());
  }
  return v;
}

}  // namespace kiln::app
