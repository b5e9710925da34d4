#include "common/http_parser.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using common::Method;
using common::ParseResult;
using common::ParseStatus;
using common::RequestParser;

// An owning copy of what a Request says, so that it outlives the buffer it was parsed from.
struct Parsed {
  Method method = Method::kOther;
  std::string method_name;
  std::string target;
  std::string path;
  std::string query;
  std::string host;
  int minor_version = -1;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string head;
  std::string body;
  bool keep_alive = false;

  bool operator==(const Parsed&) const = default;
};

std::string repeated(std::string_view text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) {
    out += text;
  }
  return out;
}

Parsed copy_of(const common::Request& request) {
  Parsed parsed;
  parsed.method = request.method;
  parsed.method_name = request.method_name;
  parsed.target = request.target;
  parsed.path = request.path;
  parsed.query = request.query;
  parsed.host = request.host;
  parsed.minor_version = request.minor_version;
  for (const common::Header& header : request.headers) {
    parsed.headers.emplace_back(header.name, header.value);
  }
  parsed.head = request.head;
  parsed.body = request.body;
  parsed.keep_alive = request.keep_alive;
  return parsed;
}

// What a connection carried: every request parsed, then the error that ended it (0 if none) or
// the bytes left unparsed (empty after an error: how many bytes had arrived depends on the split).
struct Session {
  std::vector<Parsed> requests;
  int error = 0;
  std::string left_over;

  bool operator==(const Session&) const = default;
};

// Delivers @p pieces one after the other and parses every complete request the way a server
// loop does: append, parse, consume, reset. The buffer is a std::string, so appending moves it.
Session run_session(const std::vector<std::string>& pieces) {
  Session session;
  RequestParser parser;
  std::string pending;
  for (const std::string& piece : pieces) {
    pending += piece;
    for (;;) {
      const ParseResult result = parser.parse(pending);
      if (result.status == ParseStatus::kError) {
        session.error = result.error_status;
        return session;
      }
      if (result.status == ParseStatus::kIncomplete) {
        break;
      }
      session.requests.push_back(copy_of(parser.request()));
      pending.erase(0, result.consumed);
      parser.reset();
    }
  }
  session.left_over = pending;
  return session;
}

std::vector<std::string> whole(std::string_view wire) {
  return {std::string(wire)};
}

std::vector<std::string> bytes(std::string_view wire) {
  std::vector<std::string> pieces;
  for (char c : wire) {
    pieces.emplace_back(1, c);
  }
  return pieces;
}

std::vector<std::string> random_pieces(std::string_view wire, std::mt19937& rng,
                                       std::size_t max_piece) {
  std::uniform_int_distribution<std::size_t> size(1, max_piece);
  std::vector<std::string> pieces;
  while (!wire.empty()) {
    const std::size_t n = std::min(size(rng), wire.size());
    pieces.emplace_back(wire.substr(0, n));
    wire.remove_prefix(n);
  }
  return pieces;
}

ParseResult parse_whole(std::string_view input) {
  RequestParser parser;
  return parser.parse(input);
}

// Parses @p wire whole, then byte by byte (the same answer must come, and only at the end for
// a complete request), and returns the whole parse's result; the request is left in @p parser.
ParseResult parse_checked(RequestParser& parser, std::string_view wire) {
  RequestParser bytewise;
  std::string grown;
  ParseResult last;
  for (std::size_t i = 0; i < wire.size(); ++i) {
    grown += wire[i];
    last = bytewise.parse(grown);
    if (last.status != ParseStatus::kIncomplete) {
      if (last.status == ParseStatus::kComplete) {
        EXPECT_EQ(i + 1, wire.size()) << "complete before the last byte";
      }
      break;
    }
  }
  const ParseResult result = parser.parse(wire);
  EXPECT_EQ(last.status, result.status) << "byte-by-byte and whole parses disagree";
  EXPECT_EQ(last.error_status, result.error_status);
  EXPECT_EQ(last.error_reason, result.error_reason);
  EXPECT_EQ(last.consumed, result.consumed);
  return result;
}

// Asserts that @p wire is rejected with @p status, whole and byte by byte, and says why.
void expect_rejected(std::string_view wire, int status) {
  RequestParser parser;
  const ParseResult result = parse_checked(parser, wire);
  EXPECT_EQ(result.status, ParseStatus::kError);
  EXPECT_EQ(result.error_status, status);
  EXPECT_NE(result.error_reason.find("RFC"), std::string_view::npos)
      << "a refusal names the rule it applies: '" << result.error_reason << "'";
}

// Asserts that @p wire is one complete request, whole and byte by byte, and returns it.
Parsed expect_accepted(std::string_view wire) {
  RequestParser parser;
  const ParseResult result = parse_checked(parser, wire);
  EXPECT_EQ(result.status, ParseStatus::kComplete);
  EXPECT_EQ(result.consumed, wire.size());
  EXPECT_EQ(result.error_status, 0);
  if (result.status != ParseStatus::kComplete) {
    return {};
  }
  return copy_of(parser.request());
}

std::string get_with_target(std::string_view target) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\n\r\n";
}

std::string with_headers(std::string_view header_lines, std::string_view body = "") {
  return "POST /echo HTTP/1.1\r\nHost: x\r\n" + std::string(header_lines) + "\r\n" +
         std::string(body);
}

// ---------------------------------------------------------------------------------------------
// Whole requests

TEST(HttpParser, SimpleGetWhole) {
  const std::string wire =
      "GET /hello?a=1&b=2 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
  RequestParser parser;
  const ParseResult result = parser.parse(wire);
  ASSERT_EQ(result.status, ParseStatus::kComplete);
  EXPECT_EQ(result.consumed, wire.size());
  const common::Request& request = parser.request();
  EXPECT_EQ(request.method, Method::kGet);
  EXPECT_EQ(request.method_name, "GET");
  EXPECT_EQ(request.target, "/hello?a=1&b=2");
  EXPECT_EQ(request.path, "/hello");
  EXPECT_EQ(request.query, "a=1&b=2");
  EXPECT_EQ(request.minor_version, 1);
  ASSERT_EQ(request.headers.size(), 2u);
  EXPECT_EQ(request.headers[0].name, "Host");
  EXPECT_EQ(request.headers[0].value, "example.com");
  EXPECT_EQ(request.headers[1].name, "Accept");
  EXPECT_EQ(request.headers[1].value, "*/*");
  EXPECT_EQ(request.head, "GET /hello?a=1&b=2 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n");
  EXPECT_TRUE(request.body.empty());
  EXPECT_TRUE(request.keep_alive);
  // The views point into the caller's buffer: zero copy.
  EXPECT_EQ(request.target.data(), wire.data() + 4);
  EXPECT_EQ(request.head.data(), wire.data());
}

TEST(HttpParser, HeadExcludesTheBlankLine) {
  const std::string wire = "GET / HTTP/1.0\r\n\r\n";
  const Parsed parsed = expect_accepted(wire);
  EXPECT_EQ(parsed.head, "GET / HTTP/1.0\r\n");
  EXPECT_TRUE(parsed.headers.empty());
}

TEST(HttpParser, HeaderLookupIsCaseInsensitiveAndValuesAreTrimmed) {
  const std::string wire = "GET / HTTP/1.1\r\nhOsT: x\r\nX-Pad: \t  a b \t \r\nEmpty:\r\n\r\n";
  RequestParser parser;
  ASSERT_EQ(parser.parse(wire).status, ParseStatus::kComplete);
  const common::Request& request = parser.request();
  EXPECT_EQ(request.header("HOST"), "x");
  EXPECT_EQ(request.header("x-pad"), "a b");
  EXPECT_EQ(request.header("empty"), "");
  EXPECT_FALSE(request.header("missing").has_value());
  EXPECT_EQ(request.headers[0].name, "hOsT");  // names as received
}

TEST(HttpParser, HeaderReturnsTheFirstOfRepeatedFields) {
  const std::string wire = "GET / HTTP/1.1\r\nHost: x\r\nX: 1\r\nx: 2\r\n\r\n";
  RequestParser parser;
  ASSERT_EQ(parser.parse(wire).status, ParseStatus::kComplete);
  EXPECT_EQ(parser.request().header("X"), "1");
  EXPECT_EQ(parser.request().headers.size(), 3u);
}

TEST(HttpParser, ObsTextIsAllowedInAValue) {
  const Parsed parsed = expect_accepted("GET / HTTP/1.1\r\nHost: x\r\nX: caf\xc3\xa9\r\n\r\n");
  ASSERT_EQ(parsed.headers.size(), 2u);
  EXPECT_EQ(parsed.headers[1].second, "caf\xc3\xa9");
}

TEST(HttpParser, MethodEnum) {
  EXPECT_EQ(expect_accepted("GET / HTTP/1.1\r\nHost: x\r\n\r\n").method, Method::kGet);
  EXPECT_EQ(expect_accepted("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").method, Method::kHead);
  EXPECT_EQ(expect_accepted("POST / HTTP/1.1\r\nHost: x\r\n\r\n").method, Method::kPost);
  const Parsed other = expect_accepted("DELETE / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(other.method, Method::kOther);
  EXPECT_EQ(other.method_name, "DELETE");
  // Methods are case-sensitive.
  EXPECT_EQ(expect_accepted("get / HTTP/1.1\r\nHost: x\r\n\r\n").method, Method::kOther);
  EXPECT_EQ(expect_accepted("GETS / HTTP/1.1\r\nHost: x\r\n\r\n").method, Method::kOther);
}

TEST(HttpParser, ContentLengthBody) {
  const std::string wire = with_headers("Content-Length: 5\r\n", "hello");
  const Parsed parsed = expect_accepted(wire);
  EXPECT_EQ(parsed.method, Method::kPost);
  EXPECT_EQ(parsed.body, "hello");
  EXPECT_EQ(parsed.head, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n");
}

TEST(HttpParser, ContentLengthZero) {
  EXPECT_EQ(expect_accepted(with_headers("Content-Length: 0\r\n")).body, "");
}

TEST(HttpParser, BodyNotYetArrivedIsIncomplete) {
  const std::string wire = with_headers("Content-Length: 5\r\n", "hel");
  EXPECT_EQ(parse_whole(wire).status, ParseStatus::kIncomplete);
}

TEST(HttpParser, ConsumedStopsAtTheEndOfTheBody) {
  const std::string first = with_headers("Content-Length: 3\r\n", "abc");
  const std::string wire = first + "GET / HTT";
  RequestParser parser;
  const ParseResult result = parser.parse(wire);
  ASSERT_EQ(result.status, ParseStatus::kComplete);
  EXPECT_EQ(result.consumed, first.size());
  EXPECT_EQ(parser.request().body, "abc");
}

TEST(HttpParser, ErrorIsStickyUntilReset) {
  RequestParser parser;
  const ParseResult first = parser.parse("GET / HTTP/2.0\r\nHost: x\r\n\r\n");
  EXPECT_EQ(first.status, ParseStatus::kError);
  EXPECT_EQ(first.error_status, 505);
  const ParseResult again = parser.parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(again.status, ParseStatus::kError);
  EXPECT_EQ(again.error_status, 505);
  parser.reset();
  EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, ParseStatus::kComplete);
}

// ---------------------------------------------------------------------------------------------
// Byte by byte and random splits

TEST(HttpParser, ByteByByteIsIncompleteUntilTheLastByte) {
  const std::vector<std::string> wires = {
      "GET /a?b HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n",
      "\r\nGET / HTTP/1.0\r\n\r\n",
      with_headers("Content-Length: 11\r\n", "hello world"),
      with_headers("Transfer-Encoding: chunked\r\n",
                   "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\n"),
  };
  for (const std::string& wire : wires) {
    SCOPED_TRACE(wire);
    RequestParser parser;
    std::string grown;
    for (std::size_t i = 0; i + 1 < wire.size(); ++i) {
      grown += wire[i];
      const ParseResult result = parser.parse(grown);
      ASSERT_EQ(result.status, ParseStatus::kIncomplete) << "after byte " << i;
    }
    grown += wire.back();
    const ParseResult result = parser.parse(grown);
    ASSERT_EQ(result.status, ParseStatus::kComplete);
    EXPECT_EQ(result.consumed, wire.size());
    const Parsed bytewise = copy_of(parser.request());
    RequestParser once;
    ASSERT_EQ(once.parse(wire).status, ParseStatus::kComplete);
    EXPECT_EQ(bytewise, copy_of(once.request()));
  }
}

TEST(HttpParser, ByteByByteFieldsAreExact) {
  const std::string wire =
      with_headers("Transfer-Encoding: chunked\r\n", "4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n");
  RequestParser parser;
  std::string grown;
  ParseResult result;
  for (char c : wire) {
    grown += c;
    result = parser.parse(grown);
  }
  ASSERT_EQ(result.status, ParseStatus::kComplete);
  EXPECT_EQ(parser.request().body, "Wikipedia");
  EXPECT_EQ(parser.request().path, "/echo");
  EXPECT_EQ(parser.request().header("transfer-encoding"), "chunked");
}

// The wires the split tests feed: single requests, pipelined ones, and ones that end in an error.
std::vector<std::string> split_corpus() {
  const std::string get = "GET /x?y=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n";
  const std::string post = with_headers("Content-Length: 10\r\n", "0123456789");
  const std::string chunked = with_headers(
      "Transfer-Encoding: chunked\r\n",
      "3;a=b\r\nabc\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\nf\r\n0123456789abcde\r\n0\r\nX: y\r\nZ: "
      "w\r\n\r\n");
  const std::string http10 = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  return {
      get,
      post,
      chunked,
      get + post + chunked,
      chunked + "\r\n" + http10 + get,  // one ignored CRLF after a body
      post + "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + get,
      chunked.substr(0, chunked.size() - 2) + "X\r\n",  // a malformed trailer
      get + "GET / HTTP/1.1\r\nHost: x\r\n X: folded\r\n\r\n",
  };
}

TEST(HttpParser, RandomSplitsGiveTheSameRequests) {
  std::mt19937 rng(20240611);
  for (const std::string& wire : split_corpus()) {
    SCOPED_TRACE(wire);
    const Session expected = run_session(whole(wire));
    EXPECT_EQ(run_session(bytes(wire)), expected);
    for (int round = 0; round < 50; ++round) {
      const std::vector<std::string> pieces = random_pieces(wire, rng, 1 + round % 17);
      ASSERT_EQ(run_session(pieces), expected) << "round " << round;
    }
  }
}

// Pieces that end just after each CR: every CR and its LF arrive in different reads.
std::vector<std::string> cut_after_each_cr(std::string_view wire) {
  std::vector<std::string> pieces(1);
  for (char c : wire) {
    pieces.back() += c;
    if (c == '\r') {
      pieces.emplace_back();
    }
  }
  return pieces;
}

// Near the limits, the answer must not depend on where the reads end either: a read that stops
// inside an over-long head is refused for its size, so a whole one must be refused the same way.
// (The fuzz target, tests/fuzz/, found these.)
TEST(HttpParser, SplitsNearTheLimitsGiveTheSameAnswer) {
  const std::string long_target = "/" + std::string(9000, 'a');
  const struct {
    std::string wire;
    int status;  // the answer, however the bytes arrive; 0: accepted
  } cases[] = {
      // A target over its limit, then an error found later in the line: 414, not 400.
      {"G(T " + long_target + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
      // A leading space: the "target" is then "GET", the line is over its limit: 400.
      {" GET " + long_target + " HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"GET " + long_target + "\nHost: x\r\n\r\n", 414},
      // A request line over its own limit with a target under its own: 400, not 501.
      {std::string(100, 'M') + " /" + std::string(8190, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      // A line over both limits gets the one it crossed first: here the line's, then the target's.
      {std::string(100, 'M') + " /" + std::string(8229, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"GET /" + std::string(8300, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
      // A malformed request line, then a header section over its limit: 431, as for a read
      // that ends inside the headers.
      {"GET / HTTP/1.1 x\r\nX: " + std::string(33000, 'f') + "\r\n\r\n", 431},
      // A header section over its limit, then a bare LF: 431, not 400.
      {"GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(33000, 'f') + "\n\r\n", 431},
      // A trailer section of exactly 32 KiB with its CRLFs: accepted even when the final CR
      // arrives without its LF.
      {with_headers("Transfer-Encoding: chunked\r\n",
                    "2\r\nok\r\n0\r\nX-Big: " + std::string(32759, 't') + "\r\n\r\n"),
       0},
      // The target's CR, waiting for its LF, is not part of the target: 400 (no version).
      {"GET /" + std::string(8191, 'a') + "\r\nHost: x\r\n\r\n", 400},
  };
  std::mt19937 rng(11);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.wire.substr(0, 40));
    const Session expected = run_session(whole(c.wire));
    EXPECT_EQ(expected.error, c.status);
    EXPECT_EQ(expected.requests.size(), c.status == 0 ? 1u : 0u);
    EXPECT_EQ(run_session(bytes(c.wire)), expected);
    EXPECT_EQ(run_session(cut_after_each_cr(c.wire)), expected);
    for (int round = 0; round < 10; ++round) {
      EXPECT_EQ(run_session(random_pieces(c.wire, rng, 1 + round * 1000)), expected);
    }
  }
}

TEST(HttpParser, RandomSplitsOfAChunkedBody) {
  std::mt19937 rng(7);
  std::string body;
  std::string framed;
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> chunk_size(1, 3000);
  for (int chunk = 0; chunk < 20; ++chunk) {
    std::string data(static_cast<std::size_t>(chunk_size(rng)), '\0');
    for (char& c : data) {
      c = static_cast<char>(byte(rng));
    }
    char size_line[32];
    std::snprintf(size_line, sizeof size_line, chunk % 2 == 0 ? "%zx\r\n" : "%zX;n=%d\r\n",
                  data.size(), chunk);
    framed += size_line;
    framed += data;
    framed += "\r\n";
    body += data;
  }
  framed += "0\r\n\r\n";
  const std::string wire = with_headers("Transfer-Encoding: chunked\r\n", framed);
  for (int round = 0; round < 20; ++round) {
    const Session session = run_session(random_pieces(wire, rng, 1 + round * 100));
    ASSERT_EQ(session.error, 0);
    ASSERT_EQ(session.requests.size(), 1u);
    EXPECT_EQ(session.requests[0].body, body);
    EXPECT_TRUE(session.left_over.empty());
  }
}

// ---------------------------------------------------------------------------------------------
// Pipelining

TEST(HttpParser, PipelinedRequestsInOneBuffer) {
  const std::string wire =
      "GET /one HTTP/1.1\r\nHost: x\r\n\r\n" + with_headers("Content-Length: 3\r\n", "two") +
      with_headers("Transfer-Encoding: chunked\r\n", "5\r\nthree\r\n0\r\n\r\n");
  RequestParser parser;
  std::string_view rest = wire;
  std::vector<std::string> bodies;
  std::vector<std::string> paths;
  while (!rest.empty()) {
    const ParseResult result = parser.parse(rest);
    ASSERT_EQ(result.status, ParseStatus::kComplete);
    ASSERT_GT(result.consumed, 0u);
    paths.emplace_back(parser.request().path);
    bodies.emplace_back(parser.request().body);
    rest.remove_prefix(result.consumed);
    parser.reset();
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"/one", "/echo", "/echo"}));
  EXPECT_EQ(bodies, (std::vector<std::string>{"", "two", "three"}));
  EXPECT_EQ(parser.parse(rest).status, ParseStatus::kIncomplete);
}

TEST(HttpParser, PipelinedSessionCountsAndLeftOver) {
  const std::string get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  const Session session = run_session(whole(get + get + "GET / HT"));
  EXPECT_EQ(session.requests.size(), 2u);
  EXPECT_EQ(session.error, 0);
  EXPECT_EQ(session.left_over, "GET / HT");
}

TEST(HttpParser, ErrorInTheSecondPipelinedRequest) {
  const std::string get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  const Session session = run_session(whole(get + "GET / HTTP/1.1\r\n\r\n" + get));
  EXPECT_EQ(session.requests.size(), 1u);
  EXPECT_EQ(session.error, 400);  // no Host
}

TEST(HttpParser, ResetKeepsNothingOfThePreviousRequest) {
  RequestParser parser;
  const std::string first =
      with_headers("Transfer-Encoding: chunked\r\nConnection: close\r\n", "1\r\na\r\n0\r\n\r\n");
  ASSERT_EQ(parser.parse(first).status, ParseStatus::kComplete);
  EXPECT_FALSE(parser.request().keep_alive);
  parser.reset();
  const std::string second = "GET /2 HTTP/1.1\r\nHost: y\r\n\r\n";
  ASSERT_EQ(parser.parse(second).status, ParseStatus::kComplete);
  EXPECT_EQ(parser.request().body, "");
  EXPECT_TRUE(parser.request().keep_alive);
  EXPECT_EQ(parser.request().headers.size(), 1u);
  EXPECT_EQ(parser.request().path, "/2");
}

// ---------------------------------------------------------------------------------------------
// Limits, at the edge

TEST(HttpParser, TargetOfExactly8192BytesIsAccepted) {
  const std::string target = "/" + std::string(common::kMaxTargetSize - 1, 'a');
  ASSERT_EQ(target.size(), 8192u);
  const Parsed parsed = expect_accepted(get_with_target(target));
  EXPECT_EQ(parsed.target, target);
}

TEST(HttpParser, TargetOf8193BytesIs414) {
  const std::string target = "/" + std::string(common::kMaxTargetSize, 'a');
  expect_rejected(get_with_target(target), 414);
}

TEST(HttpParser, LongTargetIs414BeforeTheLineEnds) {
  const std::string ok = "GET /" + std::string(common::kMaxTargetSize - 1, 'a');
  EXPECT_EQ(parse_whole(ok).status, ParseStatus::kIncomplete);
  const ParseResult over = parse_whole(ok + "a");
  EXPECT_EQ(over.status, ParseStatus::kError);
  EXPECT_EQ(over.error_status, 414);
}

TEST(HttpParser, EndlessRequestLineWithoutSpacesIs400) {
  const ParseResult result = parse_whole(std::string(9000, 'G'));
  EXPECT_EQ(result.status, ParseStatus::kError);
  EXPECT_EQ(result.error_status, 400);
}

// Header lines (each with its CRLF) totalling exactly @p section_size bytes, Host included.
std::string header_section_of(std::size_t section_size) {
  const std::string host = "Host: x\r\n";
  const std::size_t filler = section_size - host.size() - std::string("X-Fill: \r\n").size();
  return host + "X-Fill: " + std::string(filler, 'v') + "\r\n";
}

TEST(HttpParser, HeaderSectionOfExactly32KiBIsAccepted) {
  const std::string section = header_section_of(common::kMaxHeaderSectionSize);
  ASSERT_EQ(section.size(), 32768u);
  const Parsed parsed = expect_accepted("GET / HTTP/1.1\r\n" + section + "\r\n");
  ASSERT_EQ(parsed.headers.size(), 2u);
  EXPECT_EQ(parsed.headers[1].second.size(), 32768u - 9 - 10);
}

TEST(HttpParser, HeaderSectionOverThe32KiBIs431) {
  expect_rejected(
      "GET / HTTP/1.1\r\n" + header_section_of(common::kMaxHeaderSectionSize + 1) + "\r\n", 431);
}

TEST(HttpParser, IncompleteHeaderSectionOverTheLimitIs431) {
  const std::string line = "GET / HTTP/1.1\r\n";
  // 32768 bytes of header lines plus the blank line's CRLF may still complete correctly...
  const std::string at_edge =
      line + "X: " + std::string(common::kMaxHeaderSectionSize + 2 - 3, 'v');
  EXPECT_EQ(parse_whole(at_edge).status, ParseStatus::kIncomplete);
  // ...one more byte and no blank line can save it.
  const ParseResult over = parse_whole(at_edge + "v");
  EXPECT_EQ(over.status, ParseStatus::kError);
  EXPECT_EQ(over.error_status, 431);
}

std::string request_with_fields(std::size_t count) {
  std::string wire = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (std::size_t i = 1; i < count; ++i) {
    wire += "X-" + std::to_string(i) + ": " + std::to_string(i) + "\r\n";
  }
  return wire + "\r\n";
}

TEST(HttpParser, HundredHeaderFieldsAreAccepted) {
  const Parsed parsed = expect_accepted(request_with_fields(common::kMaxHeaderCount));
  EXPECT_EQ(parsed.headers.size(), 100u);
  EXPECT_EQ(parsed.headers.back().first, "X-99");
}

TEST(HttpParser, HundredAndOneHeaderFieldsAre431) {
  expect_rejected(request_with_fields(common::kMaxHeaderCount + 1), 431);
}

TEST(HttpParser, ContentLengthOfExactly1MiBIsAccepted) {
  const std::string body(common::kMaxBodySize, 'b');
  const std::string wire = with_headers("Content-Length: 1048576\r\n", body);
  const Parsed parsed = expect_accepted(wire);
  EXPECT_EQ(parsed.body.size(), 1048576u);
  EXPECT_EQ(parsed.body, body);
}

TEST(HttpParser, ContentLengthOverOneMiBIs413AtOnce) {
  // Rejected from the head alone: no byte of the body has been sent.
  expect_rejected(with_headers("Content-Length: 1048577\r\n"), 413);
  expect_rejected(with_headers("Content-Length: 99999999999999999999999999999\r\n"), 413);
}

std::string chunk(std::string_view data) {
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
  return size_line + std::string(data) + "\r\n";
}

TEST(HttpParser, ChunkedBodyOfExactly1MiBIsAccepted) {
  const std::string half(common::kMaxBodySize / 2, 'c');
  const std::string wire =
      with_headers("Transfer-Encoding: chunked\r\n", chunk(half) + chunk(half) + "0\r\n\r\n");
  RequestParser parser;
  const ParseResult result = parser.parse(wire);
  ASSERT_EQ(result.status, ParseStatus::kComplete);
  EXPECT_EQ(result.consumed, wire.size());
  EXPECT_EQ(parser.request().body.size(), common::kMaxBodySize);
}

TEST(HttpParser, ChunkedBodyOverOneMiBIs413) {
  const std::string half(common::kMaxBodySize / 2, 'c');
  expect_rejected(with_headers("Transfer-Encoding: chunked\r\n",
                               chunk(half) + chunk(half) + chunk("x") + "0\r\n\r\n"),
                  413);
  // One announced chunk over the limit is refused before its data arrives.
  expect_rejected(with_headers("Transfer-Encoding: chunked\r\n", "100001\r\n"), 413);
  // A size that would overflow 64 bits saturates instead.
  expect_rejected(with_headers("Transfer-Encoding: chunked\r\n", "ffffffffffffffffffffffffff\r\n"),
                  413);
}

TEST(HttpParser, TinyChunksWithHugeExtensionsAre413) {
  // The decoded body is tiny, but the framing is more than twice the body limit.
  const std::string one = "1;" + std::string(1000, 'e') + "\r\na\r\n";
  std::string framed;
  for (int i = 0; i < 2200; ++i) {
    framed += one;
  }
  const ParseResult result = parse_whole(with_headers("Transfer-Encoding: chunked\r\n", framed));
  EXPECT_EQ(result.status, ParseStatus::kError);
  EXPECT_EQ(result.error_status, 413);
}

TEST(HttpParser, ChunkSizeLineLimit) {
  const std::string prefix = with_headers("Transfer-Encoding: chunked\r\n");
  // A size line of exactly 1024 bytes is accepted, however its bytes arrive...
  const std::string line_1024 = "1;" + std::string(1022, 'e');
  const Parsed parsed = expect_accepted(prefix + line_1024 + "\r\nz\r\n0\r\n\r\n");
  EXPECT_EQ(parsed.body, "z");
  // ...one byte more is not.
  expect_rejected(prefix + line_1024 + "e\r\nz\r\n0\r\n\r\n", 400);
  const ParseResult endless = parse_whole(prefix + "1;" + std::string(2000, 'e'));
  EXPECT_EQ(endless.status, ParseStatus::kError);
  EXPECT_EQ(endless.error_status, 400);
}

TEST(HttpParser, TrailerSectionOver32KiBIs431) {
  const std::string trailer = "T: " + std::string(common::kMaxHeaderSectionSize, 't') + "\r\n";
  expect_rejected(with_headers("Transfer-Encoding: chunked\r\n", "0\r\n" + trailer + "\r\n"), 431);
}

// ---------------------------------------------------------------------------------------------
// Malformed requests

struct Rejection {
  const char* name;
  std::string wire;
  int status;
};

TEST(HttpParser, ARefusalSaysWhy) {
  RequestParser parser;
  const ParseResult result = parser.parse("GET / HTTP/1.1\nHost: x\r\n\r\n");
  EXPECT_EQ(result.error_status, 400);
  EXPECT_EQ(result.error_reason, "bare LF in the request line; RFC 9112 section 2.2 requires CRLF");
  EXPECT_EQ(parser.parse("GET / HTTP/1.1\nHost: x\r\n\r\n").error_reason, result.error_reason)
      << "an error is sticky, its reason too";
}

TEST(HttpParser, MalformedRequestsAreRejected) {
  const std::vector<Rejection> cases = {
      {"whitespace before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
      {"tab before colon", "GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 400},
      {"obs-fold SP", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400},
      {"obs-fold HTAB", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n", 400},
      {"first header line folded", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400},
      {"bare CR in request line", "GET / HTTP/1.1\rHost: x\r\n\r\n", 400},
      {"bare CR in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400},
      {"bare LF after request line", "GET / HTTP/1.1\nHost: x\r\n\r\n", 400},
      {"bare LF ends the head", "GET / HTTP/1.1\r\nHost: x\r\n\n", 400},
      {"LF-only request", "GET / HTTP/1.1\nHost: x\n\n", 400},
      {"leading bare LF", "\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"NUL in a value", std::string("GET / HTTP/1.1\r\nHost: x\r\nX: a") + '\0' + "b\r\n\r\n",
       400},
      {"SOH in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x01z\r\n\r\n", 400},
      {"DEL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x7f\r\n\r\n", 400},
      {"ESC in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: \x1b[0m\r\n\r\n", 400},
      {"parenthesis in a name", "GET / HTTP/1.1\r\nHost: x\r\nX(y): z\r\n\r\n", 400},
      {"quote in a name", "GET / HTTP/1.1\r\nHost: x\r\nX\"y: z\r\n\r\n", 400},
      {"at sign in a name", "GET / HTTP/1.1\r\nHost: x\r\nX@y: z\r\n\r\n", 400},
      {"slash in a name", "GET / HTTP/1.1\r\nHost: x\r\nX/y: z\r\n\r\n", 400},
      {"non-ASCII name", "GET / HTTP/1.1\r\nHost: x\r\nX\xc3\xa9: z\r\n\r\n", 400},
      {"empty name", "GET / HTTP/1.1\r\nHost: x\r\n: z\r\n\r\n", 400},
      {"no colon", "GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400},
      {"missing version", "GET /\r\nHost: x\r\n\r\n", 400},
      {"missing target", "GET\r\nHost: x\r\n\r\n", 400},
      {"empty lines then a bare LF", "\r\n\r\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"empty lines then a bare CR", "\r\n\r\n\rGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"more empty lines than a request line may hold",
       repeated("\r\n", 4200) + "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"leading space", " GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"lowercase version", "GET / http/1.1\r\nHost: x\r\n\r\n", 400},
      {"HTTP/1", "GET / HTTP/1\r\nHost: x\r\n\r\n", 400},
      {"HTTP/1.10", "GET / HTTP/1.10\r\nHost: x\r\n\r\n", 400},
      {"HTTP/11", "GET / HTTP/11\r\nHost: x\r\n\r\n", 400},
      {"HTTP/a.b", "GET / HTTP/a.b\r\nHost: x\r\n\r\n", 400},
      {"trailing space after version", "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400},
      {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
      {"HTTP/3.0", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505},
      {"HTTP/0.9", "GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505},
      {"two spaces after method", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"two spaces after target", "GET /  HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"tab separator", "GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"fragment", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"control char in target", "GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"DEL in target", "GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"invalid method token", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"relative target", "GET index.html HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"other scheme", "GET ftp://host/x HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"asterisk for GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"1.1 without Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400},
      {"1.1 with two Host", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400},
      {"1.0 with two Host", "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400},
      {"CL letters", with_headers("Content-Length: abc\r\n"), 400},
      {"CL empty", with_headers("Content-Length: \r\n"), 400},
      {"CL plus", with_headers("Content-Length: +5\r\n", "hello"), 400},
      {"CL minus", with_headers("Content-Length: -1\r\n"), 400},
      {"CL hex", with_headers("Content-Length: 0x5\r\n", "hello"), 400},
      {"CL inner space", with_headers("Content-Length: 1 0\r\n", "0123456789"), 400},
      {"CL list disagrees", with_headers("Content-Length: 5, 6\r\n", "hello!"), 400},
      {"CL headers disagree", with_headers("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"),
       400},
      {"TE and CL", with_headers("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "hello"),
       400},
      {"CL and TE", with_headers("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "hello"),
       400},
      {"TE gzip alone: chunked not last", with_headers("Transfer-Encoding: gzip\r\n"), 400},
      {"TE identity", with_headers("Transfer-Encoding: identity\r\n"), 400},
      {"TE xchunked", with_headers("Transfer-Encoding: xchunked\r\n"), 400},
      {"TE chunked, gzip", with_headers("Transfer-Encoding: chunked, gzip\r\n"), 400},
      {"TE chunked then identity line",
       with_headers("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"), 400},
      {"TE dangling semicolon", with_headers("Transfer-Encoding: chunked;\r\n"), 400},
      {"TE parameter without value", with_headers("Transfer-Encoding: gzip;level, chunked\r\n"),
       400},
      {"TE unterminated quoted parameter",
       with_headers("Transfer-Encoding: gzip;q=\"x, chunked\r\n"), 400},
      {"TE quoted coding", with_headers("Transfer-Encoding: \"chunked\"\r\n"), 400},
      {"TE space inside a coding", with_headers("Transfer-Encoding: ch unked\r\n"), 400},
      {"TE chunked with a parameter", with_headers("Transfer-Encoding: chunked;a=b\r\n"), 400},
      {"TE chunked and an empty TE line",
       with_headers("Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n"), 400},
      {"TE gzip, chunked: framed, not decoded",
       with_headers("Transfer-Encoding: gzip, chunked\r\n"), 501},
      {"TE gzip;level=1, chunked", with_headers("Transfer-Encoding: gzip;level=1, chunked\r\n"),
       501},
      {"Host with userinfo", "GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n", 400},
      {"Host with a path", "GET / HTTP/1.1\r\nHost: example.com/evil\r\n\r\n", 400},
      {"Host with a query", "GET / HTTP/1.1\r\nHost: example.com?x=1\r\n\r\n", 400},
      {"Host with a fragment", "GET / HTTP/1.1\r\nHost: example.com#x\r\n\r\n", 400},
      {"Host comma list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400},
      {"Host comma list without space", "GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", 400},
      {"Host with inner space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
      {"Host with a bad port", "GET / HTTP/1.1\r\nHost: example.com:80x\r\n\r\n", 400},
      {"Host with two ports", "GET / HTTP/1.1\r\nHost: example.com:80:81\r\n\r\n", 400},
      {"Host unterminated IP literal", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400},
      {"Host IP literal with junk", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400},
      {"Host bad escape", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400},
      {"Host obs-text", "GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", 400},
      {"1.0 Host with userinfo", "GET / HTTP/1.0\r\nHost: user@example.com\r\n\r\n", 400},
      {"absolute-form userinfo", "GET http://user:pw@x/echo HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"absolute-form empty host", "GET http:///echo HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"absolute-form empty host, port", "GET http://:80/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"absolute-form bad port", "GET http://x:8o/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"absolute-form comma", "GET http://a,b/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"absolute-form with a bad Host", "GET http://x/ HTTP/1.1\r\nHost: a@b\r\n\r\n", 400},
      {"bad escape in the query", "GET /echo?%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"short escape in the path", "GET /echo%4 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"angle brackets in the query", "GET /echo?a=<b> HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"quote in the path", "GET /a\"b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"braces and bar in the path", "GET /{x}|y HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"backslash in the path", "GET /a\\b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"brackets in the path", "GET /a[1] HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"asterisk for PUT", "PUT * HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"asterisk for an unknown method", "BREW * HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"CONNECT with an origin-form target", "CONNECT /echo HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"CONNECT without a port", "CONNECT example.com HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"two large Content-Lengths that differ",
       with_headers("Content-Length: 2000000\r\nContent-Length: 3000000\r\n"), 400},
      {"TE chunked in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"TE chunked, chunked", with_headers("Transfer-Encoding: chunked, chunked\r\n"), 400},
      {"TE chunked twice",
       with_headers("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 400},
      {"TE empty", with_headers("Transfer-Encoding: \r\n"), 400},
      {"bad chunk size", with_headers("Transfer-Encoding: chunked\r\n", "z\r\n"), 400},
      {"empty chunk size", with_headers("Transfer-Encoding: chunked\r\n", "\r\nabc"), 400},
      {"chunk size with junk", with_headers("Transfer-Encoding: chunked\r\n", "5 x\r\n"), 400},
      {"space after the chunk size",
       with_headers("Transfer-Encoding: chunked\r\n", "5 \r\nhello\r\n0\r\n\r\n"), 400},
      {"tab after the chunk size",
       with_headers("Transfer-Encoding: chunked\r\n", "5\t\r\nhello\r\n0\r\n\r\n"), 400},
      {"bare semicolon", with_headers("Transfer-Encoding: chunked\r\n", "5;\r\nhello\r\n0\r\n\r\n"),
       400},
      {"two semicolons",
       with_headers("Transfer-Encoding: chunked\r\n", "5;;\r\nhello\r\n0\r\n\r\n"), 400},
      {"semicolon, space, name",
       with_headers("Transfer-Encoding: chunked\r\n", "5; ;a\r\nhello\r\n0\r\n\r\n"), 400},
      {"extension without a name",
       with_headers("Transfer-Encoding: chunked\r\n", "5;=v\r\nhello\r\n0\r\n\r\n"), 400},
      {"extension without a value",
       with_headers("Transfer-Encoding: chunked\r\n", "5;a=\r\nhello\r\n0\r\n\r\n"), 400},
      {"extension name with a space",
       with_headers("Transfer-Encoding: chunked\r\n", "5;a b\r\nhello\r\n0\r\n\r\n"), 400},
      {"extension value with a space",
       with_headers("Transfer-Encoding: chunked\r\n", "5;a=b c\r\nhello\r\n0\r\n\r\n"), 400},
      {"unterminated quoted extension",
       with_headers("Transfer-Encoding: chunked\r\n", "5;a=\"x\r\nhello\r\n0\r\n\r\n"), 400},
      {"junk after a quoted extension",
       with_headers("Transfer-Encoding: chunked\r\n", "5;a=\"x\"y\r\nhello\r\n0\r\n\r\n"), 400},
      {"extension name not a token",
       with_headers("Transfer-Encoding: chunked\r\n", "5;n@me=1\r\nhello\r\n0\r\n\r\n"), 400},
      {"obs-text outside quotes",
       with_headers("Transfer-Encoding: chunked\r\n", "5;a=\xff\r\nhello\r\n0\r\n\r\n"), 400},
      {"trailing space after an extension",
       with_headers("Transfer-Encoding: chunked\r\n", "5;a \r\nhello\r\n0\r\n\r\n"), 400},
      {"bare semicolon on the last chunk",
       with_headers("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0;\r\n\r\n"), 400},
      {"negative chunk size", with_headers("Transfer-Encoding: chunked\r\n", "-5\r\n"), 400},
      {"chunk size with leading space",
       with_headers("Transfer-Encoding: chunked\r\n", " 5\r\nhello\r\n0\r\n\r\n"), 400},
      {"control char in extension",
       with_headers("Transfer-Encoding: chunked\r\n", "5;a\x01\r\nhello\r\n0\r\n\r\n"), 400},
      {"no CRLF after data",
       with_headers("Transfer-Encoding: chunked\r\n", "5\r\nhelloXX0\r\n\r\n"), 400},
      {"chunk longer than announced",
       with_headers("Transfer-Encoding: chunked\r\n", "3\r\nhello\r\n0\r\n\r\n"), 400},
      {"LF alone after data",
       with_headers("Transfer-Encoding: chunked\r\n", "5\r\nhello\n0\r\n\r\n"), 400},
      {"malformed trailer",
       with_headers("Transfer-Encoding: chunked\r\n", "0\r\nBad Trailer: x\r\n\r\n"), 400},
      {"folded trailer", with_headers("Transfer-Encoding: chunked\r\n", "0\r\nA: b\r\n c\r\n\r\n"),
       400},
  };
  for (const Rejection& rejection : cases) {
    SCOPED_TRACE(rejection.name);
    expect_rejected(rejection.wire, rejection.status);
  }
}

TEST(HttpParser, RejectedHeadsAreNotWaitedFor) {
  // An error in a complete head is reported even though a body may still be on its way.
  const ParseResult result = parse_whole(with_headers("Transfer-Encoding: gzip, chunked\r\n"));
  EXPECT_EQ(result.status, ParseStatus::kError);
  EXPECT_EQ(result.error_status, 501);
  EXPECT_EQ(result.consumed, 0u);
}

// ---------------------------------------------------------------------------------------------
// Accepted variants

TEST(HttpParser, Http10WithoutHostIsAccepted) {
  const Parsed parsed = expect_accepted("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(parsed.minor_version, 0);
  EXPECT_FALSE(parsed.keep_alive);
}

TEST(HttpParser, ContentLengthDuplicatesThatAgree) {
  EXPECT_EQ(expect_accepted(with_headers("Content-Length: 5, 5\r\n", "hello")).body, "hello");
  EXPECT_EQ(
      expect_accepted(with_headers("Content-Length: 5\r\ncontent-length: 5\r\n", "hello")).body,
      "hello");
  EXPECT_EQ(expect_accepted(with_headers("Content-Length: 005\r\n", "hello")).body, "hello");
}

TEST(HttpParser, ChunkedWithExtensionsHexCaseAndTrailers) {
  const Parsed parsed = expect_accepted(
      with_headers("Transfer-Encoding: Chunked\r\n",
                   "a;name=value;x=\"q\"\r\n0123456789\r\nB ; ext\r\nabcdefghijk\r\n0;last\r\n"
                   "Trailer-One: 1\r\nTrailer-Two: 2\r\n\r\n"));
  EXPECT_EQ(parsed.body, "0123456789abcdefghijk");
  // Trailers are dropped, not added to the headers.
  ASSERT_EQ(parsed.headers.size(), 2u);
  EXPECT_EQ(parsed.headers[1].first, "Transfer-Encoding");
}

TEST(HttpParser, ChunkedWithLeadingZerosAndEmptyBody) {
  EXPECT_EQ(expect_accepted(
                with_headers("Transfer-Encoding: chunked\r\n", "0005\r\nhello\r\n000\r\n\r\n"))
                .body,
            "hello");
  EXPECT_EQ(expect_accepted(with_headers("Transfer-Encoding: chunked\r\n", "0\r\n\r\n")).body, "");
}

TEST(HttpParser, ChunkedBodyMayContainCrlf) {
  EXPECT_EQ(
      expect_accepted(with_headers("Transfer-Encoding: chunked\r\n", "4\r\n\r\n\r\n\r\n0\r\n\r\n"))
          .body,
      "\r\n\r\n");
}

TEST(HttpParser, KeepAliveRules) {
  struct Case {
    std::string wire;
    bool keep_alive;
  };
  const std::vector<Case> cases = {
      {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: x\r\nConnection: CLOSE\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: te,  KEEP-ALIVE \r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive-ish\r\n\r\n", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.wire);
    EXPECT_EQ(expect_accepted(c.wire).keep_alive, c.keep_alive);
  }
}

TEST(HttpParser, AbsoluteFormTarget) {
  Parsed parsed = expect_accepted(get_with_target("http://host/p?q"));
  EXPECT_EQ(parsed.target, "http://host/p?q");
  EXPECT_EQ(parsed.path, "/p");
  EXPECT_EQ(parsed.query, "q");

  parsed = expect_accepted(get_with_target("http://host"));
  EXPECT_EQ(parsed.path, "/");
  EXPECT_EQ(parsed.query, "");

  parsed = expect_accepted(get_with_target("HTTPS://host:8080/a/b"));
  EXPECT_EQ(parsed.path, "/a/b");
  EXPECT_EQ(parsed.query, "");
}

TEST(HttpParser, AbsoluteFormWithAQueryButNoPath) {
  // The authority ends at the first '/' or '?': a '/' inside the query is not the path.
  Parsed parsed = expect_accepted(get_with_target("http://host?n=1"));
  EXPECT_EQ(parsed.path, "/");
  EXPECT_EQ(parsed.query, "n=1");

  parsed = expect_accepted(get_with_target("http://host?a=/b"));
  EXPECT_EQ(parsed.path, "/");
  EXPECT_EQ(parsed.query, "a=/b");
}

TEST(HttpParser, OriginFormQueryMayHoldSlashesAndQuestionMarks) {
  const Parsed parsed = expect_accepted(get_with_target("/a/b?c=/d?e"));
  EXPECT_EQ(parsed.path, "/a/b");
  EXPECT_EQ(parsed.query, "c=/d?e");
}

TEST(HttpParser, EmptyQuery) {
  const Parsed parsed = expect_accepted(get_with_target("/a?"));
  EXPECT_EQ(parsed.path, "/a");
  EXPECT_EQ(parsed.query, "");
}

TEST(HttpParser, AsteriskFormForAnUnknownMethod) {
  const Parsed parsed = expect_accepted("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(parsed.method, Method::kOther);
  EXPECT_EQ(parsed.target, "*");
  EXPECT_EQ(parsed.path, "*");
}

TEST(HttpParser, LeadingEmptyLinesAreIgnored) {
  // RFC 9112 section 2.2: at least one, before any request-line, pipelined ones included.
  const std::string request = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int lines : {2, 3, 10}) {
    std::string wire;
    for (int i = 0; i < lines; ++i) {
      wire += "\r\n";
    }
    wire += request;
    RequestParser parser;
    const ParseResult result = parse_checked(parser, wire);
    ASSERT_EQ(result.status, ParseStatus::kComplete) << lines;
    EXPECT_EQ(result.consumed, wire.size());
    EXPECT_EQ(parser.request().head, "GET /x HTTP/1.1\r\nHost: x\r\n");
  }
  EXPECT_EQ(parse_whole("\r\n\r\n\r\n").status, ParseStatus::kIncomplete);
}

TEST(HttpParser, EmptyLinesBetweenPipelinedRequests) {
  // A client that adds CRLFs after a POST body: the next request still parses.
  const std::string wire = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi\r\n\r\n" +
                           std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  RequestParser parser;
  std::string_view rest = wire;
  ParseResult first = parser.parse(rest);
  ASSERT_EQ(first.status, ParseStatus::kComplete);
  EXPECT_EQ(parser.request().body, "hi");
  rest.remove_prefix(first.consumed);
  parser.reset();
  const ParseResult second = parser.parse(rest);
  ASSERT_EQ(second.status, ParseStatus::kComplete);
  EXPECT_EQ(parser.request().path, "/");
  EXPECT_EQ(second.consumed, rest.size());
}

TEST(HttpParser, HostAndAuthority) {
  // uri-host [ ":" port ]: registered names, IPv4, IPv6 literals, an empty port; an empty Host.
  for (const char* host :
       {"example.com", "x:", "127.0.0.1:8080", "[::1]", "[::1]:8080", "a-b.c_d~e", "%41bc", ""}) {
    SCOPED_TRACE(host);
    const Parsed parsed =
        expect_accepted(std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n");
    EXPECT_EQ(parsed.host, host);
  }
  // The absolute-form's authority wins over Host (RFC 9112 section 3.2.2).
  const Parsed absolute = expect_accepted("GET http://origin:81/x HTTP/1.1\r\nHost: other\r\n\r\n");
  EXPECT_EQ(absolute.host, "origin:81");
  EXPECT_EQ(absolute.path, "/x");
}

TEST(HttpParser, ChunkExtensionsThatAreWellFormed) {
  for (const char* line :
       {"5;name=value", "5 ; a=1;b=\"q s\"", "5\t;a", "5;a=\"x\\\"y\"", "5;a;b=c", "5 ;a = b"}) {
    SCOPED_TRACE(line);
    const Parsed parsed = expect_accepted(with_headers(
        "Transfer-Encoding: chunked\r\n", std::string(line) + "\r\nhello\r\n0;last\r\n\r\n"));
    EXPECT_EQ(parsed.body, "hello");
  }
}

TEST(HttpParser, ALaterMinorVersionIsOneOne) {
  // RFC 9110 section 6.2: HTTP/1.2 is processed as the highest 1.x we know.
  const Parsed parsed = expect_accepted("GET / HTTP/1.2\r\nHost: x\r\n\r\n");
  EXPECT_EQ(parsed.minor_version, 1);
}

TEST(HttpParser, ConnectWithAnAuthorityIsAcceptedForTheRoutesToRefuse) {
  const Parsed parsed =
      expect_accepted("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  EXPECT_EQ(parsed.method, Method::kOther);
  EXPECT_EQ(parsed.host, "example.com:443");
}

TEST(HttpParser, TrailerFieldsAreCounted) {
  std::string trailers;
  for (std::size_t i = 0; i <= common::kMaxHeaderCount; ++i) {
    trailers += "a:\r\n";
  }
  expect_rejected(with_headers("Transfer-Encoding: chunked\r\n", "0\r\n" + trailers + "\r\n"), 431);
}

TEST(HttpParser, ContinueIsOfferedOnceBeforeTheBody) {
  const std::string head =
      "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
  RequestParser parser;
  ASSERT_EQ(parser.parse(head).status, ParseStatus::kIncomplete);
  EXPECT_TRUE(parser.take_continue(head));
  EXPECT_FALSE(parser.take_continue(head)) << "once per request";
  const std::string whole = head + "hello";
  ASSERT_EQ(parser.parse(whole).status, ParseStatus::kComplete);
  EXPECT_EQ(parser.request().body, "hello");
}

TEST(HttpParser, ContinueIsNotOfferedWhenItIsNotAsked) {
  const auto offered = [](const std::string& wire) {
    RequestParser parser;
    return parser.parse(wire).status == ParseStatus::kIncomplete && parser.take_continue(wire);
  };
  EXPECT_FALSE(offered("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"));
  EXPECT_FALSE(offered("POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"))
      << "HTTP/1.0 must ignore it";
  EXPECT_FALSE(offered(
      "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhe"))
      << "some of the body is here already";
  EXPECT_FALSE(offered("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"))
      << "no body to wait for";
  EXPECT_TRUE(
      offered("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nTransfer-Encoding: "
              "chunked\r\n\r\n"));
  // An announced body over the limit is refused from the head, at once: no 100.
  RequestParser parser;
  const std::string big =
      "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n";
  const ParseResult refused = parser.parse(big);
  EXPECT_EQ(refused.status, ParseStatus::kError);
  EXPECT_EQ(refused.error_status, 413);
}

TEST(HttpParser, OneLeadingCrlfIsIgnored) {
  const std::string request = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string wire = "\r\n" + request;
  RequestParser parser;
  const ParseResult result = parse_checked(parser, wire);
  ASSERT_EQ(result.status, ParseStatus::kComplete);
  EXPECT_EQ(result.consumed, request.size() + 2);  // the CRLF is consumed too
  EXPECT_EQ(parser.request().head, "GET /x HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(parser.request().path, "/x");
}

TEST(HttpParser, LoneCrIsIncompleteAtFirst) {
  EXPECT_EQ(parse_whole("\r").status, ParseStatus::kIncomplete);
  EXPECT_EQ(parse_whole("").status, ParseStatus::kIncomplete);
  EXPECT_EQ(parse_whole("\r\n").status, ParseStatus::kIncomplete);
  const ParseResult bare = parse_whole("\rG");
  EXPECT_EQ(bare.status, ParseStatus::kError);
  EXPECT_EQ(bare.error_status, 400);
}

// ---------------------------------------------------------------------------------------------
// The caller's buffer may move between calls

TEST(HttpParser, ViewsFollowAReallocatedBuffer) {
  const std::string wire =
      "POST /move?me=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nX-A: b\r\n\r\nbody";
  RequestParser parser;
  std::unique_ptr<std::string> previous;
  std::unique_ptr<std::string> current;
  ParseResult result;
  for (std::size_t k = 1; k <= wire.size(); ++k) {
    current = std::make_unique<std::string>(wire.substr(0, k));
    if (previous) {
      previous->assign(previous->size(), '#');  // anything kept pointing there reads garbage
    }
    result = parser.parse(*current);
    previous = std::move(current);
  }
  ASSERT_EQ(result.status, ParseStatus::kComplete);
  const std::string& last = *previous;
  const common::Request& request = parser.request();
  EXPECT_EQ(request.method_name, "POST");
  EXPECT_EQ(request.target, "/move?me=1");
  EXPECT_EQ(request.path, "/move");
  EXPECT_EQ(request.query, "me=1");
  EXPECT_EQ(request.header("x-a"), "b");
  EXPECT_EQ(request.body, "body");
  EXPECT_EQ(request.head, wire.substr(0, wire.size() - 6));
  EXPECT_EQ(request.target.data(), last.data() + 5);
  EXPECT_EQ(request.body.data(), last.data() + last.size() - 4);
}

TEST(HttpParser, ChunkedBodyFollowsAReallocatedBuffer) {
  const std::string wire =
      with_headers("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n4\r\ndefg\r\n0\r\nT: 1\r\n\r\n");
  std::mt19937 rng(99);
  for (int round = 0; round < 20; ++round) {
    RequestParser parser;
    std::string previous;
    std::size_t k = 0;
    std::uniform_int_distribution<std::size_t> step(1, 9);
    ParseResult result;
    while (k < wire.size()) {
      k = std::min(wire.size(), k + step(rng));
      std::string current = wire.substr(0, k);
      previous.assign(previous.size(), '#');
      result = parser.parse(current);
      previous = std::move(current);
      if (k < wire.size()) {
        ASSERT_EQ(result.status, ParseStatus::kIncomplete);
      }
    }
    ASSERT_EQ(result.status, ParseStatus::kComplete);
    EXPECT_EQ(parser.request().body, "abcdefg");
    EXPECT_EQ(parser.request().path, "/echo");
  }
}

// ---------------------------------------------------------------------------------------------
// Guard page: the input ends exactly where unreadable memory begins, so a read past its end
// crashes the test (the picohttpparser way of catching over-reads without a sanitizer).

class GuardPage {
 public:
  GuardPage() : page_size_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))) {
    void* memory =
        ::mmap(nullptr, 2 * page_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
      throw std::runtime_error("mmap");
    }
    base_ = static_cast<char*>(memory);
    if (::mprotect(base_ + page_size_, page_size_, PROT_NONE) != 0) {
      throw std::runtime_error("mprotect");
    }
  }
  ~GuardPage() { ::munmap(base_, 2 * page_size_); }
  GuardPage(const GuardPage&) = delete;
  GuardPage& operator=(const GuardPage&) = delete;

  std::size_t page_size() const { return page_size_; }

  // Copies @p bytes so that they end at the guard page, and returns a view of the copy.
  std::string_view place(std::string_view bytes) {
    char* start = base_ + page_size_ - bytes.size();
    std::memcpy(start, bytes.data(), bytes.size());
    return {start, bytes.size()};
  }

 private:
  std::size_t page_size_;
  char* base_ = nullptr;
};

std::vector<std::string> guard_corpus() {
  return {
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
      "\r\nGET /a?b HTTP/1.0\r\n\r\n",
      "GET http://h HTTP/1.1\r\nHost: x\r\nX: y\r\n\r\n",
      with_headers("Content-Length: 5\r\n", "hello"),
      with_headers("Transfer-Encoding: chunked\r\n",
                   "5;e=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\n"),
  };
}

TEST(HttpParser, GuardPageEveryPrefixWithAFreshParser) {
  GuardPage guard;
  for (const std::string& wire : guard_corpus()) {
    SCOPED_TRACE(wire);
    ASSERT_LE(wire.size(), guard.page_size());
    for (std::size_t k = 0; k <= wire.size(); ++k) {
      RequestParser parser;
      const ParseResult result = parser.parse(guard.place(std::string_view(wire).substr(0, k)));
      ASSERT_EQ(result.status, k == wire.size() ? ParseStatus::kComplete : ParseStatus::kIncomplete)
          << "prefix of " << k << " bytes";
    }
  }
}

TEST(HttpParser, GuardPageByteByByteWithAMovingBuffer) {
  GuardPage guard;
  for (const std::string& wire : guard_corpus()) {
    SCOPED_TRACE(wire);
    RequestParser parser;
    ParseResult result;
    for (std::size_t k = 1; k <= wire.size(); ++k) {
      // Each prefix is placed so that it ends at the guard: the buffer moves on every call.
      result = parser.parse(guard.place(std::string_view(wire).substr(0, k)));
      if (k < wire.size()) {
        ASSERT_EQ(result.status, ParseStatus::kIncomplete);
      }
    }
    ASSERT_EQ(result.status, ParseStatus::kComplete);
    EXPECT_EQ(result.consumed, wire.size());
  }
}

TEST(HttpParser, GuardPageTruncatedAndMalformed) {
  GuardPage guard;
  const std::vector<std::pair<std::string, ParseStatus>> cases = {
      {"GET / HTTP/1.1\r", ParseStatus::kIncomplete},
      {"GET / HTTP/1.1\r\nHost: x\r\n\r", ParseStatus::kIncomplete},
      {"GET / HTTP/1.1\r\nHost: x\r", ParseStatus::kIncomplete},
      {"GET / HTTP/1.1\r\nHost", ParseStatus::kIncomplete},
      {"\r", ParseStatus::kIncomplete},
      {with_headers("Transfer-Encoding: chunked\r\n", "5"), ParseStatus::kIncomplete},
      {with_headers("Transfer-Encoding: chunked\r\n", "5\r"), ParseStatus::kIncomplete},
      {with_headers("Transfer-Encoding: chunked\r\n", "5\r\nhello"), ParseStatus::kIncomplete},
      {with_headers("Transfer-Encoding: chunked\r\n", "5\r\nhello\r"), ParseStatus::kIncomplete},
      {with_headers("Transfer-Encoding: chunked\r\n", "0\r\nT: v\r"), ParseStatus::kIncomplete},
      {with_headers("Transfer-Encoding: chunked\r\n", "0\r\n\r"), ParseStatus::kIncomplete},
      {with_headers("Content-Length: 5\r\n", "hell"), ParseStatus::kIncomplete},
      {"GET / HTTP/1.1\r\nHost: x\n", ParseStatus::kError},
      {"GET / HTTP/1.1\rX", ParseStatus::kError},
  };
  for (const auto& [wire, status] : cases) {
    SCOPED_TRACE(wire);
    RequestParser parser;
    EXPECT_EQ(parser.parse(guard.place(wire)).status, status);
  }
}

}  // namespace
