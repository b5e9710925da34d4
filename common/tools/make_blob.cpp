// Writes SIZE pseudo-random bytes to PATH, the same bytes on every machine: the large file the
// tests and benchmarks download (the docroot's big.bin). Usage: make_blob PATH SIZE
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_blob PATH SIZE\n");
    return 2;
  }
  const long size = std::strtol(argv[2], nullptr, 10);
  std::FILE* out = std::fopen(argv[1], "wb");
  if (out == nullptr || size < 0) {
    std::perror(argv[1]);
    return 1;
  }
  // xorshift64: simple, fast, and fixed forever, so the file's checksum never changes.
  std::uint64_t state = 0x9E3779B97F4A7C15ULL;
  std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
  for (unsigned char& byte : bytes) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    byte = static_cast<unsigned char>(state >> 56);
  }
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), out) == bytes.size();
  return (std::fclose(out) == 0 && ok) ? 0 : 1;
}
