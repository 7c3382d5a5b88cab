#include "daemon/drill.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "config/loader.h"
#include "core/result.h"
#include "daemon/control.h"
#include "dr/event_log.h"
#include "store/store.h"
#include "server/address.h"

namespace steerdns::daemon {
namespace {

using nlohmann::json;

// The flagship scenario's names and addresses (answers only: the checks probe the loopback
// backends, so nothing is ever sent to these documentation addresses).
constexpr const char* kZone = "example.test.";
constexpr const char* kName = "genai-demo.example.test.";
constexpr const char* kSetKey = "genai-demo.example.test./A";
constexpr const char* kPrimaryIp = "192.0.2.10";
constexpr const char* kSecondaryIp = "198.51.100.10";
constexpr const char* kPrimaryCheck = "primary-app";
constexpr const char* kSecondaryCheck = "secondary-app";
constexpr Millis kTick = 50;  // DNS answers are sampled this often
constexpr int kBurst = 50;    // gradual: queries per sample
constexpr Millis kMaxLiveFor = 30 * 60'000;
constexpr Millis kClearMargin = 5000;  // live: the override outlives --for by this much

std::atomic<bool> g_interrupted{false};
extern "C" void drill_on_signal(int) { g_interrupted = true; }

Millis steady_ms() { return RealClock::instance().now_ms(); }
Millis wall_ms() { return RealClock::instance().wall_ms(); }

std::string errno_text() { return std::error_code(errno, std::system_category()).message(); }

std::string iso_time(Millis wall) {
  time_t s = static_cast<time_t>(wall / 1000);
  tm t{};
  gmtime_r(&s, &t);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                static_cast<int>(wall % 1000));
  return buf;
}

std::string dur_text(Millis ms) {
  char buf[32];
  if (ms < 10'000 && ms > -10'000) {
    std::snprintf(buf, sizeof buf, "%lld ms", static_cast<long long>(ms));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  }
  return buf;
}

// "60s" for the YAML config and CLI flags (whole milliseconds always work).
std::string dur_arg(Millis ms) { return std::to_string(ms) + "ms"; }

// Sleeps up to `ms`, waking early when interrupted (SIGINT/SIGTERM).
void nap(Millis ms) {
  Millis until = steady_ms() + ms;
  while (!g_interrupted) {
    Millis left = until - steady_ms();
    if (left <= 0) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<Millis>(left, 20)));
  }
}

// ---------------------------------------------------------------------------------------------
// The timeline: every step with its time since the drill started. Printed as it happens
// (unless --json) and kept for the result.

class Timeline {
 public:
  explicit Timeline(bool quiet) : quiet_(quiet), t0_(steady_ms()), wall0_(wall_ms()) {}

  Millis t0() const { return t0_; }
  Millis wall0() const { return wall0_; }
  Millis rel(Millis steady) const { return steady - t0_; }

  void add(Millis steady, const std::string& event) {
    entries_.push_back({{"t_ms", rel(steady)}, {"event", event}});
    if (!quiet_) {
      std::printf("  t+%-9lld %s\n", static_cast<long long>(rel(steady)), event.c_str());
      std::fflush(stdout);
    }
  }
  void add(const std::string& event) { add(steady_ms(), event); }
  const json& entries() const { return entries_; }

 private:
  bool quiet_;
  Millis t0_;
  Millis wall0_;
  json entries_ = json::array();
};

// ---------------------------------------------------------------------------------------------
// An HTTP backend that answers every request with 200 {"status":"UP"}. kill() closes the
// listener, so probes get "connection refused"; start() with the same port brings it back.

class Backend {
 public:
  explicit Backend(std::string name) : name_(std::move(name)) {}
  ~Backend() { kill(); }
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  Status start(uint16_t port) {
    kill();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      return Error{name_ + " backend: socket: " + errno_text()};
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 || listen(fd, 64) != 0) {
      Error e{name_ + " backend: bind/listen 127.0.0.1:" + std::to_string(port) + ": " +
              errno_text()};
      close(fd);
      return e;
    }
    socklen_t len = sizeof sin;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
    port_ = ntohs(sin.sin_port);
    fd_ = fd;
    stop_ = false;
    thread_ = std::thread([this] { loop(); });
    return OkStatus();
  }

  void kill() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  uint16_t port() const { return port_; }
  uint64_t served() const { return served_; }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) {
        continue;
      }
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        continue;
      }
      serve_one(c);
      close(c);
    }
  }

  void serve_one(int c) {
    // Reads the request head (the probes send no body), with a short bound so a stuck client
    // cannot hold the backend.
    std::string req;
    char buf[2048];
    Millis deadline = steady_ms() + 1000;
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
      Millis left = deadline - steady_ms();
      pollfd p{c, POLLIN, 0};
      if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) {
        return;
      }
      ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) {
        return;
      }
      req.append(buf, static_cast<size_t>(n));
    }
    const std::string body = R"({"status":"UP"})";
    std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    (void)send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
    ++served_;
  }

  std::string name_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> served_{0};
  std::thread thread_;
};

// A port free for UDP and TCP on 127.0.0.1 (the kernel picks; both protocols checked).
Result<uint16_t> free_port() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    bool ok = u >= 0 && t >= 0 && bind(u, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0 &&
              getsockname(u, reinterpret_cast<sockaddr*>(&sin), &len) == 0 &&
              bind(t, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0;
    uint16_t port = ntohs(sin.sin_port);
    if (u >= 0) {
      close(u);
    }
    if (t >= 0) {
      close(t);
    }
    if (ok && port != 0) {
      return port;
    }
  }
  return Error{"no free UDP+TCP port on 127.0.0.1"};
}

// ---------------------------------------------------------------------------------------------
// A minimal DNS client: one UDP question, the answer's values of that type and their TTL.

struct Answer {
  bool ok = false;  // a response arrived and parsed
  std::string error;
  uint16_t rcode = 0;
  std::vector<std::string> values;  // sorted presentation text (A/AAAA)
  uint32_t ttl = 0;                 // the smallest TTL among them

  std::string text() const {
    if (!ok) {
      return "no answer (" + error + ")";
    }
    if (rcode != 0) {
      return "rcode " + std::to_string(rcode);
    }
    if (values.empty()) {
      return "NODATA";
    }
    std::string s;
    for (const auto& v : values) {
      s += (s.empty() ? "" : ",") + v;
    }
    return s + " ttl " + std::to_string(ttl);
  }
};

class DnsClient {
 public:
  ~DnsClient() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }

  Status open(const std::string& server, const std::string& qname, uint16_t qtype) {
    auto addr = server::parse_listen_addr(server);
    if (!addr) {
      return Error{"--server " + addr.error()};
    }
    fd_ = socket(addr->family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || connect(fd_, addr->sa(), addr->len) != 0) {
      return Error{"DNS server " + server + ": " + errno_text()};
    }
    std::string name = qname;
    if (name.empty() || name.back() != '.') {
      name += '.';
    }
    question_.clear();
    size_t start = 0;
    while (start < name.size()) {
      size_t dot = name.find('.', start);
      size_t n = dot - start;
      if (n == 0 && name.size() > 1) {
        return Error{"name '" + qname + "': empty label"};
      }
      if (n > 63) {
        return Error{"name '" + qname + "': label longer than 63 octets"};
      }
      question_.push_back(static_cast<uint8_t>(n));
      question_.insert(question_.end(), name.begin() + static_cast<long>(start),
                       name.begin() + static_cast<long>(dot));
      start = dot + 1;
    }
    if (question_.empty() || question_.back() != 0) {
      question_.push_back(0);
    }
    if (question_.size() > 255) {
      return Error{"name '" + qname + "': longer than 255 octets"};
    }
    question_.push_back(static_cast<uint8_t>(qtype >> 8));
    question_.push_back(static_cast<uint8_t>(qtype & 0xFF));
    question_.push_back(0);
    question_.push_back(1);  // IN
    qtype_ = qtype;
    return OkStatus();
  }

  Answer ask(Millis timeout_ms = 500) {
    Answer a;
    uint16_t id = static_cast<uint16_t>(rng_());
    std::vector<uint8_t> q = {static_cast<uint8_t>(id >> 8),
                              static_cast<uint8_t>(id & 0xFF),
                              0,
                              0,
                              0,
                              1,
                              0,
                              0,
                              0,
                              0,
                              0,
                              0};
    q.insert(q.end(), question_.begin(), question_.end());
    if (send(fd_, q.data(), q.size(), 0) < 0) {
      a.error = "send: " + errno_text();
      return a;
    }
    Millis deadline = steady_ms() + timeout_ms;
    uint8_t buf[4096];
    for (;;) {
      Millis left = deadline - steady_ms();
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) {
        a.error = "timeout";
        return a;
      }
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0) {
        a.error = "recv: " + errno_text();  // ECONNREFUSED: nothing listens there
        return a;
      }
      if (n >= 12 && buf[0] == q[0] && buf[1] == q[1] && (buf[2] & 0x80) != 0) {
        parse(buf, static_cast<size_t>(n), a);
        return a;
      }
    }
  }

 private:
  // Skips a (possibly compressed) name; returns false when it runs off the end.
  static bool skip_name(const uint8_t* p, size_t len, size_t& off) {
    while (off < len) {
      uint8_t l = p[off];
      if ((l & 0xC0) == 0xC0) {
        off += 2;
        return off <= len;
      }
      off += 1 + l;
      if (l == 0) {
        return off <= len;
      }
    }
    return false;
  }

  void parse(const uint8_t* p, size_t len, Answer& a) const {
    a.rcode = p[3] & 0x0F;
    uint16_t qd = static_cast<uint16_t>(p[4] << 8 | p[5]);
    uint16_t an = static_cast<uint16_t>(p[6] << 8 | p[7]);
    size_t off = 12;
    for (uint16_t i = 0; i < qd; ++i) {
      if (!skip_name(p, len, off) || off + 4 > len) {
        a.error = "truncated question";
        return;
      }
      off += 4;
    }
    bool first = true;
    for (uint16_t i = 0; i < an; ++i) {
      if (!skip_name(p, len, off) || off + 10 > len) {
        a.error = "truncated answer";
        return;
      }
      uint16_t type = static_cast<uint16_t>(p[off] << 8 | p[off + 1]);
      uint32_t ttl = static_cast<uint32_t>(p[off + 4]) << 24 |
                     static_cast<uint32_t>(p[off + 5]) << 16 |
                     static_cast<uint32_t>(p[off + 6]) << 8 | p[off + 7];
      uint16_t rdlen = static_cast<uint16_t>(p[off + 8] << 8 | p[off + 9]);
      off += 10;
      if (off + rdlen > len) {
        a.error = "truncated rdata";
        return;
      }
      if (type == qtype_ && (rdlen == 4 || rdlen == 16)) {
        char text[INET6_ADDRSTRLEN];
        inet_ntop(rdlen == 4 ? AF_INET : AF_INET6, p + off, text, sizeof text);
        a.values.emplace_back(text);
        a.ttl = first ? ttl : std::min(a.ttl, ttl);
        first = false;
      }
      off += rdlen;
    }
    std::sort(a.values.begin(), a.values.end());
    a.ok = true;
  }

  int fd_ = -1;
  std::vector<uint8_t> question_;
  uint16_t qtype_ = 0;
  std::mt19937 rng_{std::random_device{}()};
};

// ---------------------------------------------------------------------------------------------
// This binary as a child: the daemon under test.

std::string self_exe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("/proc/self/exe") : p.string();
}

std::vector<char*> argv_of(std::vector<std::string>& args) {
  std::vector<char*> v;
  for (auto& a : args) {
    v.push_back(a.data());
  }
  v.push_back(nullptr);
  return v;
}

class Child {
 public:
  ~Child() { stop(2000); }

  Status spawn(std::vector<std::string> args, const std::string& log_path) {
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log < 0) {
      return Error{"daemon log " + log_path + ": " + errno_text()};
    }
    std::string exe = self_exe();
    args.insert(args.begin(), exe);
    auto argv = argv_of(args);
    pid_t pid = fork();
    if (pid < 0) {
      close(log);
      return Error{"fork: " + errno_text()};
    }
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec (the backends' threads exist).
      dup2(log, 1);
      dup2(log, 2);
      execv(exe.c_str(), argv.data());
      _exit(127);
    }
    close(log);
    pid_ = pid;
    log_path_ = log_path;
    return OkStatus();
  }

  // False once the child has exited (its status is kept).
  bool running() {
    if (pid_ <= 0) {
      return false;
    }
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      status_ = st;
      return false;
    }
    return true;
  }

  // SIGTERM, then SIGKILL after `grace_ms`. Returns the exit code (-signal if killed).
  int stop(Millis grace_ms) {
    if (!running()) {
      return exit_code();
    }
    ::kill(pid_, SIGTERM);
    Millis until = steady_ms() + grace_ms;
    while (running() && steady_ms() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (running()) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &status_, 0);
      pid_ = -1;
    }
    return exit_code();
  }

  int exit_code() const {
    if (WIFEXITED(status_)) {
      return WEXITSTATUS(status_);
    }
    return WIFSIGNALED(status_) ? -WTERMSIG(status_) : -1;
  }

  // The last lines of the daemon's log, for error messages.
  std::string log_tail(size_t max_bytes = 2000) const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.size() > max_bytes ? "..." + s.substr(s.size() - max_bytes) : s;
  }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  std::string log_path_;
};

// ---------------------------------------------------------------------------------------------
// What the daemon says about a check: status and since (wall ms), from the `health` command.

struct CheckState {
  std::string status;  // healthy, unhealthy, unknown; empty when unreachable
  Millis since_wall_ms = 0;
  std::string error;
};

CheckState check_state(const std::string& control, const std::string& id) {
  CheckState s;
  auto r = control_request(control, "health", 5000);
  if (!r) {
    s.error = r.error();
    return s;
  }
  auto j = json::parse(*r, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    s.error = "the daemon's health report is not JSON";
    return s;
  }
  for (const auto& c : j.value("checks", json::array())) {
    if (c.value("id", "") == id) {
      s.status = c.value("status", "");
      if (c.contains("since_ms") && c["since_ms"].is_number_integer()) {
        s.since_wall_ms = c["since_ms"].get<Millis>();
      }
      return s;
    }
  }
  s.error = "the daemon has no health check '" + id + "'";
  return s;
}

// The result as a "drill" event: the measurements (compact JSON) in `cause`; the timeline and
// gradual samples stay in the printed result.
dr::Event drill_event(const json& result, const std::string& target) {
  json summary = result;
  summary.erase("timeline");
  if (summary.contains("runs")) {
    for (auto& r : summary["runs"]) {
      if (r.contains("failback")) {
        r["failback"].erase("samples");
      }
    }
  }
  dr::Event e;
  e.wall_ms = wall_ms();
  e.type = "drill";
  e.target = target;
  e.cause = summary.dump(-1, ' ', false, json::error_handler_t::replace);
  const char* u = std::getenv("USER");
  e.actor = std::string("drill:") + (u != nullptr && *u != '\0' ? u : "unknown");
  return e;
}

// Appends the event to an event log file (dr::EventLog: one O_APPEND write per batch, so it is
// safe next to the daemon's own appends).
Status append_event(const std::string& path, const dr::Event& e) {
  auto log = dr::EventLog::open(path);
  if (!log) {
    return Error{"event log " + path + ": " + log.error()};
  }
  if (auto st = (*log)->append(e); !st) {
    return Error{"event log " + path + ": " + st.error()};
  }
  return OkStatus();
}

// The events a (stopped) daemon left in its store.
Result<dr::EventLogRead> read_store_events(const std::string& db) {
  auto st = store::open_store("sqlite:" + db);
  if (!st) {
    return Error{st.error()};
  }
  auto rows = (*st)->last_events(0);
  if (!rows) {
    return Error{rows.error()};
  }
  dr::EventLogRead out;
  for (const auto& r : *rows) {
    if (auto e = dr::event_from_json_line(r.body.dump()); e) {
      out.events.push_back(std::move(*e));
    }
  }
  return out;
}

// Records the event in the running daemon's event log (its store).
Status record_in_daemon(const std::string& control, const dr::Event& e) {
  json req{{"cmd", "record-event"}, {"event", json::parse(dr::event_to_json_line(e))}};
  auto r = control_request(control, "steer " + req.dump(), 10'000);
  if (!r) {
    return Error{"recording the drill in the daemon at " + control + ": " + r.error()};
  }
  return OkStatus();
}

// The event log a running daemon writes (its `steer status` reply names it).
Result<std::string> daemon_event_log(const std::string& control) {
  auto r = control_request(control, R"(steer {"cmd":"status"})", 10'000);
  if (!r) {
    return Error{"asking " + control + " for its event log: " + r.error()};
  }
  auto j = json::parse(*r, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("event_log") ||
      !j["event_log"].is_string()) {
    return Error{"the daemon at " + control + " did not name its event log"};
  }
  std::string path = j["event_log"].get<std::string>();
  if (path.empty()) {
    return Error{"the daemon at " + control +
                 " keeps no event log file (set server.health_state_file; the log is "
                 "steerdns-events.jsonl beside it)"};
  }
  return path;
}

// ---------------------------------------------------------------------------------------------
// The local drill.

struct StepError {
  std::string reason;
};

class LocalDrill {
 public:
  LocalDrill(const DrillOptions& o, Timeline& tl) : o_(o), tl_(tl) {}
  ~LocalDrill() {
    primary_.kill();
    secondary_.kill();
    if (!tmp_.empty() && !o_.keep) {
      std::error_code ec;
      std::filesystem::remove_all(tmp_, ec);
    }
  }

  // Fills `out` with the runs; returns the first failure (empty = every step worked).
  std::string run(json& out);
  const std::string& tmp_dir() const { return tmp_; }

 private:
  std::string setup();
  std::string cycle(const std::string& mode, json& run);
  std::string config_text(const std::string& mode, const std::string& control) const;
  // Polls `pred` every kTick until it returns true; false on timeout, interruption, or when
  // the daemon exits (then `why` says so).
  bool poll_until(const std::function<bool()>& pred, Millis timeout_ms, std::string& why);
  // Polls until `until` (steady ms) that every answer is the secondary alone; false at the
  // first other answer (`why` = moved.first + answer + moved.second) or as poll_until.
  bool stays_secondary(DnsClient& dns, Millis until, Millis timeout_ms,
                       const std::pair<const char*, const char*>& moved, std::string& why);

  const DrillOptions& o_;
  Timeline& tl_;
  std::string tmp_;
  Backend primary_{"primary"};
  Backend secondary_{"secondary"};
  Child daemon_;
};

std::string LocalDrill::setup() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "steerdns-drill-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return "temporary directory: " + errno_text();
  }
  tmp_ = tmpl;
  if (auto st = primary_.start(0); !st) {
    return st.error();
  }
  if (auto st = secondary_.start(0); !st) {
    return st.error();
  }
  tl_.add("backends up: primary 127.0.0.1:" + std::to_string(primary_.port()) +
          ", secondary 127.0.0.1:" + std::to_string(secondary_.port()) + " (temp dir " + tmp_ +
          ")");
  return "";
}

std::string LocalDrill::config_text(const std::string& mode, const std::string& control) const {
  auto check = [&](const char* id, uint16_t port) {
    return std::string("  - id: ") + id + "\n    url: http://127.0.0.1:" + std::to_string(port) +
           "/actuator/health\n    search: '\"status\":\"UP\"'\n    interval: " +
           dur_arg(o_.interval_ms) +
           "\n    failure_threshold: " + std::to_string(o_.failure_threshold) +
           "\n    success_threshold: " + std::to_string(o_.success_threshold) + "\n";
  };
  std::string y;
  y += "# Written by `steerdns drill` (failback " + mode + ").\n";
  // The daemon's state and event log go to a directory per mode (read back after the run).
  y += "server:\n  control_socket: " + control + "\n  health_state_file: " + tmp_ + "/" + mode +
       "/health.json\n  store: sqlite:" + tmp_ + "/" + mode + "/steerdns.db\n";
  y += "health_checks:\n";
  y += check(kPrimaryCheck, primary_.port());
  y += check(kSecondaryCheck, secondary_.port());
  y += "zones:\n  - name: " + std::string(kZone) + "\n";
  y += "    soa: { mname: ns1.example.test., rname: hostmaster.example.test., serial: 1, "
       "minimum: 60 }\n";
  y += "    ns: [ns1.example.test.]\n    records:\n";
  y += "      - { name: ns1, type: A, values: [127.0.0.1] }\n";
  y += "      - name: genai-demo\n        type: A\n        ttl: " + std::to_string(o_.ttl) +
       "\n        policy: failover\n        failover_ttl: " + std::to_string(o_.failover_ttl) +
       "\n        failback: " + mode + "\n        stabilize: " + dur_arg(o_.stabilize_ms) +
       "\n        min_state: " + dur_arg(std::min<Millis>(o_.stabilize_ms, 1000)) +
       "\n        failback_ramp: " + dur_arg(o_.ramp_ms) + "\n        members:\n";
  y += std::string("          - { set_id: genai-demo-primary, role: primary, values: [") +
       kPrimaryIp + "], health_check: " + kPrimaryCheck + " }\n";
  y += std::string("          - { set_id: genai-demo-secondary, role: secondary, values: [") +
       kSecondaryIp + "], health_check: " + kSecondaryCheck + " }\n";
  return y;
}

bool LocalDrill::poll_until(const std::function<bool()>& pred, Millis timeout_ms,
                            std::string& why) {
  Millis deadline = steady_ms() + timeout_ms;
  Millis next = steady_ms();
  while (!g_interrupted) {
    if (!daemon_.running()) {
      why = "the daemon exited (code " + std::to_string(daemon_.exit_code()) + "); its log:\n" +
            daemon_.log_tail();
      return false;
    }
    if (pred()) {
      return true;
    }
    if (steady_ms() >= deadline) {
      why = "not within --timeout " + dur_text(timeout_ms);
      return false;
    }
    next += kTick;
    Millis now = steady_ms();
    if (next > now) {
      nap(next - now);
    } else {
      next = now;
    }
  }
  why = "interrupted";
  return false;
}

bool is_only(const Answer& a, const char* ip) {
  return a.ok && a.rcode == 0 && a.values.size() == 1 && a.values[0] == ip;
}

bool LocalDrill::stays_secondary(DnsClient& dns, Millis until, Millis timeout_ms,
                                 const std::pair<const char*, const char*>& moved,
                                 std::string& why) {
  bool left = false;
  bool held = poll_until(
      [&] {
        Answer a = dns.ask();
        if (!is_only(a, kSecondaryIp)) {
          why = moved.first + a.text() + moved.second;
          left = true;
          return true;
        }
        return steady_ms() >= until;
      },
      timeout_ms, why);
  return held && !left;
}

std::string LocalDrill::cycle(const std::string& mode, json& run) {
  run = {{"mode", mode}};
  auto port = free_port();
  if (!port) {
    return port.error();
  }
  std::string control = tmp_ + "/" + mode + ".sock";
  std::string cfg = tmp_ + "/steerdns-" + mode + ".yaml";
  std::error_code ec;
  std::filesystem::create_directories(tmp_ + "/" + mode, ec);
  if (ec) {
    return "creating " + tmp_ + "/" + mode + ": " + ec.message();
  }
  {
    std::ofstream f(cfg, std::ios::trunc);
    f << config_text(mode, control);
    if (!f) {
      return "writing " + cfg + ": " + errno_text();
    }
  }
  std::string server = "127.0.0.1:" + std::to_string(*port);
  DnsClient dns;
  if (auto st = dns.open(server, kName, 1); !st) {
    return st.error();
  }
  if (auto st = daemon_.spawn({"serve", "--config", cfg, "--listen", server, "--threads", "1",
                               "--control", control, "--api-listen", "off"},
                              tmp_ + "/serve-" + mode + ".log");
      !st) {
    return st.error();
  }
  Millis t_spawn = steady_ms();
  tl_.add("[" + mode + "] steerdns serve started on " + server + " (failback " + mode + ")");

  // 1. Serving the primary, both checks healthy.
  std::string why;
  Answer last;
  Millis last_primary_t = 0;
  uint32_t last_primary_ttl = 0;
  bool up = poll_until(
      [&] {
        last = dns.ask();
        if (!is_only(last, kPrimaryIp)) {
          return false;
        }
        last_primary_t = steady_ms();
        last_primary_ttl = last.ttl;
        return check_state(control, kPrimaryCheck).status == "healthy" &&
               check_state(control, kSecondaryCheck).status == "healthy";
      },
      o_.timeout_ms, why);
  if (!up) {
    return "[" + mode + "] waiting for the daemon to answer " + kPrimaryIp +
           " with both checks healthy (last answer: " + last.text() + "): " + why;
  }
  tl_.add("[" + mode + "] answering " + last.text() + " (primary), checks healthy, ready in " +
          dur_text(steady_ms() - t_spawn));

  // 2. Kill the primary; watch the check and the answer.
  Millis kill_wall = wall_ms();
  Millis t_kill = steady_ms();
  primary_.kill();
  tl_.add(t_kill, "[" + mode + "] primary backend killed (connection refused)");
  Millis t_detect = -1;
  Millis t_switch = -1;
  Answer after;
  bool odd_seen = false;
  bool switched = poll_until(
      [&] {
        Answer a = dns.ask();
        Millis t = steady_ms();
        if (t_switch < 0) {
          if (is_only(a, kPrimaryIp)) {
            last_primary_t = t;
            last_primary_ttl = a.ttl;
          } else if (is_only(a, kSecondaryIp)) {
            t_switch = t;
            after = a;
          } else if (!odd_seen) {
            odd_seen = true;
            tl_.add(t, "[" + mode + "] unexpected answer: " + a.text());
          }
        }
        if (t_detect < 0) {
          CheckState s = check_state(control, kPrimaryCheck);
          if (s.status == "unhealthy") {
            // The engine's own transition time is exact; polling adds up to a tick.
            t_detect = s.since_wall_ms >= kill_wall ? t_kill + (s.since_wall_ms - kill_wall) : t;
          }
        }
        return t_detect >= 0 && t_switch >= 0;
      },
      o_.timeout_ms, why);
  if (t_detect >= 0) {
    tl_.add(t_detect, "[" + mode + "] health check " + kPrimaryCheck + " unhealthy: detected " +
                          dur_text(t_detect - t_kill) + " after the kill");
  }
  if (t_switch >= 0) {
    tl_.add(t_switch, "[" + mode + "] DNS answer switched to " + after.text() + " (secondary), " +
                          dur_text(t_switch - t_kill) + " after the kill");
  }
  if (!switched) {
    return "[" + mode + "] " +
           (t_detect < 0 ? std::string("the primary's check never turned unhealthy")
                         : std::string("the answer never switched to the secondary")) +
           ": " + why;
  }
  // A client that asked just before the switch keeps the primary for the TTL it was given.
  Millis t_move = last_primary_t + static_cast<Millis>(last_primary_ttl) * 1000;
  tl_.add(t_move, "[" + mode + "] TTL-honouring clients have moved (last primary answer at t+" +
                      std::to_string(tl_.rel(last_primary_t)) + " with ttl " +
                      std::to_string(last_primary_ttl) + "), " + dur_text(t_move - t_kill) +
                      " after the kill" + (o_.wait_ttl ? "" : " (computed)"));
  json fo = {
      {"kill_t_ms", tl_.rel(t_kill)},
      {"detected_t_ms", tl_.rel(t_detect)},
      {"detection_ms", t_detect - t_kill},
      {"switch_t_ms", tl_.rel(t_switch)},
      {"switch_ms", t_switch - t_kill},
      {"ttl_before", last_primary_ttl},
      {"ttl_after", after.ttl},
      {"last_primary_t_ms", tl_.rel(last_primary_t)},
      {"client_move_t_ms", tl_.rel(t_move)},
      {"client_move_ms", t_move - t_kill},
      {"client_move_waited", o_.wait_ttl},
  };
  run["failover"] = fo;
  if (after.ttl > o_.failover_ttl) {
    return "[" + mode + "] the failed-over answer has TTL " + std::to_string(after.ttl) +
           ", above failover_ttl " + std::to_string(o_.failover_ttl);
  }
  if (o_.wait_ttl) {
    // Waits for the computed move and checks that a client re-resolving then gets the
    // secondary; the answer must not flip back meanwhile.
    if (!stays_secondary(dns, t_move, t_move - steady_ms() + o_.timeout_ms,
                         {"the answer changed to ", " while waiting for the TTL"}, why)) {
      return "[" + mode + "] waiting for the TTL: " + why;
    }
    tl_.add("[" + mode + "] waited for the TTL: a client re-resolving now gets " +
            dns.ask().text());
  }

  // 3. Restore the primary; measure the failback of this mode.
  Millis restore_wall = wall_ms();
  Millis t_restore = steady_ms();
  if (auto st = primary_.start(primary_.port()); !st) {
    return "[" + mode + "] restoring the primary: " + st.error();
  }
  tl_.add(t_restore, "[" + mode + "] primary backend restored");
  Millis t_healthy = -1;
  bool early = false;
  bool healthy = poll_until(
      [&] {
        CheckState s = check_state(control, kPrimaryCheck);
        if (s.status == "healthy") {
          t_healthy = s.since_wall_ms >= restore_wall ? t_restore + (s.since_wall_ms - restore_wall)
                                                      : steady_ms();
          return true;
        }
        early = early || is_only(dns.ask(), kPrimaryIp);
        return false;
      },
      o_.timeout_ms, why);
  if (!healthy) {
    return "[" + mode + "] the primary's check never turned healthy again: " + why;
  }
  tl_.add(t_healthy, "[" + mode + "] health check " + kPrimaryCheck + " healthy again, " +
                         dur_text(t_healthy - t_restore) + " after the restore");
  if (early) {
    return "[" + mode + "] the answer went back to the primary before its check was healthy";
  }
  json fb = {{"restore_t_ms", tl_.rel(t_restore)},
             {"healthy_t_ms", tl_.rel(t_healthy)},
             {"healthy_ms", t_healthy - t_restore}};

  Millis t_back = -1;
  // Sets t_back at the first answer that is the primary alone.
  auto back_on_primary = [&] {
    if (is_only(dns.ask(), kPrimaryIp)) {
      t_back = steady_ms();
      return true;
    }
    return false;
  };
  if (mode == "manual") {
    // Stays on the secondary until approved: checked for --approve-after, then approved.
    Millis approve_at = t_healthy + o_.approve_after_ms;
    if (!stays_secondary(dns, approve_at, o_.approve_after_ms + o_.timeout_ms,
                         {"answer ", " before approval"}, why)) {
      return "[manual] the answer must stay on the secondary until approved: " + why;
    }
    tl_.add("[manual] still on the secondary " + dur_text(steady_ms() - t_healthy) +
            " after the primary is healthy (awaiting approval)");
    // What `steerdns failback approve SET --author drill` sends.
    json req = {{"cmd", "failback-approve"}, {"set", kSetKey}, {"author", "drill"}};
    Millis t_approve = steady_ms();
    auto r = control_request(control, "steer " + req.dump(), 10'000);
    if (!r) {
      return "[manual] approving the failback of " + std::string(kSetKey) + ": " + r.error();
    }
    tl_.add(t_approve, std::string("[manual] failback approved (steerdns failback approve ") +
                           kSetKey + " --author drill)");
    fb["approve_t_ms"] = tl_.rel(t_approve);
    bool back = poll_until(back_on_primary, o_.timeout_ms, why);
    if (!back) {
      return "[manual] the answer did not go back to the primary after approval: " + why;
    }
    fb["after_approve_ms"] = t_back - t_approve;
    tl_.add(t_back, "[manual] answer on the primary " + dur_text(t_back - t_approve) +
                        " after the approval");
  } else if (mode == "gradual") {
    // Samples bursts of queries; the ramp ends when a whole burst answers the primary.
    Millis t_first = -1;
    json samples = json::array();
    bool done = poll_until(
        [&] {
          int primary = 0;
          for (int i = 0; i < kBurst; ++i) {
            primary += is_only(dns.ask(), kPrimaryIp) ? 1 : 0;
          }
          Millis t = steady_ms();
          if (primary > 0 && t_first < 0) {
            t_first = t;
            tl_.add(t, "[gradual] ramp started: " + std::to_string(primary) + "/" +
                           std::to_string(kBurst) + " answers are the primary");
          }
          if (t_first >= 0 && samples.size() < 400) {
            samples.push_back(
                {{"t_ms", tl_.rel(t)}, {"primary_share", static_cast<double>(primary) / kBurst}});
          }
          if (primary == kBurst) {
            t_back = t;
            return true;
          }
          return false;
        },
        o_.stabilize_ms + o_.ramp_ms + o_.timeout_ms, why);
    if (!done) {
      return "[gradual] the answers never became 100 % primary: " + why;
    }
    fb["ramp_start_t_ms"] = tl_.rel(t_first);
    fb["ramp_ms"] = t_back - t_first;
    fb["samples"] = std::move(samples);
  } else {
    bool back = poll_until(back_on_primary, o_.stabilize_ms + o_.timeout_ms, why);
    if (!back) {
      return "[auto] the answer did not go back to the primary: " + why;
    }
  }
  tl_.add(t_back, "[" + mode + "] DNS answer back on the primary: failback took " +
                      dur_text(t_back - t_restore) + " from the restore (" +
                      dur_text(t_back - t_healthy) + " after healthy)");
  fb["back_t_ms"] = tl_.rel(t_back);
  fb["failback_ms"] = t_back - t_restore;
  fb["after_healthy_ms"] = t_back - t_healthy;
  run["failback"] = fb;

  int code = daemon_.stop(5000);
  tl_.add("[" + mode + "] steerdns serve stopped (exit " + std::to_string(code) + ")");
  // The daemon's own decisions, from its event log, on the drill's clock.
  if (auto log = read_store_events(tmp_ + "/" + mode + "/steerdns.db"); log) {
    json events = json::array();
    for (const auto& e : log->events) {
      Millis t = t_kill + (e.wall_ms - kill_wall);
      std::string text = e.type + " " + e.target;
      if (e.from_tier != 0 || e.to_tier != 0) {
        text += " (tier " + std::to_string(e.from_tier) + " -> " + std::to_string(e.to_tier) + ")";
      }
      if (!e.cause.empty()) {
        text += ": " + e.cause;
      }
      tl_.add(t, "[" + mode + "] daemon event: " + text);
      events.push_back({{"t_ms", tl_.rel(t)},
                        {"type", e.type},
                        {"target", e.target},
                        {"cause", e.cause},
                        {"from_tier", e.from_tier},
                        {"to_tier", e.to_tier}});
    }
    run["daemon_events"] = events;
  }
  if (code != 0) {
    return "[" + mode + "] the daemon exited with " + std::to_string(code) + "; its log:\n" +
           daemon_.log_tail();
  }
  return "";
}

std::string LocalDrill::run(json& out) {
  out = json::array();
  if (auto e = setup(); !e.empty()) {
    return e;
  }
  for (const auto& mode : o_.failback) {
    json r;
    std::string e = cycle(mode, r);
    if (!e.empty()) {
      daemon_.stop(2000);
      r["error"] = e;
      out.push_back(r);
      return e;
    }
    out.push_back(r);
    // The next mode starts with a healthy primary (its cycle restored it).
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// The live drill.

// The live drill's override, through the daemon's steering commands (`steer {JSON}` on the
// control socket, what `steerdns override set/clear` send).
class LiveOverride {
 public:
  LiveOverride(const DrillOptions& o, Timeline& tl) : o_(o), tl_(tl) {}
  ~LiveOverride() { (void)clear(); }

  Status set() {
    json req = {{"cmd", "override-set"},
                {"scope", "check"},
                {"target", o_.check},
                {"action", "down"},
                {"reason", "steerdns drill --live"},
                {"author", author()},
                // A little beyond --for, so the drill itself ends it (and sees that it can);
                // if the drill dies, it still ends within seconds of --for.
                {"expires", dur_arg(o_.for_ms + kClearMargin)}};
    auto r = control_request(o_.control, "steer " + req.dump(), 10'000);
    if (!r) {
      return Error{"forcing " + o_.check + " down: " + r.error()};
    }
    active_ = true;
    tl_.add("check " + o_.check + " forced down (override by " + author() + ", expires in " +
            dur_text(o_.for_ms + kClearMargin) + ")");
    return OkStatus();
  }

  Status clear() {
    if (!active_) {
      return OkStatus();
    }
    active_ = false;
    json req = {
        {"cmd", "override-clear"}, {"scope", "check"}, {"target", o_.check}, {"author", author()}};
    auto r = control_request(o_.control, "steer " + req.dump(), 10'000);
    if (!r) {
      return Error{"clearing the override on " + o_.check + ": " + r.error() +
                   " (it expires by itself)"};
    }
    tl_.add("override on " + o_.check + " cleared");
    return OkStatus();
  }

  static std::string author() {
    const char* u = std::getenv("USER");
    return std::string("drill:") + (u != nullptr && *u != '\0' ? u : "unknown");
  }

 private:
  const DrillOptions& o_;
  Timeline& tl_;
  bool active_ = false;
};

std::string live_drill(const DrillOptions& o, Timeline& tl, json& out) {
  CheckState before = check_state(o.control, o.check);
  if (!before.error.empty()) {
    return before.error;
  }
  tl.add("live drill on " + o.control + ": check " + o.check + " is " + before.status);
  out["check"] = o.check;
  out["check_status_before"] = before.status;

  DnsClient dns;
  Answer base;
  Millis last_base_t = -1;
  uint32_t last_base_ttl = 0;
  if (!o.name.empty()) {
    auto qtype = o.type == "AAAA" ? uint16_t{28} : uint16_t{1};
    if (auto st = dns.open(o.server, o.name, qtype); !st) {
      return st.error();
    }
    base = dns.ask(1000);
    if (!base.ok || base.rcode != 0 || base.values.empty()) {
      return o.name + " " + o.type + " at " + o.server + ": " + base.text() +
             " (the drill needs an answer to watch)";
    }
    last_base_t = steady_ms();
    last_base_ttl = base.ttl;
    tl.add(o.name + " " + o.type + " answers " + base.text());
    out["answer_before"] = base.values;
  }

  LiveOverride ov(o, tl);
  Millis t_set = steady_ms();
  if (auto st = ov.set(); !st) {
    return st.error();
  }
  Millis t_end = t_set + o.for_ms;
  Millis t_switch = -1;
  Millis t_down = -1;
  Answer after;
  Millis next = steady_ms();
  while (!g_interrupted && steady_ms() < t_end) {
    if (t_down < 0) {
      // The override shows in the health report's status (or the check itself went down).
      CheckState s = check_state(o.control, o.check);
      if (s.status == "unhealthy") {
        t_down = steady_ms();
        tl.add(t_down, "check " + o.check + " reported unhealthy, " + dur_text(t_down - t_set) +
                           " after the override");
      }
    }
    if (!o.name.empty() && t_switch < 0) {
      Answer a = dns.ask();
      Millis t = steady_ms();
      if (a.ok && a.rcode == 0 && a.values == base.values) {
        last_base_t = t;
        last_base_ttl = a.ttl;
      } else if (a.ok) {
        t_switch = t;
        after = a;
        tl.add(t, "answer switched to " + a.text() + ", " + dur_text(t - t_set) +
                      " after the override");
      }
    }
    next += kTick;
    Millis now = steady_ms();
    if (next > now) {
      nap(next - now);
    } else {
      next = now;  // behind (a slow reply): sample again now, no burst to catch up
    }
  }
  bool interrupted = g_interrupted.load();
  if (interrupted) {
    tl.add("interrupted: clearing the override");
  } else {
    tl.add("--for " + dur_text(o.for_ms) + " elapsed");
  }
  Status cleared = ov.clear();
  Millis t_clear = steady_ms();
  json m = {
      {"override_t_ms", tl.rel(t_set)}, {"for_ms", o.for_ms}, {"cleared_t_ms", tl.rel(t_clear)}};
  if (t_down >= 0) {
    m["detection_ms"] = t_down - t_set;
  }
  std::string fail;
  if (!o.name.empty()) {
    if (t_switch >= 0) {
      Millis t_move = last_base_t + static_cast<Millis>(last_base_ttl) * 1000;
      tl.add(t_move, "TTL-honouring clients have moved (last old answer at t+" +
                         std::to_string(tl.rel(last_base_t)) + " with ttl " +
                         std::to_string(last_base_ttl) + "), " + dur_text(t_move - t_set) +
                         " after the override (computed)");
      m["switch_ms"] = t_switch - t_set;
      m["switch_t_ms"] = tl.rel(t_switch);
      m["ttl_before"] = last_base_ttl;
      m["ttl_after"] = after.ttl;
      m["answer_after"] = after.values;
      m["client_move_ms"] = t_move - t_set;
      m["client_move_t_ms"] = tl.rel(t_move);
    } else {
      fail = "the answer for " + o.name + " did not change within --for " + dur_text(o.for_ms);
    }
    Answer now = dns.ask(1000);
    tl.add("after clearing: " + o.name + " answers " + now.text());
    m["answer_after_clear"] = now.values;
  }
  out["failover"] = m;
  if (interrupted) {
    return "interrupted";
  }
  if (!cleared) {
    return cleared.error();
  }
  return fail;
}

void print_human(const json& r) {
  std::printf("\n%s: %s\n", r.value("result", "FAIL").c_str(),
              r.value("summary", std::string()).c_str());
  if (r.contains("reason") && r["reason"].is_string()) {
    std::printf("reason: %s\n", r["reason"].get<std::string>().c_str());
  }
}

}  // namespace

std::string check_drill_options(const DrillOptions& o) {
  if (o.rto_ms <= 0) {
    return "--rto must be positive";
  }
  if (o.live) {
    if (o.check.empty()) {
      return "--live needs --check ID (the check to force down)";
    }
    if (o.control.empty()) {
      return "--live needs --control PATH (the running daemon's control socket)";
    }
    if (o.for_ms < 1000 || o.for_ms > kMaxLiveFor) {
      return "--for must be between 1s and 30m (the override always expires by itself)";
    }
    if (o.type != "A" && o.type != "AAAA") {
      return "--type must be A or AAAA, not '" + o.type + "'";
    }
    if (!o.name.empty()) {
      if (auto a = server::parse_listen_addr(o.server); !a) {
        return "--server: " + a.error();
      }
    }
    return "";
  }
  if (o.interval_ms < 100) {
    return "--interval must be at least 100ms (the health checks' minimum)";
  }
  if (o.failure_threshold < 1 || o.failure_threshold > 100 || o.success_threshold < 1 ||
      o.success_threshold > 100) {
    return "--failure-threshold and --success-threshold must be 1..100";
  }
  if (o.ttl < 1 || o.failover_ttl < 1 || o.failover_ttl > o.ttl) {
    return "--ttl and --failover-ttl must be at least 1 s, with --failover-ttl <= --ttl";
  }
  if (o.failback.empty()) {
    return "--failback needs at least one of auto, manual, gradual";
  }
  for (const auto& m : o.failback) {
    if (m != "auto" && m != "manual" && m != "gradual") {
      return "--failback: unknown mode '" + m + "' (auto, manual, gradual)";
    }
  }
  if (o.timeout_ms < 1000) {
    return "--timeout must be at least 1s";
  }
  return "";
}

int run_drill(const DrillOptions& o) {
  if (auto e = check_drill_options(o); !e.empty()) {
    std::fprintf(stderr, "steerdns drill: %s\n", e.c_str());
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = drill_on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Where the result will be recorded must work before anything is changed.
  if (!o.control.empty()) {
    if (auto path = daemon_event_log(o.control); !path) {
      std::fprintf(stderr, "steerdns drill: cannot record the result: %s\n", path.error().c_str());
      return 1;
    }
  }
  Timeline tl(o.json);
  if (!o.json) {
    std::printf("steerdns drill (%s), RTO target %s\n", o.live ? "live" : "local, loopback",
                dur_text(o.rto_ms).c_str());
  }
  json result = {{"type", "drill"},
                 {"mode", o.live ? "live" : "local"},
                 {"started", iso_time(tl.wall0())},
                 {"rto_ms", o.rto_ms}};
  std::string fail;
  Millis worst_move = -1;
  if (o.live) {
    fail = live_drill(o, tl, result);
    if (result.contains("failover") && result["failover"].contains("client_move_ms")) {
      worst_move = result["failover"]["client_move_ms"].get<Millis>();
    }
  } else {
    result["settings"] = {{"interval_ms", o.interval_ms},
                          {"failure_threshold", o.failure_threshold},
                          {"success_threshold", o.success_threshold},
                          {"ttl", o.ttl},
                          {"failover_ttl", o.failover_ttl},
                          {"stabilize_ms", o.stabilize_ms},
                          {"ramp_ms", o.ramp_ms},
                          {"approve_after_ms", o.approve_after_ms},
                          {"failback", o.failback}};
    json runs;
    {
      LocalDrill d(o, tl);
      fail = d.run(runs);
      if (o.keep && !d.tmp_dir().empty()) {
        result["temp_dir"] = d.tmp_dir();
      }
    }
    result["runs"] = runs;
    Millis worst_detect = -1;
    Millis worst_switch = -1;
    for (const auto& r : runs) {
      if (r.contains("failover")) {
        worst_move = std::max(worst_move, r["failover"]["client_move_ms"].get<Millis>());
        worst_detect = std::max(worst_detect, r["failover"]["detection_ms"].get<Millis>());
        worst_switch = std::max(worst_switch, r["failover"]["switch_ms"].get<Millis>());
      }
    }
    if (worst_detect >= 0) {
      result["detection_ms"] = worst_detect;
      result["switch_ms"] = worst_switch;
    }
  }
  if (worst_move >= 0) {
    result["client_move_ms"] = worst_move;
  }
  if (fail.empty() && worst_move < 0) {
    fail = "nothing measured a client move (give --name to a live drill to watch an answer)";
    if (o.live && o.name.empty()) {
      fail.clear();  // a live drill without --name only rehearses the override
    }
  }
  if (fail.empty() && worst_move > o.rto_ms) {
    fail = "RTO missed: TTL-honouring clients moved " + dur_text(worst_move) +
           " after the failure, target " + dur_text(o.rto_ms);
  }
  bool pass = fail.empty();
  result["result"] = pass ? "PASS" : "FAIL";
  if (!pass) {
    result["reason"] = fail;
  }
  result["duration_ms"] = steady_ms() - tl.t0();
  result["summary"] = worst_move >= 0
                          ? "clients moved " + dur_text(worst_move) +
                                " after the failure (target " + dur_text(o.rto_ms) + ")"
                          : std::string(pass ? "override rehearsed" : "no client move measured");

  // Into the event log of the daemon at --control, and/or the file --event-log names.
  std::vector<std::string> logs;
  std::vector<std::string> log_errors;
  if (!o.event_log.empty()) {
    logs.push_back(o.event_log);
  }
  if (!o.control.empty() || !logs.empty()) {
    dr::Event ev = drill_event(result, o.live ? o.check : std::string("local"));
    json recorded = json::array();
    if (!o.control.empty()) {
      auto path = daemon_event_log(o.control);
      if (!path) {
        log_errors.push_back(path.error());
      } else if (auto st = record_in_daemon(o.control, ev); !st) {
        log_errors.push_back(st.error());
      } else {
        recorded.push_back(*path);
      }
    }
    for (const auto& path : logs) {
      if (auto st = append_event(path, ev); st) {
        recorded.push_back(path);
      } else {
        log_errors.push_back(st.error());
      }
    }
    result["event_recorded"] = log_errors.empty();
    result["event_logs"] = recorded;
    if (!log_errors.empty()) {
      // The weekly review reads the log: a drill it cannot see did not count.
      result["event_error"] = log_errors;
      if (pass) {
        pass = false;
        result["result"] = "FAIL";
        result["reason"] = "the result was not recorded: " + log_errors.front();
      }
    }
    for (const auto& path : recorded) {
      tl.add("result recorded in the event log " + path.get<std::string>());
    }
  }
  tl.add(std::string("drill ") + (pass ? "PASS" : "FAIL"));
  // In time order (computed times, like the client move, were added when they were known).
  json timeline = tl.entries();
  std::stable_sort(timeline.begin(), timeline.end(), [](const json& a, const json& b) {
    return a["t_ms"].get<Millis>() < b["t_ms"].get<Millis>();
  });
  result["timeline"] = timeline;
  if (o.json) {
    std::printf("%s\n", result.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    print_human(result);
  }
  return pass ? 0 : 1;
}

namespace {

struct DrillFlags {
  DrillOptions o;
  std::string rto = "2m", interval = "1s", stabilize = "3s", ramp = "5s", approve_after = "3s",
              timeout = "60s", for_ = "2m", ttl = "60", failover_ttl = "30";
  std::string failback = "auto,manual,gradual";
};

Result<Millis> duration_flag(const char* flag, const std::string& text) {
  auto d = config::parse_duration_ms(text);
  if (!d) {
    return Error{std::string(flag) + " " + text + ": " + d.error()};
  }
  return *d;
}

// TTLs: whole seconds, "60" or "1m".
Result<uint32_t> seconds_flag(const char* flag, const std::string& text) {
  if (!text.empty() &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (text.size() > 9) {
      return Error{std::string(flag) + " " + text + ": too large"};
    }
    return static_cast<uint32_t>(std::stoul(text));
  }
  auto d = duration_flag(flag, text);
  if (!d) {
    return Error{d.error()};
  }
  if (*d % 1000 != 0 || *d / 1000 > 0x7FFFFFFF) {
    return Error{std::string(flag) + " " + text + ": must be whole seconds"};
  }
  return static_cast<uint32_t>(*d / 1000);
}

int drill_from_flags(DrillFlags& f) {
  DrillOptions o = f.o;
  std::string bad;
  // The flags in order: the first bad one is reported and the rest are not parsed.
  auto take = [&](auto parse, const char* flag, const std::string& text, auto& out) {
    if (!bad.empty()) {
      return;
    }
    auto d = parse(flag, text);
    if (!d) {
      bad = d.error();
    } else {
      out = *d;
    }
  };
  take(duration_flag, "--rto", f.rto, o.rto_ms);
  take(duration_flag, "--interval", f.interval, o.interval_ms);
  take(duration_flag, "--stabilize", f.stabilize, o.stabilize_ms);
  take(duration_flag, "--ramp", f.ramp, o.ramp_ms);
  take(duration_flag, "--approve-after", f.approve_after, o.approve_after_ms);
  take(duration_flag, "--timeout", f.timeout, o.timeout_ms);
  take(duration_flag, "--for", f.for_, o.for_ms);
  take(seconds_flag, "--ttl", f.ttl, o.ttl);
  take(seconds_flag, "--failover-ttl", f.failover_ttl, o.failover_ttl);
  o.failback.clear();
  std::stringstream modes(f.failback);
  for (std::string m; std::getline(modes, m, ',');) {
    if (!m.empty()) {
      o.failback.push_back(m);
    }
  }
  if (!bad.empty()) {
    std::fprintf(stderr, "steerdns drill: %s\n", bad.c_str());
    return 2;
  }
  return run_drill(o);
}

}  // namespace

DrillCommand add_drill_command(CLI::App& app) {
  auto f = std::make_shared<DrillFlags>();
  CLI::App* d = app.add_subcommand(
      "drill",
      "DR drill: run the failover scenario on loopback (or --live against a running daemon), "
      "print a timeline and PASS/FAIL against --rto; exits 1 on FAIL");
  d->add_option("--rto", f->rto,
                "Target for TTL-honouring clients to move, from the failure (default 2m)");
  d->add_flag("--json", f->o.json, "Print the result as JSON (no live timeline)");
  d->add_option("--timeout", f->timeout, "Give up on any one step after this long (default 60s)");
  d->add_option("--event-log", f->o.event_log,
                "Also append the result to this event log file (a daemon's "
                "steerdns-events.jsonl), e.g. when no daemon runs");
  d->add_option("--control", f->o.control,
                "A running daemon's control socket: record the result in its event log (live: "
                "the daemon under test)");
  auto* local = "Local drill (default)";
  d->add_option("--interval", f->interval, "Health check interval (default 1s)")->group(local);
  d->add_option("--failure-threshold", f->o.failure_threshold,
                "Failures before a check is unhealthy (default 3)")
      ->group(local);
  d->add_option("--success-threshold", f->o.success_threshold,
                "Successes before a check is healthy again (default 2)")
      ->group(local);
  d->add_option("--ttl", f->ttl, "The record's TTL in seconds (default 60)")->group(local);
  d->add_option("--failover-ttl", f->failover_ttl, "TTL while failed over (default 30)")
      ->group(local);
  d->add_option("--failback", f->failback,
                "Failback modes to measure, one daemon each: auto,manual,gradual (default all)")
      ->group(local);
  d->add_option("--stabilize", f->stabilize,
                "auto/gradual: primary healthy this long before failing back (default 3s)")
      ->group(local);
  d->add_option("--ramp", f->ramp, "gradual: duration of the ramp back (default 5s)")->group(local);
  d->add_option("--approve-after", f->approve_after,
                "manual: approve (steerdns failback approve) this long after the primary is "
                "healthy; the answer must stay on the secondary until then (default 3s)")
      ->group(local);
  d->add_flag("--wait-ttl", f->o.wait_ttl,
              "Wait in real time until TTL-honouring clients have moved and check a fresh answer "
              "(default: computed from the last answer before the switch)")
      ->group(local);
  d->add_flag("--keep", f->o.keep, "Keep the temporary directory (configs, daemon logs)")
      ->group(local);
  auto* live = "Live drill";
  d->add_flag("--live", f->o.live,
              "Force --check down on the daemon at --control with an override that expires by "
              "itself, watch --name, clear the override")
      ->group(live);
  d->add_option("--check", f->o.check, "live: the health check to force down")->group(live);
  d->add_option("--for", f->for_,
                "live: how long the check stays forced down (default 2m, max 30m; the override "
                "expires even if the drill dies)")
      ->group(live);
  d->add_option("--name", f->o.name, "live: the name whose answer is watched")->group(live);
  d->add_option("--type", f->o.type, "live: A or AAAA (default A)")->group(live);
  d->add_option("--server", f->o.server,
                "live: the daemon's DNS address, ADDR:PORT (default 127.0.0.1:5300)")
      ->group(live);
  for (const char* o :
       {"--rto", "--timeout", "--interval", "--stabilize", "--ramp", "--approve-after", "--for"}) {
    d->get_option(o)->type_name("DURATION");
  }
  d->get_option("--ttl")->type_name("SECONDS");
  d->get_option("--failover-ttl")->type_name("SECONDS");
  d->get_option("--failback")->type_name("MODES");
  d->get_option("--control")->type_name("PATH");
  d->get_option("--event-log")->type_name("PATH");
  d->get_option("--check")->type_name("ID");
  d->get_option("--name")->type_name("NAME");
  d->get_option("--type")->type_name("A|AAAA");
  d->get_option("--server")->type_name("ADDR:PORT");
  return {d, [f] { return drill_from_flags(*f); }};
}

}  // namespace steerdns::daemon
