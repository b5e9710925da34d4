// libFuzzer target for common::RequestParser (make fuzz).
//
// Each input is a byte stream from one connection: zero or more pipelined requests. It is parsed
// the way a server parses it, request after request, with the bytes delivered
//   1. all at once,
//   2. in pieces cut at pseudo-random points (derived from the input, so runs are repeatable),
//   3. in pieces cut just after every CR (the CR and its LF arrive in different reads),
//   4. one byte at a time (inputs up to 4 KiB).
// Every delivery must produce the same requests and stop the same way: the answer to a client
// may not depend on how TCP happened to split its bytes. On the way each result is checked:
// consumed bytes within the input, statuses from the known set, views inside the input, limits
// respected. Each call gets a fresh copy of the input, so a view into an old buffer is caught by
// AddressSanitizer.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_parser.hpp"

namespace {

using common::Method;
using common::ParseResult;
using common::ParseStatus;
using common::Request;
using common::RequestParser;

constexpr std::size_t kByteByByteMax = 4096;
constexpr std::size_t kMaxPieces = 256;

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "invariant violated: %s %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) {
    fail(what);
  }
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

// Everything a handler can see of a request, as one string, so two parses can be compared.
std::string describe(const Request& r, std::size_t consumed) {
  std::string out;
  const auto field = [&out](std::string_view name, std::string_view value) {
    out += name;
    out += '=';
    out += std::to_string(value.size());
    out += ':';
    out += value;
    out += ';';
  };
  field("method", r.method_name);
  field("kind", std::to_string(static_cast<int>(r.method)));
  field("target", r.target);
  field("path", r.path);
  field("query", r.query);
  field("minor", std::to_string(r.minor_version));
  for (const common::Header& h : r.headers) {
    field("name", h.name);
    field("value", h.value);
  }
  field("head", r.head);
  field("body", r.body);
  field("keep_alive", r.keep_alive ? "1" : "0");
  field("consumed", std::to_string(consumed));
  return out;
}

void check_request(const Request& r, std::string_view input, const ParseResult& result) {
  check(result.consumed > 0 && result.consumed <= input.size(), "consumed out of range");
  check(result.error_status == 0, "error status on a complete request");
  check(r.minor_version == 0 || r.minor_version == 1, "minor version");
  check(r.target.size() <= common::kMaxTargetSize, "target over its limit");
  check(r.headers.size() <= common::kMaxHeaderCount, "too many headers");
  check(r.body.size() <= common::kMaxBodySize, "body over its limit");
  check(!r.method_name.empty() && !r.target.empty(), "empty method or target");
  check(inside(r.method_name, input) && inside(r.target, input) && inside(r.head, input),
        "request line views outside the input");
  check(r.path == "/" || inside(r.path, input), "path view outside the input");
  check(inside(r.query, input), "query view outside the input");
  // The head is the request line and header lines, each with its CRLF, where the input starts
  // (after the empty lines the parser ignores, RFC 9112 section 2.2); the blank line follows it.
  std::size_t skipped = 0;
  while (input.substr(skipped, 2) == "\r\n") {
    skipped += 2;
  }
  check(r.head.data() == input.data() + skipped, "head does not start the input");
  check(r.head.ends_with("\r\n"), "head does not end with CRLF");
  check(input.substr(skipped + r.head.size(), 2) == "\r\n", "no blank line after the head");
  check(r.head.starts_with(r.method_name), "head does not start with the method");
  for (const common::Header& h : r.headers) {
    check(!h.name.empty() && inside(h.name, r.head) && inside(h.value, r.head),
          "header views outside the head");
    check(h.value.empty() || (h.value.front() != ' ' && h.value.back() != ' ' &&
                              h.value.front() != '\t' && h.value.back() != '\t'),
          "header value not trimmed");
  }
  const bool known = r.method_name == "GET" || r.method_name == "HEAD" || r.method_name == "POST";
  check(known == (r.method != Method::kOther), "method kind does not match its name");
}

// How parsing one delivery of the stream went: the requests, then how it stopped.
struct Outcome {
  std::vector<std::string> requests;
  ParseStatus last = ParseStatus::kIncomplete;
  int error_status = 0;
  std::size_t consumed = 0;

  bool operator==(const Outcome&) const = default;
};

// Parses data delivered in pieces ending at each of cuts (increasing; the last is data.size()).
Outcome parse_delivery(std::string_view data, const std::vector<std::size_t>& cuts) {
  Outcome out;
  RequestParser parser;
  std::size_t start = 0;  // the first byte not yet consumed
  for (const std::size_t available : cuts) {
    for (;;) {
      // A fresh copy each call: the contract lets the caller move its buffer between calls.
      const std::string input(data.substr(start, available - start));
      const ParseResult result = parser.parse(input);
      if (result.status == ParseStatus::kIncomplete) {
        check(result.consumed == 0 && result.error_status == 0, "incomplete with a result");
        break;
      }
      if (result.status == ParseStatus::kError) {
        const int s = result.error_status;
        check(s == 400 || s == 413 || s == 414 || s == 431 || s == 501 || s == 505,
              "unexpected error status");
        check(result.consumed == 0, "consumed on error");
        check(result.error_reason.find("RFC") != std::string_view::npos,
              "an error that does not say which rule it applies");
        const ParseResult again = parser.parse(input);
        check(again.status == ParseStatus::kError && again.error_status == s &&
                  again.error_reason == result.error_reason,
              "an error is not sticky");
        out.last = ParseStatus::kError;
        out.error_status = s;
        return out;
      }
      check_request(parser.request(), input, result);
      out.requests.push_back(describe(parser.request(), result.consumed));
      start += result.consumed;
      out.consumed = start;
      parser.reset();
    }
  }
  return out;
}

std::uint64_t fnv1a(std::string_view data) {
  std::uint64_t hash = 1469598103934665603ULL;
  for (const char c : data) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  return hash;
}

std::vector<std::size_t> random_cuts(std::string_view data) {
  std::uint64_t state = fnv1a(data) | 1;
  const auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  std::vector<std::size_t> cuts;
  const std::size_t pieces = 1 + next() % 32;
  for (std::size_t i = 0; i + 1 < pieces; ++i) {
    cuts.push_back(next() % (data.size() + 1));
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(data.size());
  return cuts;
}

std::vector<std::size_t> cuts_after_cr(std::string_view data) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 0; i < data.size() && cuts.size() < kMaxPieces; ++i) {
    if (data[i] == '\r') {
      cuts.push_back(i + 1);
    }
  }
  cuts.push_back(data.size());
  return cuts;
}

void compare(const Outcome& expected, const Outcome& got, const char* delivery) {
  if (expected == got) {
    return;
  }
  std::fprintf(stderr,
               "delivered %s: %zu requests, status %d, error %d, consumed %zu; delivered at once: "
               "%zu requests, status %d, error %d, consumed %zu\n",
               delivery, got.requests.size(), static_cast<int>(got.last), got.error_status,
               got.consumed, expected.requests.size(), static_cast<int>(expected.last),
               expected.error_status, expected.consumed);
  fail("the result depends on how the bytes were split");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  const Outcome whole = parse_delivery(data, {data.size()});
  compare(whole, parse_delivery(data, random_cuts(data)), "in random pieces");
  compare(whole, parse_delivery(data, cuts_after_cr(data)), "cut after each CR");
  if (size <= kByteByByteMax) {
    std::vector<std::size_t> every_byte;
    for (std::size_t i = 1; i <= size; ++i) {
      every_byte.push_back(i);
    }
    compare(whole, parse_delivery(data, every_byte), "one byte at a time");
  }
  return 0;
}
