// Chapter 04's Connection, driven by hand over a socket pair: the steps an event loop runs, with
// the test as the loop and as the client. The protocol's own rules are tested without a socket
// (protocol_test.cpp); here, what the readiness driver adds: draining reads, the sink, expiry.
#include "chapters/04-polling/connection.hpp"

#include <unistd.h>

#include <gtest/gtest.h>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/app.hpp"
#include "common/stats.hpp"
#include "socket_pair.hpp"

namespace {

using polling::Connection;
using polling::ConnectionId;
using polling::Context;
using polling::Interest;

constexpr common::ChapterInfo kChapter{.name = "04-polling", .model = "polling", .summary = "t"};

constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
constexpr std::string_view kGetClose = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

std::string read_now(int fd) {
  std::string out;
  char chunk[65536];
  for (ssize_t n; (n = ::read(fd, chunk, sizeof chunk)) > 0;) {
    out.append(chunk, static_cast<std::size_t>(n));
  }
  return out;
}

std::size_t count(const std::string& text, std::string_view what) {
  std::size_t found = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++found;
  }
  return found;
}

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/polling_connection_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    docroot_ = pattern;
    std::ofstream(docroot_ + "/a.txt") << "static a\n";
    options_.docroot = docroot_;
    app_ = std::make_unique<common::App>(options_, kChapter, stats_, 1);
    test_support::SocketPair pair = test_support::make_socket_pair();
    client_ = std::move(pair.b);
    connection_ = std::make_unique<Connection>(std::move(pair.a), *app_, options_, 1);
  }

  void TearDown() override {
    connection_.reset();
    app_.reset();
    std::filesystem::remove_all(docroot_);
  }

  void send(std::string_view bytes) {
    ASSERT_EQ(::write(client_.get(), bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }

  // A context whose sink records what it is offered and takes it unless told to refuse.
  Context with_sink() {
    sink_ = [this](ConnectionId id, common::Protocol& protocol) {
      EXPECT_EQ(id.serial, 1u);
      const common::Protocol::Requests requests = protocol.ready_requests(16);
      if (requests.count == 0) {
        return;
      }
      offers_.push_back({std::string(requests.bytes), requests.count});
      if (!refuse_) {
        protocol.take(requests);
      }
    };
    return {&sink_};
  }

  static Context inline_context() { return {}; }

  struct Offer {
    std::string requests;
    std::size_t count;
  };

  std::string docroot_;
  common::Options options_;
  common::Stats stats_;
  std::unique_ptr<common::App> app_;
  common::Fd client_;
  std::unique_ptr<Connection> connection_;
  polling::RequestSink sink_;
  std::vector<Offer> offers_;
  bool refuse_ = false;
};

TEST_F(ConnectionTest, InlinePipelinedRequestsAreAnsweredInOrderInOneStep) {
  send(std::string(kGet) + "GET /static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(connection_->service(inline_context()), Interest::kInput);
  const std::string out = read_now(client_.get());
  ASSERT_EQ(count(out, "HTTP/1.1 200 OK"), 2u) << out;
  EXPECT_LT(out.find("Hello, World!"), out.find("static a"));
}

TEST_F(ConnectionTest, ARequestInTwoPiecesIsAnsweredOnceWhole) {
  send("GET / HTTP/1.1\r\nHo");
  EXPECT_EQ(connection_->service(inline_context()), Interest::kInput);
  EXPECT_EQ(read_now(client_.get()), "");
  send("st: x\r\n\r\n");
  EXPECT_EQ(connection_->service(inline_context()), Interest::kInput);
  EXPECT_EQ(count(read_now(client_.get()), "HTTP/1.1 200 OK"), 1u);
}

TEST_F(ConnectionTest, ABatchGoesToTheSinkWholeAndItsAnswersLeaveInOrder) {
  const Context ctx = with_sink();
  const std::string three = "GET /sleep?ms=1 HTTP/1.1\r\nHost: x\r\n\r\n" + std::string(kGet) +
                            "GET /static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n";
  send(three);
  EXPECT_EQ(connection_->service(ctx), Interest::kInput);
  ASSERT_EQ(offers_.size(), 1u);
  EXPECT_EQ(offers_[0].count, 3u);
  EXPECT_EQ(offers_[0].requests, three);
  EXPECT_TRUE(connection_->deadline(ctx) == common::kNoDeadline) << "a handler works: not late";

  // A fourth request while the batch is out is read, but not offered: one batch at a time.
  send(kGet);
  EXPECT_EQ(connection_->service(ctx), Interest::kInput);
  EXPECT_EQ(offers_.size(), 1u);

  std::vector<common::Response> answers;
  for (const char* body : {"first", "second", "third"}) {
    answers.push_back(common::make_response(200, body));
  }
  EXPECT_EQ(connection_->answered(ctx, std::move(answers)), Interest::kInput);
  const std::string out = read_now(client_.get());
  ASSERT_NE(out.find("first"), std::string::npos);
  EXPECT_LT(out.find("first"), out.find("second"));
  EXPECT_LT(out.find("second"), out.find("third"));
  ASSERT_EQ(offers_.size(), 2u) << "the request that waited is the next batch";
  EXPECT_EQ(offers_[1].count, 1u);
}

TEST_F(ConnectionTest, AClosingRequestEndsTheBatchAndNothingAfterItIsTaken) {
  const Context ctx = with_sink();
  send(std::string(kGetClose) + std::string(kGet));
  EXPECT_EQ(connection_->service(ctx), Interest::kInput);
  ASSERT_EQ(offers_.size(), 1u);
  EXPECT_EQ(offers_[0].count, 1u);
  common::Response last = common::make_response(200, "bye");
  last.close = true;
  std::vector<common::Response> answers;
  answers.push_back(std::move(last));
  answers.push_back(common::make_response(200, "never sent"));
  // Input follows the closing response, so the connection lingers (FIN, then drain).
  EXPECT_EQ(connection_->answered(ctx, std::move(answers)), Interest::kInput);
  const std::string out = read_now(client_.get());
  EXPECT_NE(out.find("bye"), std::string::npos);
  EXPECT_EQ(out.find("never sent"), std::string::npos);
  EXPECT_EQ(offers_.size(), 1u);
  client_.reset();  // the client closes: the lingering connection is done
  EXPECT_EQ(connection_->service(ctx), Interest::kClose);
}

TEST_F(ConnectionTest, ARefusedBatchStaysBufferedUntilRetried) {
  const Context ctx = with_sink();
  refuse_ = true;
  send(kGet);
  EXPECT_EQ(connection_->service(ctx), Interest::kInput);
  ASSERT_EQ(offers_.size(), 1u);
  send(kGet);  // not read, not offered: back-pressure until retry()
  EXPECT_EQ(connection_->service(ctx), Interest::kInput);
  EXPECT_EQ(offers_.size(), 1u);
  refuse_ = false;
  EXPECT_EQ(connection_->retry(ctx), Interest::kInput);
  ASSERT_EQ(offers_.size(), 2u);
  EXPECT_EQ(offers_[1].count, 2u) << "the refused request, and the one that waited in the kernel";
}

TEST_F(ConnectionTest, AMalformedRequestAfterABatchIsAnsweredAfterTheBatch) {
  const Context ctx = with_sink();
  send(std::string(kGet) + "BAD\r\n\r\n");
  EXPECT_EQ(connection_->service(ctx), Interest::kInput);
  ASSERT_EQ(offers_.size(), 1u);
  EXPECT_EQ(offers_[0].count, 1u);
  EXPECT_EQ(read_now(client_.get()), "") << "the 400 must not overtake the batch's answer";
  std::vector<common::Response> answers;
  answers.push_back(common::make_response(200, "good"));
  static_cast<void>(connection_->answered(ctx, std::move(answers)));
  const std::string out = read_now(client_.get());
  ASSERT_NE(out.find("good"), std::string::npos);
  ASSERT_NE(out.find("400 Bad Request"), std::string::npos);
  EXPECT_LT(out.find("good"), out.find("400 Bad Request"));
}

TEST_F(ConnectionTest, ExpiryBeforeTheDeadlineChangesNothing) {
  EXPECT_EQ(connection_->expired(inline_context()), Interest::kInput);
  send(kGet);
  EXPECT_EQ(connection_->service(inline_context()), Interest::kInput);
  EXPECT_EQ(count(read_now(client_.get()), "HTTP/1.1 200 OK"), 1u);
}

// With timeouts of 50 ms: what expiry does to each kind of wait once its deadline has passed.
class ExpiryTest : public ConnectionTest {
 protected:
  void SetUp() override {
    options_.idle_timeout = options_.request_timeout = std::chrono::milliseconds(50);
    ConnectionTest::SetUp();
  }

  static void let_deadline_pass() { std::this_thread::sleep_for(std::chrono::milliseconds(60)); }
};

TEST_F(ExpiryTest, AnIdleClientIsClosedSilently) {
  let_deadline_pass();
  EXPECT_EQ(connection_->expired(inline_context()), Interest::kClose);
  EXPECT_EQ(read_now(client_.get()), "");
}

TEST_F(ExpiryTest, AHalfRequestGets408) {
  send("GET / HT");
  static_cast<void>(connection_->service(inline_context()));
  let_deadline_pass();
  static_cast<void>(connection_->expired(inline_context()));
  EXPECT_NE(read_now(client_.get()).find("408 Request Timeout"), std::string::npos);
}

// The loop was busy (a handler blocked it) past the client's deadline, and the request arrived
// meanwhile, unread: the client is not late, and is answered.
TEST_F(ExpiryTest, ARequestThatArrivedWhileTheRunnerWasBusyIsAnsweredNotTimedOut) {
  send(kGet);  // no service(): the runner never got to it
  let_deadline_pass();
  EXPECT_EQ(connection_->expired(inline_context()), Interest::kInput);
  const std::string out = read_now(client_.get());
  EXPECT_EQ(count(out, "HTTP/1.1 200 OK"), 1u) << out;
  EXPECT_EQ(out.find("408"), std::string::npos) << out;
}

}  // namespace
