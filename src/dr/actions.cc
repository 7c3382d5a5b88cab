// Action runner: one thread, a queue of events, webhooks by libcurl easy and commands by
// posix_spawn + pidfd. Attempts poll a cancel flag so that stop() never waits for a slow
// endpoint or a hung command.
#include "dr/actions.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/spawn.h"
#include "core/text.h"
#include "core/version.h"

extern char** environ;

namespace steerdns::dr {
namespace {

constexpr Millis kMaxBackoffMs = 60'000;
constexpr size_t kAuditOutputChars = 300;  // of the output quoted in an audit record

Millis steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string iso_time(Millis wall_ms) {
  time_t secs = static_cast<time_t>(wall_ms / 1000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(wall_ms % 1000));
  return buf;
}

// Output for an audit line: one line, printable, shortened.
std::string quote_output(const std::string& out) {
  std::string s;
  for (char c : out) {
    if (s.size() >= kAuditOutputChars) {
      s += "...";
      break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    s += (u == '\n' || u == '\r' || u == '\t') ? ' ' : (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  while (!s.empty() && s.back() == ' ') {
    s.pop_back();
  }
  return s;
}

std::string describe(const ActionSpec& a) {
  if (a.kind == ActionKind::kWebhook) {
    return "webhook " + a.method + " " + a.url;
  }
  std::string s = "exec";
  for (const auto& arg : a.argv) {
    s += " " + arg;
  }
  return s;
}

// ---- webhook ----

std::once_flag g_curl_once;

struct CurlCtx {
  std::string body;
  size_t max = 0;
  const std::function<bool()>* cancel = nullptr;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* ctx = static_cast<CurlCtx*>(user);
  size_t len = size * n;
  if (ctx->body.size() < ctx->max) {
    ctx->body.append(data, std::min(len, ctx->max - ctx->body.size()));
  }
  return len;  // the rest is read and discarded
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* ctx = static_cast<CurlCtx*>(user);
  return (*ctx->cancel && (*ctx->cancel)()) ? 1 : 0;
}

}  // namespace

std::string payload_json(const Event& e) {
  nlohmann::json j = {
      {"event", e.type},      {"set", event_set(e)},
      {"target", e.target},   {"cause", e.cause},
      {"actor", e.actor},     {"from_tier", e.from_tier},
      {"to_tier", e.to_tier}, {"time", iso_time(e.wall_ms)},
      {"wall_ms", e.wall_ms},
  };
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string event_set(const Event& e) {
  std::string t = e.target.substr(0, e.target.find('#'));
  return t.find('/') == std::string::npos ? std::string() : t;
}

bool sets_match(const std::vector<std::string>& sets, const std::string& set_key) {
  if (sets.empty()) {
    return true;
  }
  auto slash = set_key.rfind('/');
  if (slash == std::string::npos) {
    return false;  // not about a record set (a check override): only unfiltered actions
  }
  for (const auto& s : sets) {
    if (set_filter_matches(s, set_key)) {
      return true;
    }
  }
  return false;
}

AttemptResult run_webhook(const ActionSpec& a, const Event& e, int attempt,
                          const std::function<bool()>& cancel) {
  std::call_once(g_curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* h = curl_easy_init();
  if (h == nullptr) {
    return {false, "curl_easy_init failed"};
  }
  std::string payload = payload_json(e);
  CurlCtx ctx;
  ctx.max = a.max_output;
  ctx.cancel = &cancel;
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_slist* hdrs = nullptr;
  bool has_ct = false;
  bool has_ua = false;
  for (const auto& [k, v] : a.headers) {
    hdrs = curl_slist_append(hdrs, (k + ": " + v).c_str());
    has_ct = has_ct || lower(k) == "content-type";
    has_ua = has_ua || lower(k) == "user-agent";
  }
  if (!has_ct) {
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
  }
  if (!has_ua) {
    hdrs = curl_slist_append(hdrs, (std::string("User-Agent: steerdns/") + kVersion).c_str());
  }
  hdrs = curl_slist_append(hdrs, ("X-Steerdns-Event: " + e.type).c_str());
  hdrs = curl_slist_append(hdrs, ("X-Steerdns-Attempt: " + std::to_string(attempt)).c_str());

  curl_easy_setopt(h, CURLOPT_URL, a.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(a.timeout_ms));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(a.timeout_ms));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &ctx);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &ctx);
  const std::string& m = a.method;
  if (m == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (m == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (m == "DELETE") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
  } else {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
    if (m != "POST") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
    }
  }
  Millis t0 = steady_ms();
  CURLcode rc = curl_easy_perform(h);
  Millis took = steady_ms() - t0;
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);

  AttemptResult r;
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    r.detail = "abandoned after " + std::to_string(took) + " ms: shutting down";
  } else if (rc == CURLE_OPERATION_TIMEDOUT) {
    r.detail = "timed out after " + std::to_string(took) + " ms";
  } else if (rc != CURLE_OK) {
    r.detail = std::string(errbuf[0] != 0 ? errbuf : curl_easy_strerror(rc));
  } else {
    r.ok = status >= 200 && status < 300;
    r.detail = "HTTP " + std::to_string(status) + " in " + std::to_string(took) + " ms";
    std::string body = quote_output(ctx.body);
    if (!r.ok && !body.empty()) {
      r.detail += ": " + body;
    }
  }
  return r;
}

AttemptResult run_exec(const ActionSpec& a, const Event& e, int attempt,
                       const std::function<bool()>& cancel) {
  if (a.argv.empty() || a.argv[0].empty()) {
    return {false, "empty argv"};
  }
  // Environment: ours plus the event's fields (ours first, so the event's values win).
  std::vector<std::string> env_store;
  for (char** p = environ; *p != nullptr; ++p) {
    if (std::strncmp(*p, "STEERDNS_", 9) != 0) {
      env_store.emplace_back(*p);
    }
  }
  env_store.push_back("STEERDNS_EVENT=" + e.type);
  env_store.push_back("STEERDNS_SET=" + event_set(e));
  env_store.push_back("STEERDNS_TARGET=" + e.target);
  env_store.push_back("STEERDNS_FROM_TIER=" + std::to_string(e.from_tier));
  env_store.push_back("STEERDNS_TO_TIER=" + std::to_string(e.to_tier));
  env_store.push_back("STEERDNS_CAUSE=" + e.cause);
  env_store.push_back("STEERDNS_ACTOR=" + e.actor);
  env_store.push_back("STEERDNS_TIME=" + iso_time(e.wall_ms));
  env_store.push_back("STEERDNS_WALL_MS=" + std::to_string(e.wall_ms));
  env_store.push_back("STEERDNS_ATTEMPT=" + std::to_string(attempt));
  env_store.push_back("STEERDNS_PAYLOAD=" + payload_json(e));
  std::vector<char*> envp;
  for (auto& s : env_store) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);
  core::SpawnedChild child = core::spawn_captured(a.argv, envp.data());
  if (child.failed == core::SpawnedChild::Failed::kExec) {
    return {false, "cannot run " + a.argv[0] + ": " + child.error_text()};
  }
  if (child.failed != core::SpawnedChild::Failed::kNo) {
    return {false, child.error_text()};
  }
  Millis t0 = steady_ms();
  const pid_t pid = child.pid;
  const int pfd = child.pidfd;
  const int out_fd = child.out_fd;
  ::fcntl(out_fd, F_SETFL, ::fcntl(out_fd, F_GETFL) | O_NONBLOCK);
  std::string out;
  bool pipe_open = true;
  auto drain = [&] {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(out_fd, buf, sizeof buf);
      if (n > 0) {
        if (out.size() < a.max_output) {
          out.append(buf, std::min(static_cast<size_t>(n), a.max_output - out.size()));
        }
        continue;
      }
      if (n == 0) {
        pipe_open = false;
      } else if (errno == EINTR) {
        continue;
      }
      return;
    }
  };
  bool timed_out = false;
  bool cancelled = false;
  bool exited = false;
  while (!exited) {
    Millis left = a.timeout_ms - (steady_ms() - t0);
    if (left <= 0) {
      timed_out = true;
      break;
    }
    if (cancel && cancel()) {
      cancelled = true;
      break;
    }
    pollfd p[2] = {{pfd, POLLIN, 0}, {pipe_open ? out_fd : -1, POLLIN, 0}};
    int n = ::poll(p, 2, static_cast<int>(std::min<Millis>(left, 100)));
    if (n < 0 && errno != EINTR) {
      break;
    }
    if (n > 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      drain();
    }
    if (n > 0 && (p[0].revents & POLLIN) != 0) {
      exited = true;
    }
  }
  if (!exited) {
    ::kill(-pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  Millis took = steady_ms() - t0;
  drain();  // what the command wrote just before exiting
  ::close(pfd);
  ::close(out_fd);

  AttemptResult r;
  std::string output = quote_output(out);
  if (timed_out) {
    r.detail = "timed out after " + std::to_string(took) + " ms, killed";
  } else if (cancelled) {
    r.detail = "abandoned after " + std::to_string(took) + " ms: shutting down";
  } else if (WIFEXITED(status)) {
    r.ok = WEXITSTATUS(status) == 0;
    r.detail =
        "exit " + std::to_string(WEXITSTATUS(status)) + " in " + std::to_string(took) + " ms";
  } else if (WIFSIGNALED(status)) {
    r.detail = "killed by signal " + std::to_string(WTERMSIG(status)) + " after " +
               std::to_string(took) + " ms";
  } else {
    r.detail = "ended after " + std::to_string(took) + " ms";
  }
  if (!output.empty()) {
    r.detail += ": " + output;
  }
  return r;
}

// ---- runner ----

ActionRunner::ActionRunner(Clock& clock, ActionRunnerOptions opts)
    : clock_(clock), opts_(opts), spec_(std::make_shared<ActionsSpec>()) {}

ActionRunner::~ActionRunner() { stop(); }

void ActionRunner::configure(std::shared_ptr<const ActionsSpec> spec) {
  std::lock_guard lk(mu_);
  spec_ = spec ? std::move(spec) : std::make_shared<ActionsSpec>();
}

void ActionRunner::on_audit(std::function<void(const Event&)> cb) {
  std::lock_guard lk(mu_);
  audit_cbs_.push_back(std::move(cb));
}

void ActionRunner::start() {
  std::lock_guard lk(mu_);
  if (started_ || stopping_) {
    return;
  }
  started_ = true;
  thread_ = std::thread([this] { loop(); });
}

void ActionRunner::stop() {
  std::deque<Job> dropped;
  {
    std::lock_guard lk(mu_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
    cancel_.store(true);
    dropped.swap(queue_);
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  for (const auto& job : dropped) {
    for (const auto& a : job.actions) {
      Event ev;
      ev.wall_ms = clock_.wall_ms();
      ev.type = "action_dropped";
      ev.target = job.event.target;
      ev.cause = describe(a) + " (for " + job.event.type + "): not run, shutting down";
      ev.actor = "steerdns";
      ev.from_tier = job.event.from_tier;
      ev.to_tier = job.event.to_tier;
      audit(ev);
    }
  }
  std::lock_guard lk(mu_);
  cv_.notify_all();
}

bool ActionRunner::submit(const Event& e) {
  Job job;
  job.event = e;
  std::string set = event_set(e);
  std::shared_ptr<const ActionsSpec> spec;
  {
    std::lock_guard lk(mu_);
    spec = spec_;
  }
  auto it = spec->on.find(e.type);
  if (it == spec->on.end()) {
    return false;
  }
  for (const auto& a : it->second) {
    if (sets_match(a.sets, set)) {
      job.actions.push_back(a);
    }
  }
  if (job.actions.empty()) {
    return false;
  }
  std::string why;
  {
    std::lock_guard lk(mu_);
    if (stopping_) {
      why = "not run, shutting down";
    } else if (queue_.size() >= opts_.max_queue) {
      why = "not run, " + std::to_string(queue_.size()) + " events already waiting";
    } else {
      queue_.push_back(std::move(job));
    }
  }
  if (why.empty()) {
    cv_.notify_all();
    return true;
  }
  for (const auto& a : job.actions) {
    Event ev;
    ev.wall_ms = clock_.wall_ms();
    ev.type = "action_dropped";
    ev.target = e.target;
    ev.cause = describe(a) + " (for " + e.type + "): " + why;
    ev.actor = "steerdns";
    ev.from_tier = e.from_tier;
    ev.to_tier = e.to_tier;
    audit(ev);
  }
  return false;
}

size_t ActionRunner::pending() const {
  std::lock_guard lk(mu_);
  return queue_.size() + (running_job_ ? 1 : 0);
}

bool ActionRunner::wait_idle(Millis timeout_ms) const {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms),
                      [this] { return queue_.empty() && !running_job_; });
}

ActionStats ActionRunner::stats() const {
  return ActionStats{ok_.load(std::memory_order_relaxed), failed_.load(std::memory_order_relaxed),
                     dropped_.load(std::memory_order_relaxed)};
}

void ActionRunner::audit(const Event& e) {
  // Every final result passes through here, whichever path produced it.
  if (e.type == "action_succeeded") {
    ok_.fetch_add(1, std::memory_order_relaxed);
  } else if (e.type == "action_failed") {
    failed_.fetch_add(1, std::memory_order_relaxed);
  } else if (e.type == "action_dropped") {
    dropped_.fetch_add(1, std::memory_order_relaxed);
  }
  std::vector<std::function<void(const Event&)>> cbs;
  {
    std::lock_guard lk(mu_);
    cbs = audit_cbs_;
  }
  for (const auto& cb : cbs) {
    cb(e);
  }
}

bool ActionRunner::sleep_unless_stopping(Millis ms) {
  std::unique_lock lk(mu_);
  return !cv_.wait_for(lk, std::chrono::milliseconds(ms), [this] { return stopping_; });
}

void ActionRunner::loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        return;
      }
      job = std::move(queue_.front());
      queue_.pop_front();
      running_job_ = true;
    }
    run_job(job);
    {
      std::lock_guard lk(mu_);
      running_job_ = false;
    }
    cv_.notify_all();
  }
}

void ActionRunner::run_job(const Job& job) {
  const Event& e = job.event;
  std::function<bool()> cancel = [this] { return cancel_.load(std::memory_order_relaxed); };
  size_t n_actions = job.actions.size();
  auto audit_event = [&](const char* type, const std::string& cause) {
    Event ev;
    ev.wall_ms = clock_.wall_ms();
    ev.type = type;
    ev.target = e.target;
    ev.cause = cause;
    ev.actor = "steerdns";
    ev.from_tier = e.from_tier;
    ev.to_tier = e.to_tier;
    audit(ev);
  };
  for (size_t i = 0; i < n_actions; ++i) {
    const ActionSpec& a = job.actions[i];
    std::string what = "action " + std::to_string(i + 1) + "/" + std::to_string(n_actions) + " " +
                       describe(a) + " (for " + e.type + ")";
    int attempts = 1 + std::max(0, a.retries);
    bool ok = false;
    for (int n = 1; n <= attempts; ++n) {
      AttemptResult r =
          a.kind == ActionKind::kWebhook ? run_webhook(a, e, n, cancel) : run_exec(a, e, n, cancel);
      std::string at = what + ", attempt " + std::to_string(n) + "/" + std::to_string(attempts) +
                       ": " + r.detail;
      if (r.ok) {
        audit_event("action_succeeded", at);
        ok = true;
        break;
      }
      if (cancel_.load()) {
        audit_event("action_failed", at);
        return;
      }
      if (n == attempts) {
        audit_event("action_failed", at);
        break;
      }
      Millis wait = std::min(kMaxBackoffMs, a.backoff_ms << std::min(n - 1, 16));
      audit_event("action_attempt_failed", at + "; retrying in " + std::to_string(wait) + " ms");
      if (!sleep_unless_stopping(wait)) {
        audit_event("action_failed", what + ": abandoned before attempt " + std::to_string(n + 1) +
                                         ", shutting down");
        return;
      }
    }
    if (!ok && a.stop_on_failure) {
      for (size_t j = i + 1; j < n_actions; ++j) {
        audit_event("action_skipped",
                    "action " + std::to_string(j + 1) + "/" + std::to_string(n_actions) + " " +
                        describe(job.actions[j]) + " (for " + e.type + "): not run, action " +
                        std::to_string(i + 1) + " failed and has on_failure: stop");
      }
      return;
    }
  }
}

}  // namespace steerdns::dr
