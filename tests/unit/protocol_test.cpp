// The connection protocol with no socket at all: the test is the driver. It feeds bytes, the
// client's end of stream and the clock, plays the writer by taking what the Output holds, and
// checks what the protocol asks to wait for and until when.
#include "common/protocol.hpp"

#include <unistd.h>

#include <gtest/gtest.h>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/app.hpp"
#include "common/stats.hpp"

namespace {

using namespace std::chrono_literals;
using common::Deadline;
using common::Next;
using common::Protocol;
using common::Waiting;
using Phase = common::Protocol::Phase;

constexpr common::ChapterInfo kChapter{.name = "test", .model = "test", .summary = "t"};
constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
constexpr std::string_view kGetClose = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

// The driver's output queue, as text: what a writer would send, in order. `unread` plays a
// client that has not read that many bytes yet.
class TextOutput final : public common::Output {
 public:
  void push(common::Response response) override {
    common::append_head(response, text_);
    if (response.send_body) {
      text_ += response.file.valid() ? "<file>" : response.body;
    }
  }
  void push_bytes(std::string_view bytes) override { text_ += bytes; }
  bool empty() const noexcept override { return text_.empty() && unread == 0; }
  std::uint64_t pending_bytes() const noexcept override { return text_.size() + unread; }

  // Everything queued, as if written; the queue is empty after.
  std::string take() { return std::exchange(text_, {}); }

  std::uint64_t unread = 0;

 private:
  std::string text_;
};

std::size_t count(const std::string& text, std::string_view what) {
  std::size_t found = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++found;
  }
  return found;
}

class ProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/protocol_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    docroot_ = pattern;
    options_.docroot = docroot_;
    options_.idle_timeout = 5s;
    options_.request_timeout = 10s;
    app_ = std::make_unique<common::App>(options_, kChapter, stats_, 1);
    protocol_ = std::make_unique<Protocol>(*app_, options_, out_, t0_);
  }

  void TearDown() override {
    protocol_.reset();
    app_.reset();
    std::filesystem::remove_all(docroot_);
  }

  // Bytes arrive at @p at, and the driver answers what is complete.
  void arrive(std::string_view bytes, Deadline at) {
    protocol_->receive(bytes, at);
    static_cast<void>(protocol_->answer(at));
  }
  void arrive(std::string_view bytes) { arrive(bytes, t0_); }

  Protocol& p() { return *protocol_; }

  const Deadline t0_ = common::Clock::now();
  std::string docroot_;
  common::Options options_;
  common::Stats stats_;
  std::unique_ptr<common::App> app_;
  TextOutput out_;
  std::unique_ptr<Protocol> protocol_;
};

// --- Requests and answers -----------------------------------------------------------------

TEST_F(ProtocolTest, ARequestFedByteByByteIsAnsweredOnceWhenComplete) {
  for (std::size_t i = 0; i + 1 < kGet.size(); ++i) {
    arrive(kGet.substr(i, 1));
    ASSERT_EQ(out_.take(), "") << "answered before its last byte, at byte " << i;
  }
  arrive(kGet.substr(kGet.size() - 1));
  const std::string sent = out_.take();
  EXPECT_EQ(count(sent, "HTTP/1.1 200 OK"), 1u) << sent;
  EXPECT_NE(sent.find("Hello, World!"), std::string::npos);
  EXPECT_EQ(p().next(t0_), Next::kRead);
}

TEST_F(ProtocolTest, APipelinedBurstIsAnsweredInOrderInOnePass) {
  arrive("GET /echo HTTP/1.1\r\nHost: one\r\n\r\n" + std::string(kGet) +
         "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string sent = out_.take();
  ASSERT_EQ(count(sent, "HTTP/1.1 "), 3u) << sent;
  EXPECT_LT(sent.find("Host: one"), sent.find("Hello, World!"));
  EXPECT_LT(sent.find("Hello, World!"), sent.find("404 Not Found"));
  EXPECT_EQ(p().phase(), Phase::kReading);
}

TEST_F(ProtocolTest, AMalformedRequestAfterGoodOnesIsAnsweredLastAndEndsTheConnection) {
  arrive(std::string(kGet) + "BAD\r\n\r\n" + std::string(kGet));
  const std::string sent = out_.take();
  ASSERT_EQ(count(sent, "HTTP/1.1 "), 2u) << "nothing is answered after the malformed one";
  EXPECT_LT(sent.find("200 OK"), sent.find("400 Bad Request"));
  EXPECT_NE(sent.find("Connection: close"), std::string::npos);
  EXPECT_EQ(p().phase(), Phase::kClosing);
  EXPECT_TRUE(p().input_follows()) << "the client may still be sending: the close must linger";
  EXPECT_EQ(p().next(t0_), Next::kLinger);
}

TEST_F(ProtocolTest, ExpectContinueGetsOneInterimAnswerThenTheRealOne) {
  arrive("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(out_.take(), "HTTP/1.1 100 Continue\r\n\r\n");
  arrive("he");
  EXPECT_EQ(out_.take(), "") << "100 Continue is sent once per request";
  arrive("llo");
  const std::string sent = out_.take();
  EXPECT_EQ(count(sent, "HTTP/1.1 200 OK"), 1u) << sent;
  EXPECT_EQ(sent.find("100 Continue"), std::string::npos);
  EXPECT_TRUE(sent.ends_with("hello"));
}

TEST_F(ProtocolTest, ExpectContinueWithItsBodyAlreadyHereGetsNoInterimAnswer) {
  arrive("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhe");
  EXPECT_EQ(out_.take(), "");
}

TEST_F(ProtocolTest, NothingAfterAClosingAnswerIsReadAsARequest) {
  arrive(std::string(kGetClose) + std::string(kGet));
  EXPECT_EQ(count(out_.take(), "HTTP/1.1 200 OK"), 1u);
  EXPECT_EQ(p().phase(), Phase::kClosing);
  EXPECT_TRUE(p().wants_input()) << "input is still read after the closing answer, to discard";
  arrive(kGet);  // more, after it
  EXPECT_EQ(out_.take(), "");
  EXPECT_TRUE(p().input_follows());
  EXPECT_EQ(p().next(t0_), Next::kLinger);
  EXPECT_EQ(p().phase(), Phase::kLingering);
  arrive(kGet);
  EXPECT_EQ(out_.take(), "") << "discarded while lingering";
  EXPECT_EQ(p().next(t0_), Next::kRead) << "lingering waits for the client's end of stream";
  p().peer_closed();
  EXPECT_EQ(p().next(t0_), Next::kClose);
}

TEST_F(ProtocolTest, AClosingAnswerWithNothingAfterItClosesAtOnceWhenTheClientHasClosed) {
  arrive(kGetClose);
  EXPECT_EQ(p().next(t0_), Next::kWrite) << "the answer must leave first";
  out_.take();
  EXPECT_FALSE(p().input_follows());
  p().peer_closed();
  EXPECT_EQ(p().next(t0_), Next::kClose);
}

TEST_F(ProtocolTest, AHalfCloseStillGetsTheAnswersToWhatArrivedThenCloses) {
  p().receive(std::string(kGet) + std::string(kGet), t0_);
  p().peer_closed();
  EXPECT_FALSE(p().wants_input());
  static_cast<void>(p().answer(t0_));
  EXPECT_EQ(count(out_.take(), "HTTP/1.1 200 OK"), 2u);
  EXPECT_EQ(p().next(t0_), Next::kClose);
}

TEST_F(ProtocolTest, AHalfRequestBeforeTheClientsCloseIsDropped) {
  arrive("GET / HT");
  p().peer_closed();
  EXPECT_EQ(out_.take(), "");
  EXPECT_EQ(p().next(t0_), Next::kClose);
}

TEST_F(ProtocolTest, AnswersStopAtTheOutputCapAndResumeWhenItDrains) {
  out_.unread = common::kOutputCap;  // the client reads nothing
  arrive(kGet);
  EXPECT_FALSE(p().wants_input()) << "a client that does not read is not read either";
  EXPECT_TRUE(p().answer(t0_)) << "answer() says it stopped at the cap";
  EXPECT_EQ(out_.take(), "");
  EXPECT_EQ(p().next(t0_), Next::kWrite);
  out_.unread = 0;  // it read everything
  EXPECT_TRUE(p().wants_input());
  EXPECT_FALSE(p().answer(t0_));
  EXPECT_EQ(count(out_.take(), "HTTP/1.1 200 OK"), 1u);
}

// --- Deadlines ------------------------------------------------------------------------------

TEST_F(ProtocolTest, AnIdleConnectionWaitsForItsNextRequestFromItsLastAnswer) {
  EXPECT_EQ(p().waiting(), Waiting::kNextRequest);
  EXPECT_EQ(p().deadline(), t0_ + options_.idle_timeout);
  arrive(kGet, t0_ + 2s);
  out_.take();
  p().sent(t0_ + 3s);  // the answer left
  EXPECT_EQ(p().deadline(), t0_ + 3s + options_.idle_timeout);
}

TEST_F(ProtocolTest, TheRequestTimeoutRunsFromARequestsFirstByteAndMoreBytesDoNotMoveIt) {
  arrive("GET / H", t0_ + 1s);
  EXPECT_EQ(p().waiting(), Waiting::kRestOfRequest);
  EXPECT_EQ(p().deadline(), t0_ + 1s + options_.request_timeout);
  arrive("TTP/1.1\r\n", t0_ + 4s);
  EXPECT_EQ(p().deadline(), t0_ + 1s + options_.request_timeout);
}

TEST_F(ProtocolTest, ASlowReaderHasTheRequestTimeoutFromItsLastProgress) {
  out_.unread = 100;  // a response not yet read
  arrive(kGet, t0_ + 1s);
  EXPECT_EQ(p().waiting(), Waiting::kReader);
  p().sent(t0_ + 2s);
  EXPECT_EQ(p().deadline(), t0_ + 2s + options_.request_timeout);
}

TEST_F(ProtocolTest, LingeringLastsTheLingerTimeFromTheFin) {
  arrive(std::string(kGetClose) + "x");
  out_.take();
  EXPECT_EQ(p().next(t0_ + 1s), Next::kLinger);
  EXPECT_EQ(p().waiting(), Waiting::kPeerClose);
  EXPECT_EQ(p().deadline(), t0_ + 1s + common::kLingerTime);
  p().expired(t0_ + 1s + common::kLingerTime);
  EXPECT_EQ(p().next(t0_), Next::kClose);
}

TEST_F(ProtocolTest, AHalfRequestPastItsDeadlineGets408AndTheCloseLingers) {
  arrive("GET / HT", t0_);
  p().expired(t0_ + options_.request_timeout);
  const std::string sent = out_.take();
  EXPECT_NE(sent.find("408 Request Timeout"), std::string::npos) << sent;
  EXPECT_NE(sent.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(p().input_follows());
  EXPECT_EQ(p().next(t0_ + options_.request_timeout), Next::kLinger);
}

TEST_F(ProtocolTest, AnIdleConnectionPastItsDeadlineIsClosedSilently) {
  p().expired(t0_ + options_.idle_timeout);
  EXPECT_EQ(out_.take(), "");
  EXPECT_EQ(p().next(t0_), Next::kClose);
}

TEST_F(ProtocolTest, ADeadlineThatMovedIsNotExpired) {
  arrive("GET / HT", t0_);
  arrive("TP/1.1\r\nHost: x\r\n\r\n", t0_ + 9s);  // it completed just in time
  out_.take();
  p().expired(t0_ + options_.request_timeout);
  EXPECT_EQ(out_.take(), "");
  EXPECT_EQ(p().next(t0_ + options_.request_timeout), Next::kRead);
}

TEST_F(ProtocolTest, AStalledReaderPastItsDeadlineIsClosed) {
  out_.unread = 100;
  arrive(kGet, t0_);
  p().expired(t0_ + options_.request_timeout);
  EXPECT_EQ(p().phase(), Phase::kClosed);
}

TEST_F(ProtocolTest, ShutdownClosesAnIdleConnectionAndGivesOneInFlightItsGrace) {
  EXPECT_TRUE(p().idle());
  p().stop(t0_ + 1500ms);
  EXPECT_EQ(p().next(t0_), Next::kClose);

  TextOutput out;
  Protocol busy(*app_, options_, out, t0_);
  out.unread = 100;
  busy.receive(kGet, t0_);
  static_cast<void>(busy.answer(t0_));
  EXPECT_FALSE(busy.idle());
  busy.stop(t0_ + 1500ms);
  EXPECT_EQ(busy.deadline(), t0_ + 1500ms) << "the grace, not the request timeout";
  busy.expired(t0_ + 1500ms);
  EXPECT_EQ(busy.phase(), Phase::kClosed);
}

// --- Requests answered elsewhere ------------------------------------------------------------

TEST_F(ProtocolTest, ABatchIsOfferedWholeTakenAndItsAnswersLeaveInOrder) {
  const std::string three =
      "GET /sleep?ms=1 HTTP/1.1\r\nHost: x\r\n\r\n" + std::string(kGet) + std::string(kGet);
  p().receive(three, t0_);
  const Protocol::Requests batch = p().ready_requests(16);
  ASSERT_EQ(batch.count, 3u);
  EXPECT_EQ(batch.bytes, three);
  p().take(batch);
  EXPECT_EQ(p().phase(), Phase::kHandling);
  EXPECT_EQ(p().waiting(), Waiting::kHandler);
  EXPECT_EQ(p().deadline(), common::kNoDeadline) << "a handler works: the client is not late";
  EXPECT_EQ(p().next(t0_), Next::kHandler);

  p().receive(kGet, t0_);  // read ahead while the batch is out, but not offered
  EXPECT_EQ(p().ready_requests(16).count, 0u) << "one batch out at a time";

  std::vector<common::Response> answers;
  for (const char* body : {"first", "second", "third"}) {
    answers.push_back(common::make_response(200, body));
  }
  p().answered(std::move(answers), t0_);
  const std::string sent = out_.take();
  EXPECT_LT(sent.find("first"), sent.find("second"));
  EXPECT_LT(sent.find("second"), sent.find("third"));
  EXPECT_EQ(p().ready_requests(16).count, 1u) << "the request read ahead is the next batch";
}

TEST_F(ProtocolTest, ABatchEndsAtAClosingRequestAndNothingAfterItsClosingAnswerIsSent) {
  p().receive(std::string(kGetClose) + std::string(kGet), t0_);
  const Protocol::Requests batch = p().ready_requests(16);
  ASSERT_EQ(batch.count, 1u);
  p().take(batch);
  common::Response last = common::make_response(200, "bye");
  last.close = true;
  std::vector<common::Response> answers;
  answers.push_back(std::move(last));
  answers.push_back(common::make_response(200, "never sent"));
  p().answered(std::move(answers), t0_);
  const std::string sent = out_.take();
  EXPECT_NE(sent.find("bye"), std::string::npos);
  EXPECT_EQ(sent.find("never sent"), std::string::npos);
  EXPECT_TRUE(p().input_follows());
  EXPECT_EQ(p().next(t0_), Next::kLinger);
}

TEST_F(ProtocolTest, AMalformedRequestAfterABatchIsAnsweredAfterTheBatch) {
  p().receive(std::string(kGet) + "BAD\r\n\r\n", t0_);
  const Protocol::Requests batch = p().ready_requests(16);
  ASSERT_EQ(batch.count, 1u);
  p().take(batch);
  EXPECT_EQ(out_.take(), "") << "the 400 must not overtake the batch's answer";
  std::vector<common::Response> answers;
  answers.push_back(common::make_response(200, "good"));
  p().answered(std::move(answers), t0_);
  EXPECT_EQ(p().ready_requests(16).count, 0u);
  const std::string sent = out_.take();
  ASSERT_NE(sent.find("400 Bad Request"), std::string::npos) << sent;
  EXPECT_LT(sent.find("good"), sent.find("400 Bad Request"));
}

TEST_F(ProtocolTest, AnOfferNotTakenWaitsQueuedUntilRetryThenComesAgainWithWhatFollowed) {
  p().receive(kGet, t0_);
  ASSERT_EQ(p().ready_requests(16).count, 1u);  // not taken: the handler had no room
  EXPECT_EQ(p().phase(), Phase::kQueued);
  EXPECT_FALSE(p().wants_input()) << "back-pressure: nothing more is read";
  EXPECT_EQ(p().deadline(), common::kNoDeadline) << "the server is behind, not the client";
  EXPECT_EQ(p().ready_requests(16).count, 0u) << "offered once until retry()";
  p().retry();
  EXPECT_TRUE(p().wants_input());
  p().receive(kGet, t0_);
  const Protocol::Requests again = p().ready_requests(16);
  EXPECT_EQ(again.count, 2u);
  EXPECT_EQ(again.bytes, std::string(kGet) + std::string(kGet));
}

TEST_F(ProtocolTest, ReadingAheadStopsAtItsLimitWhileAHandlerWorks) {
  p().receive(kGet, t0_);
  p().take(p().ready_requests(16));
  EXPECT_TRUE(p().wants_input());
  p().receive(std::string(common::kReadAhead, 'x'), t0_);
  EXPECT_FALSE(p().wants_input());
}

TEST_F(ProtocolTest, TheBatchLimitIsHonoured) {
  std::string many;
  for (int i = 0; i < 5; ++i) {
    many += kGet;
  }
  p().receive(many, t0_);
  EXPECT_EQ(p().ready_requests(2).count, 2u);
}

}  // namespace
