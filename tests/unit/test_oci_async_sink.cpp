// AsyncSink: bytes arrive complete and in order on the other thread, errors of the next sink
// reach the producer, and abandoning it mid-stream neither hangs nor writes more.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>

#include "oci/async_sink.hpp"
#include "util/error.hpp"

using strata::oci::AsyncSink;

namespace {

class FailingSink final : public strata::util::Sink {
 public:
  explicit FailingSink(std::size_t fail_after) : m_fail_after(fail_after) {}
  using strata::util::Sink::write;
  void write(const void*, std::size_t size) override {
    m_seen += size;
    if (m_seen > m_fail_after) {
      strata::util::fail(strata::util::ErrorKind::IO, "disk full on test sink");
    }
  }
  std::atomic<std::size_t> m_seen{0};

 private:
  std::size_t m_fail_after;
};

}  // namespace

TEST_CASE("bytes reach the next sink complete and in order") {
  std::string data(5'000'003, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>((i * 131) ^ (i >> 9));
  }
  strata::util::StringSink out;
  AsyncSink async(out, 64 * 1024, 3);
  std::size_t pos = 0;
  std::size_t step = 1;
  while (pos < data.size()) {
    const std::size_t n = std::min(step, data.size() - pos);
    async.write(data.data() + pos, n);
    pos += n;
    step = step * 3 % 200'003 + 1;  // sizes from 1 byte to several chunks
  }
  async.finish();
  CHECK(out.str() == data);
  CHECK_THROWS_AS(async.write("x", 1), strata::util::Error);
}

TEST_CASE("an error of the next sink surfaces in the producer") {
  FailingSink failing(100'000);
  AsyncSink async(failing, 4096, 2);
  const std::string block(4096, 'b');
  try {
    for (int i = 0; i < 10'000; ++i) {
      async.write(block.data(), block.size());
    }
    async.finish();
    FAIL("the sink's error must reach the producer");
  } catch (const strata::util::Error& e) {
    CHECK(e.kind() == strata::util::ErrorKind::IO);
    CHECK(std::string(e.what()).find("disk full") != std::string::npos);
  }
  // It stopped early instead of consuming everything.
  CHECK(failing.m_seen < 10'000u * 4096u);
}

TEST_CASE("destroying it without finish drops queued bytes and returns") {
  strata::util::StringSink out;
  {
    AsyncSink async(out, 4096, 2);
    const std::string block(10'000, 'c');
    async.write(block.data(), block.size());
  }
  CHECK(out.str().size() <= 10'000);
  CHECK(out.str().find_first_not_of('c') == std::string::npos);
}
