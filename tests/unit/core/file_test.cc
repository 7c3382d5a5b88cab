// core/file.h: whole-file reads, whole-file replacement and the background writer that keeps a file
// equal to the latest document handed to it.
#include "core/file.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "testlib/temp_dir.h"

namespace steerdns {
namespace {

std::string read(const std::string& path) {
  auto r = read_file(path);
  return r ? *r : "<" + r.error() + ">";
}

TEST(ReadFile, ReadsWholeFilesAndNamesTheFileOnError) {
  testing::TempDir d;
  std::string big(200'000, 'x');  // more than one read() call
  big[123'456] = '\0';
  const std::string p = d.write("big.bin", big);
  auto r = read_file(p);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, big);

  auto missing = read_file(d.file("nope.json"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), d.file("nope.json") + ": No such file or directory");
  auto absent = read_file_if_exists(d.file("nope.json"));
  ASSERT_TRUE(absent) << absent.error();
  EXPECT_FALSE(absent->has_value());

  // Anything but "does not exist" is an error for both (a directory: EISDIR on read).
  auto dir = read_file_if_exists(d.path());
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error(), d.path() + ": Is a directory");
  EXPECT_EQ(*read_file_if_exists(d.write("empty", "")), std::optional<std::string>(""));
}

TEST(WriteFileAtomically, ReplacesAndNamesTheFileOnError) {
  testing::TempDir d;
  const std::string p = d.file("state.json");
  ASSERT_TRUE(write_file_atomically(p, "one"));
  ASSERT_TRUE(write_file_atomically(p, "two"));
  EXPECT_EQ(read(p), "two");
  EXPECT_FALSE(std::filesystem::exists(p + ".tmp"));
  Status st = write_file_atomically(d.file("missing/dir/x.json"), "x");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find(d.file("missing/dir/x.json.tmp") + ": create: "), std::string::npos)
      << st.error();
}

TEST(BackgroundFileWriter, CoalescesFlushesAndWritesWhatIsPendingAtTheEnd) {
  testing::TempDir d;
  const std::string p = d.file("cache.json");
  std::atomic<int> renders{0};
  std::atomic<int> failures{0};
  {
    BackgroundFileWriter w(
        p, [&](const Status& st) { failures += st ? 0 : 1; }, std::chrono::milliseconds(1000));
    w.write([&] {
      ++renders;
      return std::string("v1");
    });
    w.flush();
    EXPECT_EQ(read(p), "v1");
    // Inside the pause after a write: these coalesce, only the newest is rendered.
    for (int i = 2; i <= 20; ++i) {
      w.write([&, i] {
        ++renders;
        return "v" + std::to_string(i);
      });
    }
    w.flush();
    EXPECT_EQ(read(p), "v20");
    EXPECT_EQ(renders.load(), 2);
    // Handed in, then the writer goes: still written (cutting the pause short).
    w.write([] { return std::string("last"); });
  }
  EXPECT_EQ(read(p), "last");
  EXPECT_EQ(failures.load(), 0);

  // A file that cannot be written: the outcome says so.
  std::atomic<bool> failed{false};
  {
    BackgroundFileWriter w(d.file("no/such/dir/x"), [&](const Status& st) { failed = !st; });
    w.write([] { return std::string("x"); });
    w.flush();
  }
  EXPECT_TRUE(failed.load());
}

}  // namespace
}  // namespace steerdns
