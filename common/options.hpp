/// @file options.hpp
/// @brief The command line every chapter shares, and the description of a chapter.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace common {

/// @defgroup options Options
/// @brief What a chapter is, and the flags it accepts.
/// @{

/// Flags that only some models have; a chapter lists the ones it accepts in ChapterInfo::flags.
enum ChapterFlag : unsigned {
  kThreadsFlag = 1u << 0,     ///< --threads N
  kMaxClientsFlag = 1u << 1,  ///< --max-clients N
  kNoPinFlag = 1u << 2,       ///< --no-pin
  kProcessesFlag = 1u << 3,   ///< --processes
  kGroupedFlag = 1u << 4,     ///< --grouped
};

/// What a chapter is: printed by --help, in the log, and by GET /stats.
struct ChapterInfo {
  std::string_view name;     ///< "01-iterative"
  std::string_view model;    ///< "iterative"
  std::string_view summary;  ///< one line for --help
  unsigned flags = 0;        ///< the ChapterFlag values it accepts
};

/// The docroot used when --docroot is not given: the build's copy of common/www.
#ifdef PROGRESSIVE_DEFAULT_DOCROOT
inline constexpr std::string_view kDefaultDocroot = PROGRESSIVE_DEFAULT_DOCROOT;
#else
inline constexpr std::string_view kDefaultDocroot = "www";
#endif

/// The parsed command line.
struct Options {
  std::string host = "127.0.0.1";        ///< the address to listen on (--host)
  std::uint16_t port = 8080;             ///< 0: an ephemeral port, printed in the listening line
  int threads = 0;                       ///< 0: the model's default
  std::string docroot{kDefaultDocroot};  ///< the directory /static/ serves (--docroot)
  std::chrono::milliseconds idle_timeout{5000};      ///< between requests
  std::chrono::milliseconds request_timeout{10000};  ///< from a request's first byte to its last
  int max_clients = 512;                             ///< live children or threads, one per client
  bool pin = true;                                   ///< pin worker threads to cores
  bool processes = false;                            ///< loops in processes, not threads
  bool grouped = false;  ///< the stages on the latency path share one thread (staged model)
};

/// The outcome of parse_arguments().
struct ParsedArguments {
  std::optional<Options> options;  ///< set when the arguments were valid
  bool help = false;               ///< --help was given
  bool check = false;              ///< --check was given: validate the command line, then exit
  std::string error;               ///< why the arguments are invalid
};

/// Parses @p args (without the program name) for @p chapter. Pure: prints nothing, never exits.
[[nodiscard]] ParsedArguments parse_arguments(const std::vector<std::string_view>& args,
                                              const ChapterInfo& chapter);

/// The --help text for @p chapter.
[[nodiscard]] std::string usage(const ChapterInfo& chapter);

/// Parses main's arguments. On --help prints usage to stdout and exits 0; on a bad argument
/// prints the reason (with the closest option for a typo) and usage to stderr and exits 2; with
/// --check and valid arguments exits 0.
[[nodiscard]] Options parse_options(int argc, char** argv, const ChapterInfo& chapter);

/// The CPUs this process may run on: its affinity mask, not the machine's count, so that
/// `taskset -c 0,1` or a container's cpuset is respected. Never empty.
[[nodiscard]] std::vector<int> usable_cpus();

/// How many CPUs this process may run on: the default loop count of a model with one loop per
/// core, and the measure a pool's default size starts from.
[[nodiscard]] int usable_cpu_count();

/// @}

}  // namespace common
