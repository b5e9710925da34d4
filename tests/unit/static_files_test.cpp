#include "common/static_files.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using common::StaticError;

TEST(PercentDecode, PlainTextIsUnchanged) {
  EXPECT_EQ(common::percent_decode("/static/index.html"), "/static/index.html");
  EXPECT_EQ(common::percent_decode(""), "");
}

TEST(PercentDecode, ValidEscapes) {
  EXPECT_EQ(common::percent_decode("/%65cho"), "/echo");
  EXPECT_EQ(common::percent_decode("a%20b"), "a b");
  EXPECT_EQ(common::percent_decode("%2e%2E"), "..");
  EXPECT_EQ(common::percent_decode("%2F"), "/");
  EXPECT_EQ(common::percent_decode("%C3%a9"), "\xc3\xa9");
  EXPECT_EQ(common::percent_decode("%25"), "%");
  EXPECT_EQ(common::percent_decode("%252e"), "%2e");  // decoded once, not twice
  EXPECT_EQ(common::percent_decode("%ff"), "\xff");
  EXPECT_EQ(common::percent_decode("%01"), "\x01");
}

TEST(PercentDecode, PlusIsKept) {
  EXPECT_EQ(common::percent_decode("a+b"), "a+b");
}

TEST(PercentDecode, MalformedEscapes) {
  EXPECT_EQ(common::percent_decode("%4"), std::nullopt);
  EXPECT_EQ(common::percent_decode("abc%"), std::nullopt);
  EXPECT_EQ(common::percent_decode("%"), std::nullopt);
  EXPECT_EQ(common::percent_decode("%zz"), std::nullopt);
  EXPECT_EQ(common::percent_decode("%4g"), std::nullopt);
  EXPECT_EQ(common::percent_decode("%g4"), std::nullopt);
  EXPECT_EQ(common::percent_decode("% 41"), std::nullopt);
  EXPECT_EQ(common::percent_decode("ok%4"), std::nullopt);
}

TEST(PercentDecode, EncodedNulIsRefused) {
  EXPECT_EQ(common::percent_decode("%00"), std::nullopt);
  EXPECT_EQ(common::percent_decode("a.txt%00.html"), std::nullopt);
}

TEST(ContentType, KnownExtensions) {
  EXPECT_EQ(common::content_type_for("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(common::content_type_for("old.htm"), "text/html; charset=utf-8");
  EXPECT_EQ(common::content_type_for("s.css"), "text/css; charset=utf-8");
  EXPECT_EQ(common::content_type_for("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(common::content_type_for("d.json"), "application/json");
  EXPECT_EQ(common::content_type_for("a/b/readme.txt"), "text/plain; charset=utf-8");
  EXPECT_EQ(common::content_type_for("i.png"), "image/png");
  EXPECT_EQ(common::content_type_for("i.jpg"), "image/jpeg");
  EXPECT_EQ(common::content_type_for("i.jpeg"), "image/jpeg");
  EXPECT_EQ(common::content_type_for("i.gif"), "image/gif");
  EXPECT_EQ(common::content_type_for("i.svg"), "image/svg+xml");
  EXPECT_EQ(common::content_type_for("favicon.ico"), "image/x-icon");
}

TEST(ContentType, ExtensionCaseIsIgnored) {
  EXPECT_EQ(common::content_type_for("INDEX.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(common::content_type_for("photo.JpG"), "image/jpeg");
}

TEST(ContentType, UnknownOrMissingExtension) {
  EXPECT_EQ(common::content_type_for("big.bin"), "application/octet-stream");
  EXPECT_EQ(common::content_type_for("Makefile"), "application/octet-stream");
  EXPECT_EQ(common::content_type_for(""), "application/octet-stream");
  EXPECT_EQ(common::content_type_for("page.html.gz"), "application/octet-stream");
  EXPECT_EQ(common::content_type_for("dot."), "application/octet-stream");
  EXPECT_EQ(common::content_type_for("html"), "application/octet-stream");
}

TEST(ContentType, LastExtensionWins) {
  EXPECT_EQ(common::content_type_for("archive.tar.json"), "application/json");
  EXPECT_EQ(common::content_type_for(".html"), "text/html; charset=utf-8");
}

TEST(ContentType, DotInADirectoryNameIsNotAnExtension) {
  EXPECT_EQ(common::content_type_for("v1.html/README"), "application/octet-stream");
  EXPECT_EQ(common::content_type_for("a.css/b"), "application/octet-stream");
  EXPECT_EQ(common::content_type_for("a.d/b.png"), "image/png");
}

// A temporary directory, removed with its contents at the end of the test.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/static_files_test.XXXXXX";
    if (::mkdtemp(pattern) == nullptr) {
      throw std::runtime_error("mkdtemp");
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

  void write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ + "/" + name, std::ios::binary) << content;
  }

 private:
  std::string path_;
};

class OpenStatic : public ::testing::Test {
 protected:
  void SetUp() override {
    docroot_.write("hello.txt", "hello, file\n");
    docroot_.write("empty.txt", "");
    std::filesystem::create_directory(docroot_.path() + "/sub");
    std::filesystem::create_directory(docroot_.path() + "/sub/deeper");
    docroot_.write("sub/inner.html", "<p>inner</p>");
    outside_.write("secret.txt", "top secret");
    fd_ = common::Fd(::open(docroot_.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(fd_.valid());
  }

  std::optional<common::StaticFile> open(std::string_view path, StaticError* error = nullptr) {
    return common::open_static(fd_.get(), path, error);
  }

  static std::string read_all(int fd) {
    std::string content;
    char chunk[256];
    ssize_t n;
    while ((n = ::read(fd, chunk, sizeof chunk)) > 0) {
      content.append(chunk, static_cast<std::size_t>(n));
    }
    return content;
  }

  TempDir docroot_;
  TempDir outside_;
  common::Fd fd_;
};

TEST_F(OpenStatic, RegularFileWithItsSize) {
  StaticError error = StaticError::kForbidden;
  std::optional<common::StaticFile> file = open("hello.txt", &error);
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->size, 12u);
  EXPECT_EQ(read_all(file->fd.get()), "hello, file\n");
}

TEST_F(OpenStatic, FileInASubdirectory) {
  std::optional<common::StaticFile> file = open("sub/inner.html");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->size, 12u);
}

TEST_F(OpenStatic, EmptyFile) {
  std::optional<common::StaticFile> file = open("empty.txt");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->size, 0u);
}

TEST_F(OpenStatic, DescriptorIsReadOnlyAndCloseOnExec) {
  std::optional<common::StaticFile> file = open("hello.txt");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(::fcntl(file->fd.get(), F_GETFL) & O_ACCMODE, O_RDONLY);
  EXPECT_NE(::fcntl(file->fd.get(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST_F(OpenStatic, MissingFileIsNotFound) {
  StaticError error = StaticError::kForbidden;
  EXPECT_FALSE(open("nope.txt", &error).has_value());
  EXPECT_EQ(error, StaticError::kNotFound);
  EXPECT_FALSE(open("hello.txt/x").has_value());  // ENOTDIR
}

TEST_F(OpenStatic, EmptyPathIsNotFound) {
  StaticError error = StaticError::kForbidden;
  EXPECT_FALSE(open("", &error).has_value());
  EXPECT_EQ(error, StaticError::kNotFound);
}

TEST_F(OpenStatic, DirectoriesAreNotServed) {
  StaticError error = StaticError::kForbidden;
  EXPECT_FALSE(open("sub", &error).has_value());
  EXPECT_EQ(error, StaticError::kNotFound);
  EXPECT_FALSE(open("sub/", &error).has_value());
  EXPECT_FALSE(open(".", &error).has_value());
  EXPECT_EQ(error, StaticError::kNotFound);
}

TEST_F(OpenStatic, DotDotIsRefused) {
  // The file exists one level up from the docroot's subdirectory, and outside.
  const std::string outside_name = std::filesystem::path(outside_.path()).filename().string();
  const std::vector<std::string> paths = {
      "../x", "a/../../x", "sub/../hello.txt",
      "..",   "sub/..",    "../" + outside_name + "/secret.txt"};
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    StaticError error = StaticError::kForbidden;
    EXPECT_FALSE(open(path, &error).has_value());
    EXPECT_EQ(error, StaticError::kNotFound);
  }
}

TEST_F(OpenStatic, DotsThatAreNotAComponentAreAllowed) {
  docroot_.write("..hidden", "h");
  docroot_.write("a..b", "ab");
  EXPECT_TRUE(open("..hidden").has_value());
  EXPECT_TRUE(open("a..b").has_value());
  EXPECT_TRUE(open("./hello.txt").has_value());
}

TEST_F(OpenStatic, AbsolutePathIsRefused) {
  StaticError error = StaticError::kForbidden;
  EXPECT_FALSE(open("/etc/passwd", &error).has_value());
  EXPECT_EQ(error, StaticError::kNotFound);
  EXPECT_FALSE(open(outside_.path() + "/secret.txt").has_value());
  EXPECT_FALSE(open(docroot_.path() + "/hello.txt").has_value());  // even inside
}

TEST_F(OpenStatic, SymlinkLeadingOutsideIsRefused) {
  ASSERT_EQ(::symlink((outside_.path() + "/secret.txt").c_str(),
                      (docroot_.path() + "/absolute-link").c_str()),
            0);
  const std::string relative =
      "../" + std::filesystem::path(outside_.path()).filename().string() + "/secret.txt";
  ASSERT_EQ(::symlink(relative.c_str(), (docroot_.path() + "/relative-link").c_str()), 0);
  ASSERT_EQ(::symlink(outside_.path().c_str(), (docroot_.path() + "/dir-link").c_str()), 0);
  // The links do work for anyone who may follow them.
  ASSERT_TRUE(std::filesystem::exists(docroot_.path() + "/relative-link"));
  for (const char* path : {"absolute-link", "relative-link", "dir-link/secret.txt"}) {
    SCOPED_TRACE(path);
    StaticError error = StaticError::kForbidden;
    EXPECT_FALSE(open(path, &error).has_value());
    EXPECT_EQ(error, StaticError::kNotFound);
  }
}

TEST_F(OpenStatic, SymlinkStayingInsideIsAllowed) {
  ASSERT_EQ(::symlink("hello.txt", (docroot_.path() + "/link.txt").c_str()), 0);
  ASSERT_EQ(::symlink("../hello.txt", (docroot_.path() + "/sub/up.txt").c_str()), 0);
  std::optional<common::StaticFile> file = open("link.txt");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->size, 12u);
  EXPECT_EQ(read_all(file->fd.get()), "hello, file\n");
  std::optional<common::StaticFile> up = open("sub/up.txt");
  ASSERT_TRUE(up.has_value());
  EXPECT_EQ(up->size, 12u);
}

TEST_F(OpenStatic, FifoIsNotServedAndDoesNotBlock) {
  ASSERT_EQ(::mkfifo((docroot_.path() + "/fifo").c_str(), 0644), 0);
  StaticError error = StaticError::kForbidden;
  EXPECT_FALSE(open("fifo", &error).has_value());
  EXPECT_EQ(error, StaticError::kNotFound);
}

TEST_F(OpenStatic, UnreadableFileIsForbidden) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root reads every file: chmod 000 cannot be tested";
  }
  docroot_.write("locked.txt", "locked");
  ASSERT_EQ(::chmod((docroot_.path() + "/locked.txt").c_str(), 0), 0);
  StaticError error = StaticError::kNotFound;
  EXPECT_FALSE(open("locked.txt", &error).has_value());
  EXPECT_EQ(error, StaticError::kForbidden);
}

// As root, the same check runs in a child that has given up root (which the test process itself
// must not do): the kernel then refuses the read permission and open_static says kForbidden.
TEST_F(OpenStatic, UnreadableFileIsForbiddenForAnUnprivilegedChild) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to switch to an unprivileged user";
  }
  docroot_.write("locked.txt", "locked");
  ASSERT_EQ(::chmod((docroot_.path() + "/locked.txt").c_str(), 0), 0);
  ASSERT_EQ(::chmod(docroot_.path().c_str(), 0755), 0);  // mkdtemp made it 0700
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    constexpr uid_t kNobody = 65534;
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) {
      ::_exit(10);
    }
    StaticError error = StaticError::kNotFound;
    if (common::open_static(fd_.get(), "locked.txt", &error).has_value()) {
      ::_exit(11);
    }
    if (error != StaticError::kForbidden) {
      ::_exit(12);
    }
    // Readable files stay readable for the same user.
    ::_exit(common::open_static(fd_.get(), "hello.txt").has_value() ? 0 : 13);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: cannot drop root, 11: opened, 12: not kForbidden, "
                                       "13: readable file refused";
}

TEST_F(OpenStatic, NullErrorPointerIsAccepted) {
  EXPECT_FALSE(common::open_static(fd_.get(), "nope", nullptr).has_value());
  EXPECT_TRUE(common::open_static(fd_.get(), "hello.txt", nullptr).has_value());
}

}  // namespace
