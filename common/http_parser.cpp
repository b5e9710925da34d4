#include "common/http_parser.hpp"

#include <algorithm>

namespace common {
namespace {

constexpr ParseResult kNeedMore{ParseStatus::kIncomplete, 0, 0, {}};
// "METHOD SP target SP HTTP/1.1": the target's limit plus room for any sane method.
constexpr std::size_t kMaxRequestLineSize = kMaxTargetSize + 64;
// A chunk-size line with its (ignored) extensions.
constexpr std::size_t kMaxChunkLineSize = 1024;
// Bound on the whole chunked encoding, framing included: tiny chunks with long extensions must
// not let a client make us read far more than the body limit.
constexpr std::size_t kMaxChunkedWireSize = 2 * kMaxBodySize + 64 * 1024;
// Content-Length and chunk sizes saturate here, so a 40-digit number cannot overflow.
constexpr std::uint64_t kTooLarge = kMaxBodySize + 1;

// Why a request is refused, said in its answer: the rule, and where the RFC states it.
constexpr std::string_view kHeadersTooLarge =
    "the header section is larger than 32 KiB (RFC 6585 section 5)";
constexpr std::string_view kTargetTooLong =
    "the request-target is longer than 8 KiB (RFC 9112 section 3)";
constexpr std::string_view kBadField =
    "a field line is not token \":\" value, without space before the colon (RFC 9112 section 5)";
constexpr std::string_view kBodyTooLarge =
    "the body is larger than 1 MiB (RFC 9110 section 15.5.14)";
constexpr std::string_view kBadChunk =
    "a chunk-size line is not HEXDIG, extensions, CRLF (RFC 9112 section 7.1)";
// The reasons write the limits out: they must change together.
static_assert(kMaxTargetSize == 8 * 1024);
static_assert(kMaxHeaderSectionSize == 32 * 1024 && kMaxHeaderCount == 100);
static_assert(kMaxBodySize == 1024 * 1024);

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// A character allowed in a field value: HTAB, SP, visible ASCII and obs-text (0x80-0xFF).
// Every other control character, DEL and NUL among them, makes the request malformed.
bool is_field_value_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return c == '\t' || c == ' ' || (u > 0x20 && u != 0x7F);
}

std::string_view trim_whitespace(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

void skip_ws(std::string_view s, std::size_t& i) noexcept {  // OWS and BWS: *( SP / HTAB )
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) {
    ++i;
  }
}

bool skip_token(std::string_view s, std::size_t& i) noexcept;  // below: is_token_char is public

// quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 section 5.6.4), s[i] == '"'.
bool skip_quoted_string(std::string_view s, std::size_t& i) noexcept {
  const auto text = [](char c) {  // HTAB, SP, VCHAR, obs-text: no other control character
    const auto u = static_cast<unsigned char>(c);
    return c == '\t' || (u >= 0x20 && u != 0x7F);
  };
  for (++i; i < s.size(); ++i) {
    if (s[i] == '"') {
      ++i;
      return true;
    }
    if (s[i] == '\\' && (++i == s.size() || !text(s[i]))) {
      return false;  // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
    }
    if (!text(s[i])) {
      return false;
    }
  }
  return false;  // unterminated
}

// token / quoted-string, the value of a parameter or of a chunk extension.
bool skip_token_or_quoted(std::string_view s, std::size_t& i) noexcept {
  return i < s.size() && s[i] == '"' ? skip_quoted_string(s, i) : skip_token(s, i);
}

bool is_unreserved(char c) noexcept {  // RFC 3986 section 2.3
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

bool is_sub_delim(char c) noexcept {  // RFC 3986 section 2.2
  return std::string_view("!$&'()*+,;=").find(c) != std::string_view::npos;
}

bool is_pct_encoded(std::string_view s, std::size_t i) noexcept {  // s[i] == '%'
  return s.size() - i >= 3 && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0;
}

// Where an authority appears: the Host field may have an empty host (RFC 9112 section 3.2),
// an http URI may not (RFC 9110 section 4.2.1), and CONNECT's target must have a port.
enum class Authority { kHostField, kUri, kConnect };

// uri-host [ ":" port ] (RFC 9110 section 7.2; RFC 3986 sections 3.2.2 and 3.2.3), one pass:
// uri-host = IP-literal / IPv4address / reg-name, port = *DIGIT. Deliberately stricter than
// reg-name in one way: no ',' (a Host holding "a, b" is two Host lines combined).
bool is_host_port(std::string_view a, Authority where) noexcept {
  std::size_t i = 0;
  if (!a.empty() && a.front() == '[') {  // IP-literal = "[" ( IPv6address / IPvFuture ) "]"
    const std::size_t close = a.find(']');
    if (close == std::string_view::npos || close == 1) {
      return false;
    }
    for (std::size_t j = 1; j < close; ++j) {
      const char c = a[j];
      if (!(is_unreserved(c) || (is_sub_delim(c) && c != ',') || c == ':')) {
        return false;  // a coarse IPv6/IPvFuture check: the characters they may hold
      }
    }
    i = close + 1;
  } else {  // reg-name = *( unreserved / pct-encoded / sub-delims ), IPv4address included
    for (; i < a.size() && a[i] != ':'; ++i) {
      if (a[i] == '%' && is_pct_encoded(a, i)) {
        i += 2;
      } else if (!is_unreserved(a[i]) && !(is_sub_delim(a[i]) && a[i] != ',')) {
        return false;  // '@' (userinfo), '/', '?', '#', ',', whitespace, obs-text, a bad '%'
      }
    }
    if (i == 0 && where != Authority::kHostField) {
      return false;  // an http URI with an empty host is invalid
    }
  }
  if (i == a.size()) {
    return where != Authority::kConnect;
  }
  if (a[i] != ':') {
    return false;
  }
  const std::string_view port = a.substr(i + 1);
  return std::all_of(port.begin(), port.end(), is_digit) &&
         !(where == Authority::kConnect && port.empty());
}

// path-abempty [ "?" query ] (RFC 3986 sections 3.3 and 3.4): pchar, '/', '?' and well-formed
// percent-escapes only.
bool is_path_and_query(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (!is_pct_encoded(s, i)) {
        return false;
      }
      i += 2;
    } else if (!is_unreserved(s[i]) && !is_sub_delim(s[i]) &&
               std::string_view(":@/?").find(s[i]) == std::string_view::npos) {
      return false;  // '"', '<', '>', '\\', '^', '`', '{', '|', '}', '[', ']', '#', controls...
    }
  }
  return true;
}

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), chunk-ext-name =
// token, chunk-ext-val = token / quoted-string (RFC 9112 section 7.1.1): parsed, to be skipped.
bool is_chunk_ext(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    skip_ws(s, i);
    if (i == s.size() || s[i] != ';') {
      return false;  // whitespace after the size not followed by ';', or junk
    }
    ++i;
    skip_ws(s, i);
    if (!skip_token(s, i)) {
      return false;  // a bare ';', or a name that is not a token
    }
    std::size_t j = i;
    skip_ws(s, j);
    if (j < s.size() && s[j] == '=') {
      ++j;
      skip_ws(s, j);
      if (!skip_token_or_quoted(s, j)) {
        return false;  // no value, or an unterminated quoted-string
      }
      i = j;
    }
  }
  return true;
}

// Transfer-Encoding = #transfer-coding; transfer-coding = token *( OWS ";" OWS
// transfer-parameter ); transfer-parameter = token BWS "=" BWS ( token / quoted-string )
// (RFC 9112 section 6.1, RFC 9110 section 10.1.4). Calls visit(coding name, has parameters) for
// each coding in order; returns false on a syntax error. Quoted-strings may hold commas.
template <typename Visit>
bool for_each_transfer_coding(std::string_view s, Visit visit) {
  std::size_t i = 0;
  for (;;) {
    skip_ws(s, i);
    if (i == s.size()) {
      return true;
    }
    if (s[i] == ',') {  // an empty list element (RFC 9110 section 5.6.1.2)
      ++i;
      continue;
    }
    const std::size_t name_start = i;
    if (!skip_token(s, i)) {
      return false;
    }
    const std::string_view name = s.substr(name_start, i - name_start);
    bool parameters = false;
    for (;;) {
      skip_ws(s, i);
      if (i == s.size() || s[i] != ';') {
        break;
      }
      ++i;
      skip_ws(s, i);
      if (!skip_token(s, i)) {
        return false;  // a dangling ';'
      }
      skip_ws(s, i);
      if (i == s.size() || s[i] != '=') {
        return false;  // a parameter without a value
      }
      ++i;
      skip_ws(s, i);
      if (!skip_token_or_quoted(s, i)) {
        return false;
      }
      parameters = true;
    }
    visit(name, parameters);
    if (i == s.size()) {
      return true;
    }
    if (s[i] != ',') {
      return false;  // "ch unked"
    }
    ++i;
  }
}

// Checks one "name: value" line (a header or a trailer). Returns the colon's offset, or
// kNotAField when the line is obs-fold, has an invalid name (whitespace before the colon
// included) or a control character in its value.
constexpr std::size_t kNotAField = std::string_view::npos;
std::size_t check_field_line(std::string_view line) noexcept {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return kNotAField;  // also catches obs-fold: a leading SP or HTAB is not a token char
  }
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = line.substr(colon + 1);
  if (!std::all_of(name.begin(), name.end(), is_token_char) ||
      !std::all_of(value.begin(), value.end(), is_field_value_char)) {
    return kNotAField;
  }
  return colon;
}

Method method_from_name(std::string_view name) noexcept {
  // Methods are case-sensitive: "get" is not GET.
  if (name == "GET") {
    return Method::kGet;
  }
  if (name == "HEAD") {
    return Method::kHead;
  }
  if (name == "POST") {
    return Method::kPost;
  }
  return Method::kOther;
}

}  // namespace

int hex_value(char c) noexcept {
  if (is_digit(c)) {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

bool is_token_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

namespace {

bool skip_token(std::string_view s, std::size_t& i) noexcept {  // token = 1*tchar
  const std::size_t start = i;
  while (i < s.size() && is_token_char(s[i])) {
    ++i;
  }
  return i > start;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) {
      return h.value;
    }
  }
  return std::nullopt;
}

void RequestParser::reset() noexcept {
  state_ = State{};
  header_spans_.clear();  // clear() keeps the capacity for the next request
  chunked_body_.clear();
  request_.headers.clear();
}

ParseResult RequestParser::fail(int status, std::string_view why) noexcept {
  state_.stage = Stage::kFailed;
  state_.error_status = status;
  state_.error_reason = why;
  return {ParseStatus::kError, 0, status, why};
}

// How the steps that return a status say why: the reason is kept for fail().
int RequestParser::refuse(int status, std::string_view why) noexcept {
  state_.error_reason = why;
  return status;
}

ParseResult RequestParser::parse(std::string_view input) {
  if (state_.stage == Stage::kFailed) {
    return {ParseStatus::kError, 0, state_.error_status, state_.error_reason};
  }
  if (state_.stage == Stage::kHead) {
    const ParseResult found = find_head_end(input);
    if (found.status != ParseStatus::kComplete) {
      return found;
    }
    // Each step runs only if the one before succeeded; each returns 0 or an error status.
    int status = parse_request_line(input);
    if (status == 0) {
      status = parse_header_lines(input);
    }
    if (status == 0) {
      status = decide_framing(input);
    }
    if (status != 0) {
      return fail(status, state_.error_reason);
    }
  }
  if (state_.stage == Stage::kBody) {
    if (input.size() - state_.head_end < state_.content_length) {
      return kNeedMore;
    }
    state_.cursor = state_.head_end + state_.content_length;
    state_.stage = Stage::kDone;
  }
  if (state_.stage != Stage::kDone) {
    if (const ParseResult chunked = parse_chunked(input);
        chunked.status != ParseStatus::kComplete) {
      return chunked;
    }
  }
  return complete(input);
}

// Looks for the blank line that ends the head, checking line endings on the way: every LF must
// follow a CR and every CR must precede an LF. Each byte is examined once over all calls.
// Returns kComplete when the head is all there (state_.head_end set).
//
// The answer may not depend on how the bytes were split into reads. A read that ends inside the
// head has its limits checked (check_incomplete_head), so before reporting anything found at
// byte i, the same check runs on the bytes before i: a request line that outgrew its limits is
// refused for that (414 or 400) whether or not its end arrived in the same read, and an error
// found later in the bytes does not replace that answer.
ParseResult RequestParser::find_head_end(std::string_view input) {
  const auto fail_at = [&](std::size_t i, int status, std::string_view why) {
    const ParseResult over_limit = check_incomplete_head(input.substr(0, i));
    return over_limit.status == ParseStatus::kError ? over_limit : fail(status, why);
  };
  if (state_.leading) {
    // RFC 9112 section 2.2: ignore empty lines before the request line (some clients send an extra
    // CRLF after a POST body), as many as fit the request line's limit. CRLF only: a bare LF or
    // CR stays an error. state_.start keeps its place between calls, so each byte is looked at
    // once.
    while (input.size() - state_.start >= 2 && input[state_.start] == '\r' &&
           input[state_.start + 1] == '\n') {
      state_.start += 2;
      if (state_.start > kMaxRequestLineSize) {
        return fail(400, "too many empty lines before the request line (RFC 9112 section 2.2)");
      }
    }
    if (input.size() == state_.start ||
        (input.size() - state_.start == 1 && input[state_.start] == '\r')) {
      return kNeedMore;  // perhaps more empty lines; a lone CR is looked at again
    }
    state_.leading = false;
    state_.scanned = state_.start;
  }
  for (std::size_t i = state_.scanned; i < input.size(); ++i) {
    if (input[i] == '\r') {
      if (i + 1 == input.size()) {
        state_.scanned = i;  // look at this CR again when its LF may have arrived
        return check_incomplete_head(input);
      }
      if (input[i + 1] != '\n') {
        return fail_at(i + 1, 400, "a CR without its LF; RFC 9112 section 2.2 requires CRLF");
      }
    } else if (input[i] == '\n') {
      if (i == state_.start || input[i - 1] != '\r') {
        return fail_at(i, 400,
                       state_.line_end == kNotFound
                           ? "bare LF in the request line; RFC 9112 section 2.2 requires CRLF"
                           : "bare LF in a header line; RFC 9112 section 2.2 requires CRLF");
      }
      if (state_.line_end == kNotFound) {
        if (const ParseResult over_limit = check_incomplete_head(input.substr(0, i));
            over_limit.status == ParseStatus::kError) {
          return over_limit;  // the request line, now whole, is over a limit
        }
        state_.line_end = i - 1;
      } else if (input[i - 2] == '\n') {  // CRLF CRLF: the blank line
        if (const ParseResult over_limit = check_incomplete_head(input.substr(0, i));
            over_limit.status == ParseStatus::kError) {
          return over_limit;  // as a read ending just before this LF would have found
        }
        state_.head_end = state_.scanned = i + 1;
        return {ParseStatus::kComplete, 0, 0, {}};
      }
    }
  }
  state_.scanned = input.size();
  return check_incomplete_head(input);
}

// Rejects a head that is still incomplete but already over a limit, so that a client cannot make
// us buffer without bound by never finishing its head.
ParseResult RequestParser::check_incomplete_head(std::string_view input) {
  if (state_.line_end == kNotFound) {
    std::string_view line = input.substr(state_.start);
    if (line.ends_with('\r')) {
      line.remove_suffix(1);  // the line's CR, waiting for its LF, is not part of the line
    }
    // Two limits: the target's (414) and the whole line's (400). When the line is over both, the
    // answer is the one a byte-by-byte delivery gives: the limit it crossed first.
    const bool line_over = line.size() > kMaxRequestLineSize;
    const std::size_t sp = line.find(' ');
    if (sp != std::string_view::npos) {
      const std::size_t target_end = std::min(line.find(' ', sp + 1), line.size());
      const std::size_t line_size_at_414 = sp + 1 + kMaxTargetSize + 1;
      if (target_end - sp - 1 > kMaxTargetSize &&
          (!line_over || line_size_at_414 <= kMaxRequestLineSize + 1)) {
        return fail(414, kTargetTooLong);
      }
    }
    return line_over ? fail(400, "the request line is longer than 8 KiB (RFC 9112 section 3)")
                     : kNeedMore;
  }
  // The header lines, plus the blank line that would end them, may not exceed the limit.
  const std::size_t header_bytes = input.size() - (state_.line_end + 2);
  return header_bytes > kMaxHeaderSectionSize + 2 ? fail(431, kHeadersTooLarge) : kNeedMore;
}

// request-line = method SP request-target SP HTTP-version
int RequestParser::parse_request_line(std::string_view input) {
  const std::string_view line = input.substr(state_.start, state_.line_end - state_.start);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos) {  // no method, or no version (HTTP/0.9)
    return refuse(400, "the request line is not method SP target SP version (RFC 9112 section 3)");
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!std::all_of(method.begin(), method.end(), is_token_char)) {
    return refuse(400, "the method is not a token (RFC 9110 section 9.1)");
  }
  if (target.size() > kMaxTargetSize) {
    return refuse(414, kTargetTooLong);
  }
  if (target.empty()) {  // a second space
    return refuse(400, "an empty request-target (RFC 9112 section 3)");
  }
  if (version.size() != 8 || !version.starts_with("HTTP/") || !is_digit(version[5]) ||
      version[6] != '.' || !is_digit(version[7])) {
    return refuse(400, "the version is not HTTP/DIGIT.DIGIT (RFC 9112 section 2.3)");
  }
  if (version[5] != '1') {  // well-formed, but not a major version we speak
    return refuse(505, "only HTTP/1.x is served here (RFC 9110 section 6.2)");
  }

  state_.method_kind = method_from_name(method);
  // RFC 9110 section 6.2: a higher minor version of 1 is processed as 1.1, the highest we know.
  state_.minor_version = version[7] == '0' ? 0 : 1;
  state_.method = {state_.start, method.size()};
  state_.target = {state_.start + sp1 + 1, target.size()};
  return parse_target(method, target);
}

// The four forms of request-target (RFC 9112 section 3.2): origin-form "/path?query";
// absolute-form "http://authority/path?query", which a server must accept; authority-form
// "host:port", for CONNECT only; and asterisk-form "*", for a server-wide OPTIONS only. Every
// character of a path and query is checked against RFC 3986 (a SHOULD of RFC 9112 section 3).
int RequestParser::parse_target(std::string_view method, std::string_view target) {
  if (method == "CONNECT") {
    if (!is_host_port(target, Authority::kConnect)) {
      return refuse(400, "CONNECT takes host:port as its target (RFC 9112 section 3.2.3)");
    }
    state_.authority = state_.target;
    return 0;  // well-formed: the routes answer 501, since we are no proxy
  }
  std::size_t path_start = 0;
  if (target == "*") {
    state_.path = state_.target;
    return method == "OPTIONS"
               ? 0
               : refuse(400, "the target * is for OPTIONS only (RFC 9112 section 3.2.4)");
  }
  if (target.front() != '/') {
    const std::size_t scheme_end = target.find("://");
    const std::string_view scheme = target.substr(0, scheme_end);
    if (scheme_end == std::string_view::npos ||
        !(iequals(scheme, "http") || iequals(scheme, "https"))) {
      return refuse(400, "a target starts with / or is an http(s) URI (RFC 9112 section 3.2)");
    }
    // The authority ends at the first '/' or '?': "http://host?a=/b" has no path.
    const std::size_t authority_start = scheme_end + 3;
    path_start = std::min(target.find_first_of("/?", authority_start), target.size());
    if (!is_host_port(target.substr(authority_start, path_start - authority_start),
                      Authority::kUri)) {  // userinfo, an empty host, a bad port
      return refuse(400, "the target's authority is not host[:port] (RFC 9110 section 4.2)");
    }
    state_.authority = {state_.target.offset + authority_start, path_start - authority_start};
  }
  if (!is_path_and_query(target.substr(path_start))) {  // a fragment, a control, a bad %
    return refuse(400, "a character a request-target may not hold (RFC 3986 section 3.3)");
  }
  const std::size_t question = std::min(target.find('?', path_start), target.size());
  state_.path = {state_.target.offset + path_start, question - path_start};
  if (question < target.size()) {
    state_.query = {state_.target.offset + question + 1, target.size() - question - 1};
  }
  return 0;
}

int RequestParser::parse_header_lines(std::string_view input) {
  std::size_t pos = state_.line_end + 2;
  const std::size_t section_end = state_.head_end - 2;  // where the blank line starts
  if (section_end - pos > kMaxHeaderSectionSize) {
    return refuse(431, kHeadersTooLarge);
  }
  while (pos < section_end) {
    const std::size_t eol = input.find("\r\n", pos);
    const std::string_view line = input.substr(pos, eol - pos);
    if (header_spans_.size() == kMaxHeaderCount) {
      return refuse(431, "more than 100 header fields (RFC 6585 section 5)");
    }
    const std::size_t colon = check_field_line(line);
    if (colon == kNotAField) {
      return refuse(400, kBadField);
    }
    const std::string_view raw_value = line.substr(colon + 1);
    const std::string_view value = trim_whitespace(raw_value);
    const std::size_t value_offset = pos + colon + 1 + (value.data() - raw_value.data());
    header_spans_.push_back({{pos, colon}, {value_offset, value.size()}});
    pos = eol + 2;
  }
  return 0;
}

// Decides how the body is framed, and whether the connection persists, from the headers.
int RequestParser::decide_framing(std::string_view input) {
  int hosts = 0;
  bool bad_host = false;
  bool has_length = false;
  bool bad_length = false;
  std::optional<std::uint64_t> length;
  std::string_view length_digits;  // the first value, without leading zeros
  bool has_coding = false;
  bool bad_coding = false;
  int chunked_codings = 0;
  bool last_is_chunked = false;
  bool chunked_parameters = false;
  bool other_coding = false;
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool continue_expected = false;

  for (const HeaderSpan& span : header_spans_) {
    const std::string_view name = input.substr(span.name.offset, span.name.length);
    const std::string_view value = input.substr(span.value.offset, span.value.length);
    if (iequals(name, "Host")) {
      ++hosts;
      bad_host |= !is_host_port(value, Authority::kHostField);
      state_.host_field = span.value;
    } else if (iequals(name, "Content-Length")) {
      // Digits only; a list ("5, 5") or repeated header is accepted when every value agrees.
      // Values are compared as digit strings, so two lengths over the limit that differ differ.
      has_length = true;
      bad_length |= value.empty();
      for_each_list_element(value, [&](std::string_view element) {
        std::uint64_t n = 0;
        for (char c : element) {
          bad_length |= !is_digit(c);
          n = std::min<std::uint64_t>(n * 10 + static_cast<unsigned>(c - '0'), kTooLarge);
        }
        std::string_view digits = element;
        while (digits.size() > 1 && digits.front() == '0') {
          digits.remove_prefix(1);
        }
        bad_length |= length.has_value() && digits != length_digits;
        length = n;
        length_digits = digits;
      });
    } else if (iequals(name, "Transfer-Encoding")) {
      has_coding = true;
      bool any = false;
      bad_coding |= !for_each_transfer_coding(value, [&](std::string_view coding, bool params) {
        any = true;
        last_is_chunked = iequals(coding, "chunked");  // the lines are in order: the last wins
        chunked_codings += last_is_chunked ? 1 : 0;
        chunked_parameters |= last_is_chunked && params;
        other_coding |= !last_is_chunked;
      });
      bad_coding |= !any;  // a Transfer-Encoding line with no coding
    } else if (iequals(name, "Connection")) {
      for_each_list_element(value, [&](std::string_view option) {
        connection_close |= iequals(option, "close");
        connection_keep_alive |= iequals(option, "keep-alive");
      });
    } else if (iequals(name, "Expect")) {
      for_each_list_element(value, [&](std::string_view expectation) {
        continue_expected |= iequals(expectation, "100-continue");
      });
    }
  }

  // RFC 9112 section 3.2: exactly one Host in HTTP/1.1, at most one in 1.0, and a valid one.
  if (bad_host || hosts > 1 || (state_.minor_version == 1 && hosts != 1)) {
    return refuse(400, "HTTP/1.1 takes one valid Host header (RFC 9112 section 3.2)");
  }
  if (has_coding) {
    // Both framings at once is how requests are smuggled; 1.0 has no chunked.
    if (bad_coding || has_length || state_.minor_version == 0) {
      return refuse(400,
                    "Transfer-Encoding with Content-Length, malformed, or in HTTP/1.0 "
                    "(RFC 9112 section 6.1)");
    }
    if (!last_is_chunked || chunked_codings != 1 || chunked_parameters) {
      return refuse(400,
                    "chunked must be the last transfer coding, once, without parameters "
                    "(RFC 9112 section 6.3)");
    }
    if (other_coding) {  // "gzip, chunked": framed, but a coding we do not decode
      return refuse(501, "only the chunked transfer coding is decoded here (RFC 9112 section 6.1)");
    }
    state_.chunked = true;
    state_.cursor = state_.head_end;
    state_.stage = Stage::kChunkSize;
  } else if (has_length) {
    if (bad_length || !length) {
      return refuse(400, "Content-Length is not one decimal number (RFC 9110 section 8.6)");
    }
    if (*length > kMaxBodySize) {
      return refuse(413, kBodyTooLarge);
    }
    state_.content_length = *length;
    state_.stage = Stage::kBody;
  } else {
    state_.cursor = state_.head_end;
    state_.stage = Stage::kDone;  // no body
  }
  state_.keep_alive = !connection_close && (state_.minor_version == 1 || connection_keep_alive);
  // RFC 9110 section 10.1.1: only HTTP/1.1 knows 100-continue, and only a body is waited for.
  state_.expects_continue = continue_expected && state_.minor_version == 1 &&
                            (state_.chunked || state_.content_length > 0);
  return 0;
}

bool RequestParser::take_continue(std::string_view input) noexcept {
  if (!state_.expects_continue || state_.continue_taken || input.size() > state_.head_end ||
      (state_.stage != Stage::kBody && state_.stage != Stage::kChunkSize)) {
    return false;
  }
  state_.continue_taken = true;
  return true;
}

// chunked-body = *chunk last-chunk trailer-section CRLF, decoded into chunked_body_.
ParseResult RequestParser::parse_chunked(std::string_view input) {
  for (;;) {
    if (state_.cursor - state_.head_end > kMaxChunkedWireSize) {
      return fail(413, kBodyTooLarge);
    }
    switch (state_.stage) {
      case Stage::kChunkSize: {
        const std::size_t eol = input.find("\r\n", state_.cursor);
        if (eol == std::string_view::npos) {
          // + 1: the line's CR may be here, waiting for its LF.
          return input.size() - state_.cursor > kMaxChunkLineSize + 1 ? fail(400, kBadChunk)
                                                                      : kNeedMore;
        }
        const std::string_view line = input.substr(state_.cursor, eol - state_.cursor);
        std::size_t i = 0;
        std::uint64_t size = 0;
        for (; i < line.size() && hex_value(line[i]) >= 0; ++i) {
          size = std::min<std::uint64_t>(size * 16 + hex_value(line[i]), kTooLarge);
        }
        // After the size: nothing, or extensions, well-formed and ignored.
        if (i == 0 || line.size() > kMaxChunkLineSize || !is_chunk_ext(line.substr(i))) {
          return fail(400, kBadChunk);
        }
        if (chunked_body_.size() + size > kMaxBodySize) {
          return fail(413, kBodyTooLarge);
        }
        state_.cursor = eol + 2;
        state_.chunk_left = size;
        state_.stage = size == 0 ? Stage::kTrailer : Stage::kChunkData;
        break;
      }
      case Stage::kChunkData: {
        const std::size_t available =
            std::min<std::uint64_t>(state_.chunk_left, input.size() - state_.cursor);
        chunked_body_.append(input.substr(state_.cursor, available));
        state_.cursor += available;
        state_.chunk_left -= available;
        if (state_.chunk_left > 0) {
          return kNeedMore;
        }
        state_.stage = Stage::kChunkEnd;
        break;
      }
      case Stage::kChunkEnd:
        if (input.size() - state_.cursor < 2) {
          return kNeedMore;
        }
        if (input.substr(state_.cursor, 2) != "\r\n") {
          return fail(400, "chunk data not followed by CRLF (RFC 9112 section 7.1)");
        }
        state_.cursor += 2;
        state_.stage = Stage::kChunkSize;
        break;
      case Stage::kTrailer: {
        // Trailer fields are checked like headers, counted against the header limit, and dropped.
        const std::size_t eol = input.find("\r\n", state_.cursor);
        std::size_t line_size =
            (eol == std::string_view::npos ? input.size() : eol) - state_.cursor;
        if (eol == std::string_view::npos && line_size > 0 && input.back() == '\r') {
          --line_size;  // the line's CR, waiting for its LF: not counted, as in a whole line
        }
        if (state_.trailer_bytes + line_size > kMaxHeaderSectionSize) {
          return fail(431, "the trailer section is larger than 32 KiB (RFC 6585 section 5)");
        }
        if (eol == std::string_view::npos) {
          return kNeedMore;
        }
        const std::string_view line = input.substr(state_.cursor, line_size);
        state_.cursor = eol + 2;
        if (line.empty()) {
          state_.stage = Stage::kDone;
          return {ParseStatus::kComplete, 0, 0, {}};
        }
        if (check_field_line(line) == kNotAField) {
          return fail(400, kBadField);
        }
        if (++state_.trailer_fields > kMaxHeaderCount) {
          return fail(431, "more than 100 trailer fields (RFC 6585 section 5)");
        }
        state_.trailer_bytes += line_size + 2;
        break;
      }
      default:  // unreachable: parse() only calls us in a chunked stage
        return fail(500, "the parser lost its place");
    }
  }
}

ParseResult RequestParser::complete(std::string_view input) {
  const auto view = [input](Span span) { return input.substr(span.offset, span.length); };
  request_.method = state_.method_kind;
  request_.method_name = view(state_.method);
  request_.target = view(state_.target);
  // An absolute-form target with no path ("http://host") means the root.
  request_.path = state_.path.length == 0 ? std::string_view("/") : view(state_.path);
  request_.query = view(state_.query);
  request_.minor_version = state_.minor_version;
  request_.keep_alive = state_.keep_alive;
  request_.headers.clear();
  for (const HeaderSpan& span : header_spans_) {
    request_.headers.push_back({view(span.name), view(span.value)});
  }
  request_.host = state_.authority.length > 0 ? view(state_.authority) : view(state_.host_field);
  request_.head = input.substr(state_.start, state_.head_end - 2 - state_.start);
  request_.body = state_.chunked ? std::string_view(chunked_body_)
                                 : input.substr(state_.head_end, state_.content_length);
  return {ParseStatus::kComplete, state_.cursor, 0, {}};
}

}  // namespace common
