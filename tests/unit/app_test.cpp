#include "common/app.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "common/http_parser.hpp"
#include "common/stats.hpp"

namespace {

using common::Response;

class AppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/app_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    docroot_ = pattern;
    std::ofstream(docroot_ + "/hello.txt") << "static hello\n";
    std::ofstream(docroot_ + "/page.HTML") << "<h1>x</h1>";
    std::filesystem::create_directory(docroot_ + "/dir");
    options_.docroot = docroot_;
    app_ = std::make_unique<common::App>(options_, kChapter, stats_, 3);
  }

  void TearDown() override {
    app_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(docroot_, ignored);
  }

  // Parses @p wire with the real parser and hands the request to the App. The wire is kept
  // alive, because the request's views point into it.
  Response send(const std::string& wire) {
    wires_.push_back(std::make_unique<std::string>(wire));
    parser_.reset();
    const common::ParseResult result = parser_.parse(*wires_.back());
    if (result.status != common::ParseStatus::kComplete) {
      ADD_FAILURE() << "the parser did not accept: " << wire;
      return common::make_error(599);
    }
    return app_->handle(parser_.request());
  }

  Response get(const std::string& target, const std::string& method = "GET") {
    return send(method + " " + target + " HTTP/1.1\r\nHost: test\r\n\r\n");
  }

  static constexpr common::ChapterInfo kChapter{"99-test", "testing", "a chapter for tests",
                                                common::kThreadsFlag};
  std::string docroot_;
  common::Options options_;
  common::Stats stats_;
  std::unique_ptr<common::App> app_;
  common::RequestParser parser_;
  std::vector<std::unique_ptr<std::string>> wires_;
};

TEST_F(AppTest, HelloWorld) {
  const Response response = get("/");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "Hello, World!");
  EXPECT_EQ(response.content_length, 13u);
  EXPECT_EQ(response.content_type, "text/plain");
  EXPECT_TRUE(response.send_body);
  EXPECT_FALSE(response.close);
  EXPECT_FALSE(response.keep_alive_header);
  EXPECT_FALSE(response.file.valid());
  EXPECT_TRUE(response.allow.empty());
}

TEST_F(AppTest, HeadKeepsTheLengthButNotTheBody) {
  const Response response = get("/", "HEAD");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_length, 13u);
  EXPECT_EQ(response.body, "");
  EXPECT_FALSE(response.send_body);
  EXPECT_EQ(response.content_type, "text/plain");
}

TEST_F(AppTest, PostEchoReturnsTheBody) {
  const Response response =
      send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 12\r\n\r\nhello\r\nworld");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "application/octet-stream");
  EXPECT_EQ(response.body, "hello\r\nworld");
  EXPECT_EQ(response.content_length, 12u);
}

TEST_F(AppTest, PostEchoReturnsBinaryBodiesByteForByte) {
  std::string body;
  for (int i = 0; i < 256; ++i) {
    body += static_cast<char>(i);
  }
  const Response response =
      send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 256\r\n\r\n" + body);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, body);
  EXPECT_EQ(response.content_length, 256u);
}

TEST_F(AppTest, PostEchoOfAChunkedBody) {
  const Response response = send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
      "chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_EQ(response.body, "abcde");
}

TEST_F(AppTest, GetEchoReturnsTheHead) {
  const std::string head = "GET /echo?x=1 HTTP/1.1\r\nHost: t\r\nX-Custom:  v \r\n";
  const Response response = send(head + "\r\n");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain");
  EXPECT_EQ(response.body, head);
  EXPECT_EQ(response.content_length, head.size());
}

TEST_F(AppTest, HeadEchoHasTheLengthOfTheHead) {
  const std::string head = "HEAD /echo HTTP/1.1\r\nHost: t\r\n";
  const Response response = send(head + "\r\n");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_length, head.size());
  EXPECT_EQ(response.body, "");
  EXPECT_FALSE(response.send_body);
}

TEST_F(AppTest, Compute) {
  Response response = get("/compute?n=100");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "25\n");
  EXPECT_EQ(get("/compute?n=1").body, "0\n");
  EXPECT_EQ(get("/compute?x=y&n=10000").body, "1229\n");
}

TEST_F(AppTest, ComputeWithABadNumberIs400) {
  for (const char* target : {"/compute", "/compute?n=", "/compute?n=0", "/compute?n=abc",
                             "/compute?n=-5", "/compute?n=10000001", "/compute?n=1e3",
                             "/compute?m=5", "/compute?n=99999999999999999999999"}) {
    SCOPED_TRACE(target);
    const Response response = get(target);
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(response.body,
              "400 Bad Request\n/compute takes n, a whole number from 1 to 10000000\n");
  }
}

TEST_F(AppTest, Sleep) {
  const Response response = get("/sleep?ms=0");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "slept 0 ms\n");
  EXPECT_FALSE(response.close);
  EXPECT_EQ(get("/sleep?ms=1").body, "slept 1 ms\n");
}

TEST_F(AppTest, SleepWithABadNumberIs400) {
  EXPECT_EQ(get("/sleep").status, 400);
  EXPECT_EQ(get("/sleep?ms=10001").status, 400);
  EXPECT_EQ(get("/sleep?ms=x").status, 400);
}

TEST_F(AppTest, StatsJson) {
  {
    common::ConnectionGuard first(stats_);
    common::ConnectionGuard second(stats_);
  }
  common::ConnectionGuard open(stats_);
  EXPECT_EQ(get("/").status, 200);
  EXPECT_EQ(get("/nope").status, 404);
  const Response response = get("/stats");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "application/json");
  // requests counts the responses before this one.
  EXPECT_EQ(response.body,
            "{\"chapter\":\"99-test\",\"model\":\"testing\",\"workers\":3,\"requests\":2,"
            "\"connections\":3,\"open_connections\":1}\n");
  EXPECT_EQ(response.content_length, response.body.size());
  EXPECT_EQ(stats_.requests.load(), 3u);
}

TEST_F(AppTest, StatsCountersComeFromTheStatsObject) {
  stats_.requests = 41;
  stats_.connections = 7;
  stats_.open_connections = -1;  // printed as signed
  EXPECT_EQ(get("/stats").body,
            "{\"chapter\":\"99-test\",\"model\":\"testing\",\"workers\":3,\"requests\":41,"
            "\"connections\":7,\"open_connections\":-1}\n");
  EXPECT_EQ(stats_.requests.load(), 42u);
}

TEST_F(AppTest, RequestsCounterIncrementsOnEveryResponse) {
  EXPECT_EQ(stats_.requests.load(), 0u);
  (void)get("/");
  EXPECT_EQ(stats_.requests.load(), 1u);
  (void)get("/nope");
  (void)get("/", "PUT");
  EXPECT_EQ(stats_.requests.load(), 3u);
  (void)app_->reject(400);
  EXPECT_EQ(stats_.requests.load(), 4u);
  EXPECT_EQ(&app_->stats(), &stats_);
}

TEST_F(AppTest, UnknownPathIs404) {
  for (const char* target : {"/nope", "/static", "/echo/", "/Echo", "//", "/stats/x", "/%2F"}) {
    SCOPED_TRACE(target);
    const Response response = get(target);
    EXPECT_EQ(response.status, 404);
    EXPECT_EQ(response.body, "404 Not Found\n");
    EXPECT_EQ(response.content_type, "text/plain");
  }
}

TEST_F(AppTest, WrongMethodIs405WithAllow) {
  for (const char* target : {"/", "/compute?n=5", "/sleep?ms=0", "/stats", "/static/hello.txt"}) {
    SCOPED_TRACE(target);
    const Response response =
        send(std::string("POST ") + target + " HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(response.status, 405);
    EXPECT_EQ(response.allow, "GET, HEAD");
    EXPECT_EQ(response.body, "405 Method Not Allowed\n");
  }
}

TEST_F(AppTest, UnknownMethodIs501) {
  for (const char* method : {"PUT", "DELETE", "OPTIONS", "get"}) {
    SCOPED_TRACE(method);
    const Response response = get("/", method);
    EXPECT_EQ(response.status, 501);
    EXPECT_EQ(response.body, "501 Not Implemented\n");
    EXPECT_TRUE(response.allow.empty());
  }
  EXPECT_EQ(get("/nope", "PUT").status, 501);  // the method is looked at before the path
}

TEST_F(AppTest, PercentEncodedRoutes) {
  const Response response = send("POST /%65cho HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "hi");
  EXPECT_EQ(get("/%73tats").status, 200);
  EXPECT_EQ(get("/static/hello%2etxt").status, 200);
}

TEST_F(AppTest, BadEscapeIs400) {
  // A malformed escape is the parser's 400 (http_parser_test); a NUL is well-formed and the
  // app's to refuse.
  for (const char* target : {"/%00", "/static/a%00.txt", "/echo%00"}) {
    SCOPED_TRACE(target);
    const Response response = get(target);
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(response.body, "400 Bad Request\nthe path decodes to a NUL byte\n");
  }
}

TEST_F(AppTest, AbsoluteFormTargetIsRouted) {
  EXPECT_EQ(get("http://test/compute?n=10").body, "4\n");
  EXPECT_EQ(get("http://test").body, "Hello, World!");
}

TEST_F(AppTest, StaticFile) {
  const Response response = get("/static/hello.txt");
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(response.file.valid());
  EXPECT_EQ(response.content_length, 13u);
  EXPECT_EQ(response.content_type, "text/plain; charset=utf-8");
  EXPECT_TRUE(response.send_body);
  char content[32] = {};
  EXPECT_EQ(::pread(response.file.get(), content, sizeof content, 0), 13);
  EXPECT_STREQ(content, "static hello\n");
  EXPECT_EQ(get("/static/page.HTML").content_type, "text/html; charset=utf-8");
}

TEST_F(AppTest, HeadOfAStaticFileSendsNoFile) {
  const Response response = get("/static/hello.txt", "HEAD");
  EXPECT_EQ(response.status, 200);
  EXPECT_FALSE(response.file.valid());
  EXPECT_FALSE(response.send_body);
  EXPECT_EQ(response.content_length, 13u);
}

TEST_F(AppTest, StaticMissesAre404) {
  for (const char* target :
       {"/static/", "/static/nope.txt", "/static/dir", "/static/../hello.txt",
        "/static/%2e%2e/hello.txt", "/static//etc/passwd", "/static/%2fetc/passwd"}) {
    SCOPED_TRACE(target);
    const Response response = get(target);
    EXPECT_EQ(response.status, 404);
    EXPECT_FALSE(response.file.valid());
  }
}

TEST_F(AppTest, ConnectionRules) {
  struct Case {
    std::string wire;
    bool close;
    bool keep_alive_header;
  };
  const std::vector<Case> cases = {
      {"GET / HTTP/1.1\r\nHost: t\r\n\r\n", false, false},
      {"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", true, false},
      {"GET / HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n", false, false},
      {"GET / HTTP/1.0\r\n\r\n", true, false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, true},
      {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", true, false},
      {"GET /nope HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.wire);
    const Response response = send(c.wire);
    EXPECT_EQ(response.close, c.close);
    EXPECT_EQ(response.keep_alive_header, c.keep_alive_header);
  }
}

TEST_F(AppTest, RejectCloses) {
  const Response response = app_->reject(413);
  EXPECT_EQ(response.status, 413);
  EXPECT_TRUE(response.close);
  EXPECT_FALSE(response.keep_alive_header);
  EXPECT_EQ(response.body, "413 Content Too Large\n");
  EXPECT_EQ(response.content_length, 22u);
  EXPECT_EQ(stats_.requests.load(), 1u);
}

TEST_F(AppTest, TimeoutIs408AndCloses) {
  const Response response = app_->timeout();
  EXPECT_EQ(response.status, 408);
  EXPECT_TRUE(response.close);
  EXPECT_EQ(response.body,
            "408 Request Timeout\nthe request did not arrive within the request timeout\n");
  EXPECT_EQ(stats_.requests.load(), 1u);
}

TEST_F(AppTest, ARejectionSaysWhyInItsBody) {
  const Response response = app_->reject(400, "bare LF in the request line");
  EXPECT_EQ(response.status, 400);
  EXPECT_TRUE(response.close);
  EXPECT_EQ(response.body, "400 Bad Request\nbare LF in the request line\n");
  EXPECT_EQ(response.content_length, response.body.size());
}

TEST(App, MissingDocrootThrows) {
  common::Options options;
  options.docroot = "/nonexistent/docroot/for/app_test";
  common::Stats stats;
  const common::ChapterInfo chapter{"x", "y", "z", 0};
  try {
    const common::App app(options, chapter, stats, 1);
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/docroot/for/app_test"), std::string::npos);
  }
}

TEST(CountPrimes, KnownValues) {
  EXPECT_EQ(common::count_primes(0), 0u);
  EXPECT_EQ(common::count_primes(1), 0u);
  EXPECT_EQ(common::count_primes(2), 1u);
  EXPECT_EQ(common::count_primes(3), 2u);
  EXPECT_EQ(common::count_primes(4), 2u);
  EXPECT_EQ(common::count_primes(10), 4u);
  EXPECT_EQ(common::count_primes(100), 25u);
  EXPECT_EQ(common::count_primes(1000), 168u);
  EXPECT_EQ(common::count_primes(10000), 1229u);
}

TEST(QueryNumber, Values) {
  EXPECT_EQ(common::query_number("n=10", "n", 1, 100), 10u);
  EXPECT_EQ(common::query_number("a=1&n=7&b", "n", 1, 100), 7u);
  EXPECT_EQ(common::query_number("n=5&", "n", 1, 100), 5u);
  EXPECT_EQ(common::query_number("n=1&n=2", "n", 1, 100), 1u);  // the first one counts
  EXPECT_EQ(common::query_number("nn=3&n=4", "n", 1, 100), 4u);
  EXPECT_EQ(common::query_number("ms=0", "ms", 0, 10), 0u);
  EXPECT_EQ(common::query_number("n=007", "n", 1, 100), 7u);
}

TEST(QueryNumber, Bounds) {
  EXPECT_EQ(common::query_number("n=1", "n", 1, 100), 1u);
  EXPECT_EQ(common::query_number("n=100", "n", 1, 100), 100u);
  EXPECT_EQ(common::query_number("n=0", "n", 1, 100), std::nullopt);
  EXPECT_EQ(common::query_number("n=101", "n", 1, 100), std::nullopt);
  EXPECT_EQ(common::query_number("n=18446744073709551615", "n", 0, UINT64_MAX), UINT64_MAX);
  EXPECT_EQ(common::query_number("n=18446744073709551616", "n", 0, UINT64_MAX), std::nullopt);
}

TEST(QueryNumber, Invalid) {
  for (const char* query : {"", "n", "n=", "n=x", "n=5x", "n=-1", "n=+1", "n= 5", "n=5 ", "N=5",
                            "m=5", "n=0x10", "n=1.5"}) {
    SCOPED_TRACE(query);
    EXPECT_EQ(common::query_number(query, "n", 0, 1000), std::nullopt);
  }
}

TEST(QueryNumber, TheFirstMatchDecidesEvenIfInvalid) {
  EXPECT_EQ(common::query_number("n=x&n=5", "n", 0, 10), std::nullopt);
}

}  // namespace
