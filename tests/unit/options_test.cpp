#include "common/options.hpp"

#include <gtest/gtest.h>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::chrono_literals;

constexpr common::ChapterInfo kPlain{"01-plain", "iterative", "one client at a time", 0};
constexpr common::ChapterInfo kEverything{
    "99-everything", "everything", "every optional flag",
    common::kThreadsFlag | common::kMaxClientsFlag | common::kNoPinFlag | common::kProcessesFlag};

common::ParsedArguments parse(std::vector<std::string_view> args,
                              const common::ChapterInfo& chapter = kPlain) {
  return common::parse_arguments(args, chapter);
}

// The options of a valid command line (a failure if it is not valid).
common::Options valid(std::vector<std::string_view> args,
                      const common::ChapterInfo& chapter = kPlain) {
  common::ParsedArguments parsed = parse(std::move(args), chapter);
  EXPECT_TRUE(parsed.options.has_value()) << parsed.error;
  EXPECT_EQ(parsed.error, "");
  EXPECT_FALSE(parsed.help);
  return parsed.options.value_or(common::Options{});
}

// The error of an invalid command line (a failure if it is valid).
std::string invalid(std::vector<std::string_view> args,
                    const common::ChapterInfo& chapter = kPlain) {
  const common::ParsedArguments parsed = parse(std::move(args), chapter);
  EXPECT_FALSE(parsed.options.has_value());
  EXPECT_FALSE(parsed.help);
  EXPECT_NE(parsed.error, "");
  return parsed.error;
}

TEST(ParseArguments, Defaults) {
  const common::Options options = valid({});
  EXPECT_EQ(options.host, "127.0.0.1");
  EXPECT_EQ(options.port, 8080);
  EXPECT_EQ(options.threads, 0);
  EXPECT_EQ(options.docroot, std::string(common::kDefaultDocroot));
  EXPECT_EQ(options.idle_timeout, 5000ms);
  EXPECT_EQ(options.request_timeout, 10000ms);
  EXPECT_EQ(options.max_clients, 512);
  EXPECT_TRUE(options.pin);
  EXPECT_FALSE(options.processes);
}

TEST(ParseArguments, Port) {
  EXPECT_EQ(valid({"--port", "0"}).port, 0);
  EXPECT_EQ(valid({"--port=9000"}).port, 9000);
  EXPECT_EQ(valid({"--port", "65535"}).port, 65535);
  EXPECT_EQ(invalid({"--port", "65536"}),
            "invalid value '65536' for --port: it takes a whole number from 0 to 65535");
  EXPECT_EQ(invalid({"--port=-1"}),
            "invalid value '-1' for --port: it takes a whole number from 0 to 65535");
  EXPECT_EQ(invalid({"--port", "80x"}),
            "invalid value '80x' for --port: it takes a whole number from 0 to 65535");
  EXPECT_EQ(invalid({"--port", ""}),
            "invalid value '' for --port: it takes a whole number from 0 to 65535");
  EXPECT_EQ(invalid({"--port="}),
            "invalid value '' for --port: it takes a whole number from 0 to 65535");
}

TEST(ParseArguments, LastValueWins) {
  EXPECT_EQ(valid({"--port", "1", "--port=2"}).port, 2);
}

TEST(ParseArguments, HostAndDocroot) {
  const common::Options options = valid({"--host", "::1", "--docroot=/srv/www"});
  EXPECT_EQ(options.host, "::1");
  EXPECT_EQ(options.docroot, "/srv/www");
  EXPECT_EQ(invalid({"--host", ""}), "invalid value '' for --host: it takes an address");
  EXPECT_EQ(invalid({"--docroot="}), "invalid value '' for --docroot: it takes a directory");
}

TEST(ParseArguments, ThreadsOnlyWhereTheChapterHasThem) {
  EXPECT_EQ(invalid({"--threads", "4"}),
            "unknown option '--threads' (01-plain has no --threads: another model's option)");
  EXPECT_EQ(valid({"--threads", "4"}, kEverything).threads, 4);
  EXPECT_EQ(valid({"--threads=1"}, kEverything).threads, 1);
  EXPECT_EQ(valid({"--threads", "1024"}, kEverything).threads, 1024);
  EXPECT_EQ(invalid({"--threads", "0"}, kEverything),
            "invalid value '0' for --threads: it takes a whole number from 1 to 1024");
  EXPECT_EQ(invalid({"--threads", "1025"}, kEverything),
            "invalid value '1025' for --threads: it takes a whole number from 1 to 1024");
}

TEST(ParseArguments, Timeouts) {
  EXPECT_EQ(valid({"--idle-timeout", "0.5"}).idle_timeout, 500ms);
  EXPECT_EQ(valid({"--idle-timeout=2"}).idle_timeout, 2000ms);
  EXPECT_EQ(valid({"--idle-timeout", "0.001"}).idle_timeout, 1ms);
  EXPECT_EQ(valid({"--idle-timeout", "86400"}).idle_timeout, 86'400'000ms);
  EXPECT_EQ(valid({"--request-timeout", "1.25"}).request_timeout, 1250ms);
  EXPECT_EQ(invalid({"--idle-timeout", "0"}),
            "invalid value '0' for --idle-timeout: it takes seconds, from 0.001 to 86400");
  EXPECT_EQ(invalid({"--idle-timeout", "0.0009"}),
            "invalid value '0.0009' for --idle-timeout: it takes seconds, from 0.001 to 86400");
  EXPECT_EQ(invalid({"--idle-timeout", "86401"}),
            "invalid value '86401' for --idle-timeout: it takes seconds, from 0.001 to 86400");
  EXPECT_EQ(invalid({"--idle-timeout", "-1"}),
            "invalid value '-1' for --idle-timeout: it takes seconds, from 0.001 to 86400");
  EXPECT_EQ(invalid({"--idle-timeout", "nan"}),
            "invalid value 'nan' for --idle-timeout: it takes seconds, from 0.001 to 86400");
  EXPECT_EQ(invalid({"--idle-timeout", "1s"}),
            "invalid value '1s' for --idle-timeout: it takes seconds, from 0.001 to 86400");
  EXPECT_EQ(invalid({"--request-timeout", "0"}),
            "invalid value '0' for --request-timeout: it takes seconds, from 0.001 to 86400");
}

TEST(ParseArguments, MissingValue) {
  EXPECT_EQ(invalid({"--port"}), "option '--port' needs a value");
  EXPECT_EQ(invalid({"--idle-timeout"}), "option '--idle-timeout' needs a value");
}

TEST(ParseArguments, UnknownOptions) {
  EXPECT_EQ(invalid({"--bogus"}), "unknown option '--bogus'");
  EXPECT_EQ(invalid({"--bogus=1"}), "unknown option '--bogus=1'");
  EXPECT_EQ(invalid({"8080"}), "unknown option '8080'");
  EXPECT_EQ(invalid({"-p", "8080"}), "unknown option '-p'");
  EXPECT_EQ(invalid({"--PORT", "8080"}), "unknown option '--PORT'");
}

TEST(ParseArguments, ATypoGetsTheClosestOption) {
  EXPECT_EQ(invalid({"--idle-timout", "2"}),
            "unknown option '--idle-timout'; did you mean --idle-timeout?");
  EXPECT_EQ(invalid({"--prot", "1"}), "unknown option '--prot'; did you mean --port?");
  EXPECT_EQ(invalid({"--chek"}), "unknown option '--chek'; did you mean --check?");
  EXPECT_EQ(invalid({"--threds", "2"}, kEverything),
            "unknown option '--threds'; did you mean --threads?");
  EXPECT_EQ(invalid({"--zzzzzz"}), "unknown option '--zzzzzz'");  // nothing close: no guess
}

TEST(ParseArguments, CheckValidatesWithoutServing) {
  const common::ParsedArguments checked =
      common::parse_arguments({"--check", "--port", "1"}, kPlain);
  EXPECT_TRUE(checked.check);
  ASSERT_TRUE(checked.options);
  EXPECT_EQ(checked.options->port, 1);
  EXPECT_FALSE(common::parse_arguments({"--check", "--bogus"}, kPlain).options);
}

TEST(ParseArguments, Help) {
  for (std::string_view flag : {"--help", "-h"}) {
    const common::ParsedArguments parsed = parse({"--port", "1", flag, "--bogus"});
    EXPECT_TRUE(parsed.help);
    EXPECT_FALSE(parsed.options.has_value());
    EXPECT_EQ(parsed.error, "");
  }
}

TEST(ParseArguments, ErrorBeforeHelpWins) {
  const common::ParsedArguments parsed = parse({"--bogus", "--help"});
  EXPECT_FALSE(parsed.help);
  EXPECT_EQ(parsed.error, "unknown option '--bogus'");
}

TEST(ParseArguments, NoPinOnlyWithItsFlag) {
  EXPECT_EQ(invalid({"--no-pin"}),
            "unknown option '--no-pin' (01-plain has no --no-pin: another model's option)");
  EXPECT_FALSE(valid({"--no-pin"}, kEverything).pin);
  EXPECT_EQ(invalid({"--no-pin=1"}, kEverything), "option '--no-pin' takes no value");
  const common::ChapterInfo pin_only{"06-x", "x", "x", common::kNoPinFlag};
  EXPECT_FALSE(valid({"--no-pin"}, pin_only).pin);
  EXPECT_EQ(invalid({"--processes"}, pin_only),
            "unknown option '--processes' (06-x has no --processes: another model's option)");
}

TEST(ParseArguments, ProcessesOnlyWithItsFlag) {
  EXPECT_EQ(invalid({"--processes"}),
            "unknown option '--processes' (01-plain has no --processes: another model's option)");
  EXPECT_TRUE(valid({"--processes"}, kEverything).processes);
  const common::ChapterInfo processes_only{"07-x", "x", "x", common::kProcessesFlag};
  EXPECT_TRUE(valid({"--processes"}, processes_only).processes);
  EXPECT_EQ(invalid({"--no-pin"}, processes_only),
            "unknown option '--no-pin' (07-x has no --no-pin: another model's option)");
}

TEST(ParseArguments, MaxClientsOnlyWithItsFlag) {
  EXPECT_EQ(
      invalid({"--max-clients", "5"}),
      "unknown option '--max-clients' (01-plain has no --max-clients: another model's option)");
  EXPECT_EQ(valid({"--max-clients", "5"}, kEverything).max_clients, 5);
  EXPECT_EQ(invalid({"--max-clients", "0"}, kEverything),
            "invalid value '0' for --max-clients: it takes a whole number from 1 to 100000");
}

TEST(ParseArguments, EverythingTogether) {
  const common::Options options =
      valid({"--host=0.0.0.0", "--port", "0", "--threads", "8", "--no-pin", "--processes",
             "--idle-timeout", "1", "--request-timeout=3", "--max-clients=64"},
            kEverything);
  EXPECT_EQ(options.host, "0.0.0.0");
  EXPECT_EQ(options.port, 0);
  EXPECT_EQ(options.threads, 8);
  EXPECT_FALSE(options.pin);
  EXPECT_TRUE(options.processes);
  EXPECT_EQ(options.idle_timeout, 1000ms);
  EXPECT_EQ(options.request_timeout, 3000ms);
  EXPECT_EQ(options.max_clients, 64);
}

bool mentions(const std::string& text, std::string_view word) {
  return text.find(word) != std::string::npos;
}

TEST(Usage, MentionsTheChapterAndTheCommonFlags) {
  const std::string text = common::usage(kPlain);
  EXPECT_TRUE(text.starts_with("usage: 01-plain [options]\n")) << text;
  EXPECT_TRUE(mentions(text, "one client at a time"));
  for (std::string_view flag : {"--host ADDR", "--port N", "--docroot DIR",
                                "--idle-timeout SECONDS", "--request-timeout SECONDS", "--help"}) {
    EXPECT_TRUE(mentions(text, flag)) << flag;
  }
}

TEST(Usage, MentionsOnlyTheChaptersOwnFlags) {
  const std::string plain = common::usage(kPlain);
  for (std::string_view flag : {"--threads", "--max-clients", "--no-pin", "--processes"}) {
    EXPECT_FALSE(mentions(plain, flag)) << flag;
  }
  const std::string everything = common::usage(kEverything);
  for (std::string_view flag : {"--threads N", "--max-clients N", "--no-pin", "--processes"}) {
    EXPECT_TRUE(mentions(everything, flag)) << flag;
  }
  const std::string threads =
      common::usage(common::ChapterInfo{"04-pool", "pool", "a pool", common::kThreadsFlag});
  EXPECT_TRUE(mentions(threads, "--threads N"));
  EXPECT_FALSE(mentions(threads, "--no-pin"));
}

TEST(Usage, HelpTextsAreAligned) {
  const std::string text = common::usage(kPlain);
  // "  --port N" padded to column 30, then the help.
  EXPECT_TRUE(
      mentions(text, "\n  --port N                    port, 0 for any free one (default 8080)\n"))
      << text;
}

}  // namespace
