// Crash consistency: a child process commits in a loop and reports each acknowledged revision
// through a pipe; it is SIGKILLed at a random moment. After reopening, every acknowledged
// commit must be there, whole, and the database must pass integrity_check.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <random>

#include "store/sqlite_store.h"
#include "store_test_util.h"

namespace steerdns::store {
namespace {

using testing::TempDir;
using testing::put_record;
using testing::put_zone;
using testing::zone_row;

constexpr int kRecords = 5;

struct Ack {
  int64_t revision;
  int64_t n;  // the child's iteration, written into every row of that commit
};

// The child: never returns into gtest.
[[noreturn]] void commit_forever(const std::string& path, int fd) {
  auto s = open_store("sqlite:" + path);
  if (!s.ok()) {
    _exit(2);
  }
  Store& store = **s;
  for (int64_t n = 1; n < 1000000; ++n) {
    Commit c;
    if (n == 1) {
      c.ops.push_back(put_zone(zone_row("ZCRASH", "crash.test.")));
    }
    for (int i = 0; i < kRecords; ++i) {
      c.ops.push_back(put_record("ZCRASH", "r" + std::to_string(i) + ".crash.test./TXT",
                                 {{"n", n}, {"pad", std::string(200, 'x')}}));
    }
    c.change.id = "C" + std::to_string(n);
    c.change.author = "crash";
    c.change.changes = nlohmann::json::array({{{"n", n}}});
    auto rev = store.commit(c);
    if (!rev.ok()) {
      _exit(3);
    }
    if (n % 7 == 0 && !store.append_event(n, {{"n", n}}).ok()) {
      _exit(4);
    }
    Ack ack{*rev, n};
    if (write(fd, &ack, sizeof(ack)) != static_cast<ssize_t>(sizeof(ack))) {
      _exit(5);
    }
  }
  _exit(0);
}

std::string raw_text(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK) {
    while (sqlite3_step(s) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(s, 0);
      out += t != nullptr ? reinterpret_cast<const char*>(t) : "NULL";
      out += ";";
    }
  } else {
    out = std::string("prepare failed: ") + sqlite3_errmsg(db);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

void run_once(std::mt19937& rng) {
  TempDir dir;
  const std::string path = dir.file("crash.db");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    commit_forever(path, fds[1]);
  }
  close(fds[1]);

  std::vector<Ack> acks;
  Ack partial{};
  size_t partial_len = 0;
  auto read_some = [&](int timeout_ms) -> bool {  // false at EOF
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) {
      return true;
    }
    char buf[4096];
    ssize_t got = read(fds[0], buf, sizeof(buf));
    if (got <= 0) {
      return false;
    }
    for (ssize_t i = 0; i < got; ++i) {
      reinterpret_cast<char*>(&partial)[partial_len++] = buf[i];
      if (partial_len == sizeof(Ack)) {
        acks.push_back(partial);
        partial_len = 0;
      }
    }
    return true;
  };

  // Kill at a random moment once the child is committing (a few acks seen).
  const auto kill_after = std::chrono::milliseconds(
      std::uniform_int_distribution<int>(5, 150)(rng));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::chrono::steady_clock::time_point started{};
  bool alive = true;
  while (alive && std::chrono::steady_clock::now() < deadline) {
    alive = read_some(10);
    if (acks.size() >= 3 && started == std::chrono::steady_clock::time_point{}) {
      started = std::chrono::steady_clock::now();
    }
    if (started != std::chrono::steady_clock::time_point{} &&
        std::chrono::steady_clock::now() - started >= kill_after) {
      break;
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
  while (read_some(1000)) {
  }
  close(fds[0]);
  ASSERT_GE(acks.size(), 3u);

  EXPECT_EQ(raw_text(path, "PRAGMA integrity_check"), "ok;");
  EXPECT_EQ(raw_text(path, "PRAGMA foreign_key_check"), "");

  auto s = open_store("sqlite:" + path);
  ASSERT_TRUE(s.ok()) << s.error();
  auto rows = (*s)->load();
  ASSERT_TRUE(rows.ok()) << rows.error();
  // At least everything acknowledged; at most one more (committed, killed before the ack).
  EXPECT_GE(rows->revision, acks.back().revision);
  EXPECT_LE(rows->revision, acks.back().revision + 1);
  // Not half-applied: every record carries the last commit's iteration.
  ASSERT_EQ(rows->records.size(), static_cast<size_t>(kRecords));
  const int64_t last_n = rows->records[0].body["n"];
  for (const auto& r : rows->records) {
    EXPECT_EQ(r.body["n"], last_n) << r.key;
  }
  EXPECT_EQ(last_n, rows->revision);  // one commit per iteration, from revision 1
  for (const auto& a : acks) {
    auto ch = (*s)->change("C" + std::to_string(a.n));
    ASSERT_TRUE(ch.ok()) << ch.error();
    ASSERT_TRUE(ch->has_value()) << "acknowledged change C" << a.n << " lost";
    EXPECT_EQ((*ch)->revision, a.revision);
    EXPECT_EQ((*ch)->changes[0]["n"], a.n);
  }
  auto pending = (*s)->pending_changes();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(static_cast<int64_t>(pending->size()), rows->revision);
  // Still writable after the crash.
  Commit c;
  c.ops.push_back(put_record("ZCRASH", "after./A", {}));
  auto rev = (*s)->commit(c);
  ASSERT_TRUE(rev.ok()) << rev.error();
  EXPECT_EQ(*rev, rows->revision + 1);
}

TEST(StoreCrash, KilledWriterLosesNoAcknowledgedCommit) {
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    run_once(rng);
    if (HasFatalFailure()) {
      return;
    }
  }
}

}  // namespace
}  // namespace steerdns::store
