#include "common/options.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <system_error>

#include "common/chapter.hpp"

namespace common {
namespace {

// One flag: its name, whether it takes a value, and how to store it. A setter returns false when
// the value is out of range.
struct Flag {
  std::string_view name;
  std::string_view value_name;  // empty for a switch
  unsigned needs = 0;           // the ChapterFlag that enables it; 0 for every chapter
  std::string_view help;
  std::function<bool(Options&, std::string_view)> set;
  std::string_view takes = {};  // what a valid value is, for the error message
};

template <typename Int>
std::optional<Int> to_int(std::string_view text, long long min, long long max) {
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return std::nullopt;
  }
  return static_cast<Int>(value);
}

// Seconds, possibly fractional ("0.5"), from 1 ms to one day.
std::optional<std::chrono::milliseconds> to_duration(std::string_view text) {
  double seconds = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc() || end != text.data() + text.size() || !(seconds >= 0.001) ||
      seconds > 86400) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000 + 0.5));
}

template <typename T, typename Parse>
std::function<bool(Options&, std::string_view)> store(T Options::*field, Parse parse) {
  return [field, parse](Options& options, std::string_view text) {
    const auto value = parse(text);
    if (value) {
      options.*field = *value;
    }
    return value.has_value();
  };
}

const std::vector<Flag>& flags() {
  static const std::vector<Flag> kFlags = {
      {"--host", "ADDR", 0, "address to listen on (default 127.0.0.1)",
       [](Options& o, std::string_view v) {
         o.host = v;
         return !v.empty();
       },
       "an address"},
      {"--port", "N", 0, "port, 0 for any free one (default 8080)",
       store(&Options::port, [](std::string_view v) { return to_int<std::uint16_t>(v, 0, 65535); }),
       "a whole number from 0 to 65535"},
      {"--threads", "N", kThreadsFlag, "worker threads (default: the model's choice)",
       store(&Options::threads, [](std::string_view v) { return to_int<int>(v, 1, 1024); }),
       "a whole number from 1 to 1024"},
      {"--docroot", "DIR", 0, "directory served under /static/ (default: the build's www)",
       [](Options& o, std::string_view v) {
         o.docroot = v;
         return !v.empty();
       },
       "a directory"},
      {"--idle-timeout", "SECONDS", 0,
       "close a connection idle this long between requests (default 5)",
       store(&Options::idle_timeout, to_duration), "seconds, from 0.001 to 86400"},
      {"--request-timeout", "SECONDS", 0,
       "answer 408 to a request not received in this time (default 10)",
       store(&Options::request_timeout, to_duration), "seconds, from 0.001 to 86400"},
      {"--max-clients", "N", kMaxClientsFlag, "most clients served at once (default 512)",
       store(&Options::max_clients, [](std::string_view v) { return to_int<int>(v, 1, 100000); }),
       "a whole number from 1 to 100000"},
      {"--no-pin", "", kNoPinFlag, "do not pin worker threads to cores",
       [](Options& o, std::string_view) {
         o.pin = false;
         return true;
       }},
      {"--processes", "", kProcessesFlag, "run the loops in processes instead of threads",
       [](Options& o, std::string_view) {
         o.processes = true;
         return true;
       }},
      {"--grouped", "", kGroupedFlag,
       "answer cheap requests on the I/O thread, not through a stage's queue",
       [](Options& o, std::string_view) {
         o.grouped = true;
         return true;
       }},
  };
  return kFlags;
}

// Levenshtein distance, for the "did you mean" of a mistyped flag.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Why @p given (the flag @p arg) is unknown: a typo of one this chapter has, or one another model
// has.
std::string unknown_option(std::string_view given, std::string_view arg,
                           const ChapterInfo& chapter) {
  std::string error = "unknown option '" + std::string(given) + "'";
  const Flag* closest = nullptr;
  std::size_t best = 3;  // at most two edits away
  for (const Flag& flag : flags()) {
    const bool here = flag.needs == 0 || (chapter.flags & flag.needs) != 0;
    if (flag.name == arg && !here) {
      return error + " (" + std::string(chapter.name) + " has no " + std::string(arg) +
             ": another model's option)";
    }
    if (const std::size_t d = edit_distance(arg, flag.name); here && d < best) {
      best = d;
      closest = &flag;
    }
  }
  if (closest == nullptr && edit_distance(arg, "--check") < best) {
    return error + "; did you mean --check?";
  }
  return closest ? error + "; did you mean " + std::string(closest->name) + "?" : error;
}

}  // namespace

ParsedArguments parse_arguments(const std::vector<std::string_view>& args,
                                const ChapterInfo& chapter) {
  ParsedArguments result;
  Options options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      result.help = true;
      return result;
    }
    if (arg == "--check") {
      result.check = true;
      continue;
    }
    // Accept both "--port 8080" and "--port=8080".
    std::optional<std::string_view> inline_value;
    if (const std::size_t eq = arg.find('=');
        arg.starts_with("--") && eq != std::string_view::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    const Flag* flag = nullptr;
    for (const Flag& candidate : flags()) {
      if (candidate.name == arg &&
          (candidate.needs == 0 || (chapter.flags & candidate.needs) != 0)) {
        flag = &candidate;
      }
    }
    if (flag == nullptr) {
      result.error = unknown_option(args[i], arg, chapter);
      return result;
    }
    std::string_view value;
    if (!flag->value_name.empty()) {
      if (inline_value) {
        value = *inline_value;
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        result.error = "option '" + std::string(arg) + "' needs a value";
        return result;
      }
    } else if (inline_value) {
      result.error = "option '" + std::string(arg) + "' takes no value";
      return result;
    }
    if (!flag->set(options, value)) {
      result.error = "invalid value '" + std::string(value) + "' for " + std::string(arg) +
                     ": it takes " + std::string(flag->takes);
      return result;
    }
  }
  result.options = std::move(options);
  return result;
}

std::string usage(const ChapterInfo& chapter) {
  std::string text = "usage: " + std::string(chapter.name) + " [options]\n\n";
  text += std::string(chapter.summary) + "\n\noptions:\n";
  for (const Flag& flag : flags()) {
    if (flag.needs != 0 && (chapter.flags & flag.needs) == 0) {
      continue;
    }
    std::string left = "  " + std::string(flag.name);
    if (!flag.value_name.empty()) {
      left += " " + std::string(flag.value_name);
    }
    left.resize(std::max<std::size_t>(left.size() + 2, 30), ' ');
    text += left + std::string(flag.help) + "\n";
  }
  text += "  --check                     check the command line, and exit without serving\n";
  text += "  --help                      show this help and exit\n";
  return text;
}

Options parse_options(int argc, char** argv, const ChapterInfo& chapter) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  ParsedArguments parsed = parse_arguments(args, chapter);
  if (parsed.help) {
    std::fputs(usage(chapter).c_str(), stdout);
    std::exit(0);
  }
  if (!parsed.options) {
    std::fprintf(stderr, "%s: %s\n\n%s", std::string(chapter.name).c_str(), parsed.error.c_str(),
                 usage(chapter).c_str());
    std::exit(2);
  }
  if (parsed.check) {  // what `make run` asks before it prints how to try the server
    try {
      refuse_taken_port(*parsed.options);  // the address and port must be free too
    } catch (const std::system_error& e) {
      std::fprintf(
          stderr, "%s: cannot serve on port %u: %s (ss -ltnp 'sport = :%u' shows who holds it)\n",
          std::string(chapter.name).c_str(), parsed.options->port, e.what(), parsed.options->port);
      std::exit(1);
    }
    std::exit(0);
  }
  return std::move(*parsed.options);
}

std::vector<int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) {
        cpus.push_back(cpu);
      }
    }
  }
  if (cpus.empty()) {
    cpus.push_back(0);
  }
  return cpus;
}

int usable_cpu_count() {
  return static_cast<int>(usable_cpus().size());
}

}  // namespace common
