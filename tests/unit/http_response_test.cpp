#include "common/http_response.hpp"

#include <gtest/gtest.h>
#include <ctime>
#include <string>
#include <string_view>
#include <thread>

namespace {

// True for an IMF-fixdate such as "Sun, 06 Nov 1994 08:49:37 GMT". Written by hand rather than
// with std::regex, which sets off a false -Wmaybe-uninitialized in GCC 12's sanitizer builds.
bool is_imf_fixdate(std::string_view date) {
  constexpr std::string_view kDays = "Mon Tue Wed Thu Fri Sat Sun ";
  constexpr std::string_view kMonths = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec ";
  const auto digits = [&date](std::size_t at, std::size_t count) {
    for (std::size_t i = at; i < at + count; ++i) {
      if (date[i] < '0' || date[i] > '9') {
        return false;
      }
    }
    return true;
  };
  const auto one_of = [](std::string_view list, std::string_view word) {
    const std::size_t at = list.find(word);
    return at != std::string_view::npos && at % 4 == 0;
  };
  // "Www, DD Mmm YYYY HH:MM:SS GMT"
  return date.size() == 29 && one_of(kDays, date.substr(0, 3)) && date.substr(3, 2) == ", " &&
         digits(5, 2) && date[7] == ' ' && one_of(kMonths, date.substr(8, 3)) && date[11] == ' ' &&
         digits(12, 4) && date[16] == ' ' && digits(17, 2) && date[19] == ':' && digits(20, 2) &&
         date[22] == ':' && digits(23, 2) && date.substr(25) == " GMT";
}

// The head with the Date header's value replaced by "<date>" (it changes every second), after
// checking that the value is an IMF-fixdate.
std::string head_of(const common::Response& response) {
  std::string out;
  common::append_head(response, out);
  const std::string_view marker = "\r\nDate: ";
  const std::size_t start = out.find(marker);
  if (start == std::string::npos) {
    ADD_FAILURE() << "no Date header in " << out;
    return out;
  }
  const std::size_t value = start + marker.size();
  const std::size_t end = out.find("\r\n", value);
  EXPECT_TRUE(is_imf_fixdate(std::string_view(out).substr(value, end - value))) << out;
  return out.substr(0, value) + "<date>" + out.substr(end);
}

TEST(ImfFixdate, TheCheckItselfRejectsNearMisses) {
  EXPECT_TRUE(is_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"));
  EXPECT_FALSE(is_imf_fixdate("Sun, 6 Nov 1994 08:49:37 GMT"));
  EXPECT_FALSE(is_imf_fixdate("Sunday, 06-Nov-94 08:49:37 GMT"));
  EXPECT_FALSE(is_imf_fixdate("Sun Nov  6 08:49:37 1994"));
  EXPECT_FALSE(is_imf_fixdate("Xyz, 06 Nov 1994 08:49:37 GMT"));
  EXPECT_FALSE(is_imf_fixdate("Sun, 06 nov 1994 08:49:37 GMT"));
  EXPECT_FALSE(is_imf_fixdate("Sun, 06 Nov 1994 08:49:37 UTC"));
  EXPECT_FALSE(is_imf_fixdate("un, 06 Nov 1994 08:49:37 GMTT"));
}

TEST(AppendHead, Ok200) {
  const common::Response response = common::make_response(200, "Hello, World!");
  EXPECT_EQ(head_of(response),
            "HTTP/1.1 200 OK\r\n"
            "Server: progressive/1.0\r\n"
            "Date: <date>\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 13\r\n"
            "\r\n");
}

TEST(AppendHead, WithAllow) {
  common::Response response = common::make_error(405);
  response.allow = "GET, HEAD";
  EXPECT_EQ(head_of(response),
            "HTTP/1.1 405 Method Not Allowed\r\n"
            "Server: progressive/1.0\r\n"
            "Date: <date>\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 23\r\n"
            "Allow: GET, HEAD\r\n"
            "\r\n");
}

TEST(AppendHead, WithConnectionClose) {
  common::Response response = common::make_error(400);
  response.allow = "GET";
  response.close = true;
  response.keep_alive_header = true;  // close wins
  EXPECT_EQ(head_of(response),
            "HTTP/1.1 400 Bad Request\r\n"
            "Server: progressive/1.0\r\n"
            "Date: <date>\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 16\r\n"
            "Allow: GET\r\n"
            "Connection: close\r\n"
            "\r\n");
}

TEST(AppendHead, WithKeepAlive) {
  common::Response response = common::make_response(200, "{}", "application/json");
  response.keep_alive_header = true;
  EXPECT_EQ(head_of(response),
            "HTTP/1.1 200 OK\r\n"
            "Server: progressive/1.0\r\n"
            "Date: <date>\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: 2\r\n"
            "Connection: keep-alive\r\n"
            "\r\n");
}

TEST(AppendHead, FileResponseUsesContentLengthNotTheBody) {
  common::Response response;
  response.content_type = "image/png";
  response.content_length = 4194304;
  response.send_body = false;
  EXPECT_EQ(head_of(response),
            "HTTP/1.1 200 OK\r\n"
            "Server: progressive/1.0\r\n"
            "Date: <date>\r\n"
            "Content-Type: image/png\r\n"
            "Content-Length: 4194304\r\n"
            "\r\n");
}

TEST(AppendHead, AppendsWithoutClearing) {
  std::string out = "previous response bytes";
  common::append_head(common::make_response(204, ""), out);
  EXPECT_TRUE(out.starts_with("previous response bytesHTTP/1.1 204 Unknown\r\n")) << out;
  EXPECT_TRUE(out.ends_with("\r\nContent-Length: 0\r\n\r\n")) << out;
}

TEST(MakeResponse, SetsTheLengthFromTheBody) {
  const common::Response response = common::make_response(200, "abc", "text/css");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "abc");
  EXPECT_EQ(response.content_length, 3u);
  EXPECT_EQ(response.content_type, "text/css");
  EXPECT_TRUE(response.send_body);
  EXPECT_FALSE(response.close);
  EXPECT_FALSE(response.keep_alive_header);
  EXPECT_FALSE(response.file.valid());
  EXPECT_TRUE(response.allow.empty());
  EXPECT_EQ(common::make_response(200, "x").content_type, "text/plain");
}

TEST(MakeError, Bodies) {
  const common::Response not_found = common::make_error(404);
  EXPECT_EQ(not_found.status, 404);
  EXPECT_EQ(not_found.body, "404 Not Found\n");
  EXPECT_EQ(not_found.content_length, 14u);
  EXPECT_EQ(not_found.content_type, "text/plain");
  EXPECT_FALSE(not_found.close);
  EXPECT_EQ(common::make_error(431).body, "431 Request Header Fields Too Large\n");
  EXPECT_EQ(common::make_error(505).body, "505 HTTP Version Not Supported\n");
  EXPECT_EQ(common::make_error(999).body, "999 Unknown\n");
}

TEST(ReasonPhrase, EveryStatusWeSend) {
  EXPECT_EQ(common::reason_phrase(200), "OK");
  EXPECT_EQ(common::reason_phrase(400), "Bad Request");
  EXPECT_EQ(common::reason_phrase(403), "Forbidden");
  EXPECT_EQ(common::reason_phrase(404), "Not Found");
  EXPECT_EQ(common::reason_phrase(405), "Method Not Allowed");
  EXPECT_EQ(common::reason_phrase(408), "Request Timeout");
  EXPECT_EQ(common::reason_phrase(413), "Content Too Large");
  EXPECT_EQ(common::reason_phrase(414), "URI Too Long");
  EXPECT_EQ(common::reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(common::reason_phrase(500), "Internal Server Error");
  EXPECT_EQ(common::reason_phrase(501), "Not Implemented");
  EXPECT_EQ(common::reason_phrase(503), "Service Unavailable");
  EXPECT_EQ(common::reason_phrase(505), "HTTP Version Not Supported");
  EXPECT_EQ(common::reason_phrase(0), "Unknown");
  EXPECT_EQ(common::reason_phrase(418), "Unknown");
  EXPECT_EQ(common::reason_phrase(-1), "Unknown");
}

TEST(HttpDate, ImfFixdateFormat) {
  const std::string date(common::http_date());
  EXPECT_TRUE(is_imf_fixdate(date)) << date;
  EXPECT_EQ(date.size(), 29u);
}

TEST(HttpDate, IsNow) {
  const std::time_t before = std::time(nullptr);
  const std::string date(common::http_date());
  const std::time_t after = std::time(nullptr);
  std::tm parsed{};
  ASSERT_NE(::strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &parsed), nullptr) << date;
  const std::time_t when = ::timegm(&parsed);
  EXPECT_GE(when, before);
  EXPECT_LE(when, after);
}

TEST(HttpDate, EachThreadGetsAValidDate) {
  std::string other;
  std::thread thread([&other] { other = std::string(common::http_date()); });
  thread.join();
  EXPECT_TRUE(is_imf_fixdate(other)) << other;
  EXPECT_TRUE(is_imf_fixdate(common::http_date()));
}

}  // namespace
