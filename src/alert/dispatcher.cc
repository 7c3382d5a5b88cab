#include "alert/dispatcher.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <mutex>
#include <set>
#include <utility>

#include "core/thread_priority.h"

namespace steerdns::alert {

using nlohmann::json;

namespace {

std::once_flag g_curl_once;

std::string iso(int64_t ms) {
  time_t s = static_cast<time_t>(ms / 1000);
  tm t{};
  gmtime_r(&s, &t);
  char buf[40];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &t);
  return buf;
}

std::string rfc5322_date(int64_t ms) {
  time_t s = static_cast<time_t>(ms / 1000);
  tm t{};
  gmtime_r(&s, &t);
  char buf[64];
  strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &t);
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) {
    return "steerdns";
  }
  return buf;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

// "[EMERGENCY] failover genai-demo.example.test./A: served from tier 2 (...)" -- the line
// every human-facing channel leads with.
std::string headline(const json& payload) {
  const json& a = payload["alert"];
  std::string kind = payload.value("kind", std::string());
  std::string s = "[" + upper(a.value("severity", std::string())) + "] ";
  if (kind == "resolve") {
    s = "[RESOLVED] ";
  } else if (kind == "ack") {
    s = "[ACKNOWLEDGED] ";
  } else if (kind == "escalate") {
    s += "escalated: ";
  } else if (kind == "repeat") {
    s += "still open: ";
  }
  s.append(a.value("event", std::string())).append(" ").append(a.value("target", std::string()));
  std::string summary = a.value("summary", std::string());
  if (!summary.empty()) {
    s.append(": ").append(summary);
  }
  return s;
}

// PagerDuty's four severities; emergency pages as critical.
const char* pd_severity(const std::string& s) {
  if (s == "info") {
    return "info";
  }
  if (s == "warning") {
    return "warning";
  }
  return "critical";
}

// Email header values are one line.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\r' || c == '\n') {
      c = ' ';
    }
  }
  return s;
}

// The receiver's answer body is not needed (the status code says it all).
size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

struct Upload {
  const std::string* data;
  size_t off = 0;
};

size_t read_upload(char* buf, size_t size, size_t n, void* arg) {
  auto* u = static_cast<Upload*>(arg);
  size_t left = u->data->size() - u->off;
  size_t k = std::min(left, size * n);
  std::copy_n(u->data->data() + u->off, k, buf);
  u->off += k;
  return k;
}

}  // namespace

Result<Rendered> render(const ChannelSpec& ch, const json& payload) {
  Rendered r;
  r.url = ch.url;
  const json& a = payload.at("alert");
  const std::string kind = payload.value("kind", std::string());
  const std::string dedup = payload.value("dedup_key", std::string());
  switch (ch.kind) {
    case ChannelKind::kWebhook: {
      json body{{"source", "steerdns"},
                {"host", host_name()},
                {"kind", kind},
                {"dedup_key", dedup},
                {"time", iso(payload.value("time_ms", int64_t{0}))},
                {"text", headline(payload)},
                {"alert", a}};
      r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
      r.headers.push_back("Content-Type: application/json");
      r.headers.push_back("X-Steerdns-Dedup-Key: " + dedup);
      for (const auto& [k, v] : ch.headers) {
        r.headers.push_back(k + ": " + v);
      }
      break;
    }
    case ChannelKind::kSlack: {
      // Incoming-webhook format: text is what notifications and old clients show.
      json body{{"text", headline(payload)},
                {"blocks",
                 json::array({json{{"type", "section"},
                                   {"text",
                                    {{"type", "mrkdwn"},
                                     {"text", "*" + headline(payload) + "*\nalert `" +
                                                  a.value("id", std::string()) + "` · " + kind +
                                                  " · " + iso(payload.value("time_ms", int64_t{0}))}}}}})}};
      r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
      r.headers.push_back("Content-Type: application/json");
      break;
    }
    case ChannelKind::kPagerDuty: {
      std::string key = ch.routing_key;
      if (!ch.routing_key_env.empty()) {
        const char* v = std::getenv(ch.routing_key_env.c_str());
        if (v == nullptr || *v == 0) {
          return Error{"routing key variable " + ch.routing_key_env + " is not set"};
        }
        key = v;
      }
      const char* action = kind == "resolve" ? "resolve" : kind == "ack" ? "acknowledge" : "trigger";
      // One PagerDuty incident per alert: its id is the dedup key for trigger, repeats,
      // escalation, acknowledge and resolve alike.
      json body{{"routing_key", key},
                {"event_action", action},
                {"dedup_key", a.value("id", std::string())}};
      if (std::string(action) == "trigger") {
        body["payload"] = {{"summary", headline(payload).substr(0, 1024)},
                           {"source", host_name()},
                           {"severity", pd_severity(a.value("severity", std::string()))},
                           {"component", a.value("target", std::string())},
                           {"group", a.value("event", std::string())},
                           {"class", kind},
                           {"timestamp", iso(payload.value("time_ms", int64_t{0}))},
                           {"custom_details", a}};
      }
      r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
      r.headers.push_back("Content-Type: application/json");
      break;
    }
    case ChannelKind::kSmtp: {
      r.mail_from = ch.from;
      r.rcpt = ch.to;
      std::string to;
      for (const auto& t : ch.to) {
        to.append(to.empty() ? "" : ", ").append(t);
      }
      int64_t t = payload.value("time_ms", int64_t{0});
      std::string msg;
      msg.append("Date: ").append(rfc5322_date(t)).append("\r\n");
      msg.append("From: ").append(ch.from).append("\r\n");
      msg.append("To: ").append(to).append("\r\n");
      msg.append("Message-ID: <").append(dedup).append("@steerdns>\r\n");
      msg.append("Subject: ").append(one_line(headline(payload)).substr(0, 200)).append("\r\n");
      msg.append("X-Steerdns-Dedup-Key: ").append(dedup).append("\r\n");
      msg.append("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
      std::string text = headline(payload) + "\n\n" + a.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
      // Lines starting with "." are escaped by libcurl; bare LFs become CRLF here.
      for (char c : text) {
        if (c == '\n') {
          msg.append("\r\n");
        } else {
          msg.push_back(c);
        }
      }
      r.body = std::move(msg);
      break;
    }
  }
  return r;
}

void Abort::trigger() {
  flag_ = true;
  std::lock_guard lk(mu_);
  if (multi_ != nullptr) {
    curl_multi_wakeup(static_cast<CURLM*>(multi_));
  }
}

Delivery deliver(const ChannelSpec& ch, const Rendered& r, Abort* abort) {
  std::call_once(g_curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  Delivery d;
  if (abort != nullptr && abort->triggered()) {
    d.aborted = true;
    d.detail = "aborted";
    return d;
  }
  CURL* h = curl_easy_init();
  if (h == nullptr) {
    d.detail = "curl_easy_init failed";
    return d;
  }
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_slist* hdrs = nullptr;
  curl_slist* rcpt = nullptr;
  for (const auto& x : r.headers) {
    hdrs = curl_slist_append(hdrs, x.c_str());
  }
  curl_easy_setopt(h, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(ch.timeout_ms));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(ch.timeout_ms));
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  Upload up{&r.body};
  if (ch.kind == ChannelKind::kSmtp) {
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, ("<" + r.mail_from + ">").c_str());
    for (const auto& t : r.rcpt) {
      rcpt = curl_slist_append(rcpt, ("<" + t + ">").c_str());
    }
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_upload);
    curl_easy_setopt(h, CURLOPT_READDATA, &up);
    curl_easy_setopt(h, CURLOPT_INFILESIZE, static_cast<long>(r.body.size()));
    if (!ch.username.empty()) {
      curl_easy_setopt(h, CURLOPT_USERNAME, ch.username.c_str());
      const char* pw = ch.password_env.empty() ? nullptr : std::getenv(ch.password_env.c_str());
      curl_easy_setopt(h, CURLOPT_PASSWORD, pw == nullptr ? "" : pw);
    }
  } else {
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r.body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(r.body.size()));
  }
  // A multi handle for the one transfer, only so that Abort::trigger() can wake its poll
  // (curl_multi_wakeup): an easy perform could be ended only from a progress callback, which
  // libcurl calls about once a second while a receiver is silent.
  CURLcode rc = CURLE_OK;
  CURLM* m = curl_multi_init();
  if (m == nullptr) {
    rc = curl_easy_perform(h);
  } else {
    curl_multi_add_handle(m, h);
    if (abort != nullptr) {
      std::lock_guard lk(abort->mu_);
      abort->multi_ = m;
    }
    for (;;) {
      int running = 0;
      CURLMcode mc = curl_multi_perform(m, &running);
      if (mc != CURLM_OK) {
        rc = CURLE_FAILED_INIT;
        std::snprintf(errbuf, sizeof errbuf, "%s", curl_multi_strerror(mc));
        break;
      }
      if (running == 0) {
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(m, &left)) {
          if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) {
            rc = msg->data.result;
          }
        }
        break;
      }
      if (abort != nullptr && abort->triggered()) {
        d.aborted = true;
        break;
      }
      curl_multi_poll(m, nullptr, 0, 1000, nullptr);
    }
    if (abort != nullptr) {
      std::lock_guard lk(abort->mu_);
      abort->multi_ = nullptr;
    }
    curl_multi_remove_handle(m, h);
    curl_multi_cleanup(m);
  }
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  if (d.aborted) {
    d.detail = "aborted";
  } else if (rc != CURLE_OK) {
    d.detail = std::string(curl_easy_strerror(rc)) + (errbuf[0] ? std::string(": ") + errbuf : "");
    // The server refused the message or a recipient: retrying the same mail will not help.
    d.permanent = rc == CURLE_LOGIN_DENIED || (ch.kind == ChannelKind::kSmtp && code >= 500 &&
                                               code < 600);
  } else if (ch.kind == ChannelKind::kSmtp) {
    d.ok = true;
    d.detail = "SMTP " + std::to_string(code);
  } else {
    d.detail = "HTTP " + std::to_string(code);
    d.ok = code >= 200 && code < 300;
    d.permanent = code >= 400 && code < 500 && code != 408 && code != 429;
  }
  curl_slist_free_all(hdrs);
  curl_slist_free_all(rcpt);
  curl_easy_cleanup(h);
  return d;
}

// Why a worker thread per channel: the sends stay the plain blocking deliver() (SMTP, HTTP
// and its abort alike), a channel's order is its worker's queue, and the store's calls
// (blocking, and slow when etcd is) stall only the channel that makes them. Channels are a
// handful, so are the threads; a channel's thread starts with its first row. libcurl's multi
// interface on one thread would save those threads, but every store write would then stall all
// channels' transfers, and the ordering rule would need its own bookkeeping per channel anyway.

namespace {

// Pending rows read per pass. The ordering rule needs the rows waiting in backoff too, so a
// pass reads every pending row (etcd reads the whole outbox for any of these calls anyway);
// past this many, the newest wait until older ones are done.
constexpr size_t kScanRows = 10'000;

int64_t backoff_ms(const AlertsSpec& spec, int64_t attempts) {
  int64_t back = spec.retry_min_ms;
  for (int64_t i = 1; i < attempts && back < spec.retry_max_ms; ++i) {
    back *= 2;
  }
  return std::min(back, spec.retry_max_ms);
}

}  // namespace

Dispatcher::~Dispatcher() { stop(); }

void Dispatcher::configure(AlertsSpec spec) {
  std::lock_guard lk(mu_);
  spec_ = std::move(spec);
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (spec_.channels.count(it->first) == 0) {
      retire(*it->second);
      retired_.push_back(std::move(it->second));
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void Dispatcher::on_idle(std::function<void()> cb) {
  std::lock_guard lk(mu_);
  on_idle_ = std::move(cb);
}

std::map<std::string, ChannelStats> Dispatcher::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

bool Dispatcher::idle() const {
  std::lock_guard lk(mu_);
  for (const auto& [name, w] : workers_) {
    if (w->busy()) {
      return false;
    }
  }
  for (const auto& w : retired_) {
    if (w->busy()) {
      return false;
    }
  }
  return true;
}

void Dispatcher::retire(Worker& w) {
  w.retired = true;
  w.queue.clear();
  w.abort.trigger();
  w.cv.notify_all();
}

void Dispatcher::reap() {
  std::vector<std::unique_ptr<Worker>> done;
  {
    std::lock_guard lk(mu_);
    for (auto it = retired_.begin(); it != retired_.end();) {
      if ((*it)->ended) {
        done.push_back(std::move(*it));
        it = retired_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& w : done) {
    w->thread.join();
  }
}

void Dispatcher::hold() {
  std::lock_guard lk(mu_);
  for (auto& [name, w] : workers_) {
    w->queue.clear();
  }
}

void Dispatcher::stop() {
  std::vector<std::unique_ptr<Worker>> all;
  {
    std::lock_guard lk(mu_);
    for (auto& [name, w] : workers_) {
      retire(*w);
      all.push_back(std::move(w));
    }
    workers_.clear();
    for (auto& w : retired_) {
      retire(*w);
      all.push_back(std::move(w));
    }
    retired_.clear();
  }
  for (auto& w : all) {
    w->thread.join();
  }
}

void Dispatcher::count(const std::string& channel, bool ok, bool dead) {
  auto& s = stats_[channel];
  if (ok) {
    s.delivered++;
  } else {
    s.failed++;
    if (dead) {
      s.dead++;
    }
  }
}

Result<size_t> Dispatcher::run_once(int64_t now_ms) {
  reap();
  // Which channels can take rows, decided before reading the store: a worker becomes busy only
  // here, so one idle now has recorded all its attempts by the time the rows are read.
  std::set<std::string> free;  // configured, worker idle or not started
  std::set<std::string> gone;  // not configured, no worker of that name still sending
  {
    std::lock_guard lk(mu_);
    if (!worker_error_.empty()) {
      std::string e = std::move(worker_error_);
      worker_error_.clear();
      return Error{"outbox: " + e};
    }
    for (const auto& [name, ch] : spec_.channels) {
      auto w = workers_.find(name);
      if (w == workers_.end() || !w->second->busy()) {
        free.insert(name);
      }
    }
  }
  auto due = store_.outbox_due(now_ms, kScanRows);
  if (!due) {
    return Error{"outbox: " + due.error()};
  }
  bool any = false;
  {
    std::lock_guard lk(mu_);
    for (const auto& row : *due) {
      if (free.count(row.channel) != 0) {
        any = true;
      } else if (spec_.channels.count(row.channel) == 0 && workers_.count(row.channel) == 0 &&
                 std::none_of(retired_.begin(), retired_.end(), [&](const auto& w) {
                   return w->channel == row.channel && w->busy();
                 })) {
        gone.insert(row.channel);
        any = true;
      }
    }
  }
  if (!any) {
    return size_t{0};  // nothing due, or only for channels still busy
  }
  // The rows waiting in backoff too: a later row of an alert waits for its earlier ones.
  auto pending = store_.outbox_due(std::numeric_limits<int64_t>::max(), kScanRows);
  if (!pending) {
    return Error{"outbox: " + pending.error()};
  }
  std::sort(pending->begin(), pending->end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  std::set<std::pair<std::string, std::string>> waiting;  // (channel, alert) behind a retry
  std::map<std::string, std::vector<store::OutboxRow>> batches;
  size_t n = 0;
  for (auto& row : *pending) {
    auto key = std::make_pair(row.channel, row.alert_id);
    if (waiting.count(key) != 0) {
      continue;
    }
    if (row.next_attempt_ms > now_ms) {
      if (!row.alert_id.empty()) {
        waiting.insert(std::move(key));
      }
      continue;
    }
    if (gone.count(row.channel) != 0) {
      json attempt{{"time_ms", now_ms},
                   {"ok", false},
                   {"detail", "channel '" + row.channel + "' is no longer configured"}};
      if (auto st = store_.outbox_attempt(row.id, "dead", 0, attempt, now_ms); !st) {
        return Error{"outbox: " + st.error()};
      }
      std::lock_guard lk(mu_);
      count(row.channel, false, true);
      ++n;
    } else if (free.count(row.channel) != 0) {
      batches[row.channel].push_back(std::move(row));
      ++n;
    }
  }
  std::lock_guard lk(mu_);
  for (auto& [name, rows] : batches) {
    if (spec_.channels.count(name) == 0) {
      continue;  // removed meanwhile: the next pass makes its rows dead
    }
    auto& w = workers_[name];
    if (!w) {
      w = std::make_unique<Worker>();
      w->channel = name;
      w->thread = std::thread([this, p = w.get()] { work(p); });
    }
    for (auto& row : rows) {
      w->queue.push_back(std::move(row));
    }
    w->cv.notify_all();
  }
  return n;
}

void Dispatcher::work(Worker* w) {
  // "sd-out-" and the channel's name, cut to the 15 characters a thread name may have.
  make_background_thread(("sd-out-" + w->channel).substr(0, 15).c_str());
  std::unique_lock lk(mu_);
  for (;;) {
    w->cv.wait(lk, [w] { return w->retired || !w->queue.empty(); });
    if (w->retired) {
      break;
    }
    store::OutboxRow row = std::move(w->queue.front());
    w->queue.pop_front();
    auto ch = spec_.channels.find(w->channel);
    if (ch == spec_.channels.end()) {
      continue;  // being retired (configure) right now
    }
    const ChannelSpec channel = ch->second;  // the spec now: a reload applies from the next row
    AlertsSpec retry;
    retry.retry_min_ms = spec_.retry_min_ms;
    retry.retry_max_ms = spec_.retry_max_ms;
    retry.max_attempts = spec_.max_attempts;
    w->sending = true;
    lk.unlock();

    Delivery d;
    auto r = render(channel, row.payload);
    if (!r) {
      d.detail = r.error();  // e.g. a routing key variable not set yet: retried
    } else {
      d = deliver(channel, *r, &w->abort);
    }
    std::string status = "delivered";
    Status st = OkStatus();
    if (!d.aborted) {
      int64_t t = clock_.wall_ms();
      int64_t attempts = row.attempts + 1;
      int64_t next = 0;
      if (!d.ok) {
        if (d.permanent || attempts >= retry.max_attempts) {
          status = "dead";
        } else {
          status = "pending";
          next = t + backoff_ms(retry, attempts);
        }
      }
      json attempt{{"time_ms", t}, {"ok", d.ok}, {"detail", d.detail}};
      st = store_.outbox_attempt(row.id, status, next, attempt, t);
    }

    lk.lock();
    w->sending = false;
    if (d.aborted) {
      w->queue.clear();  // retired: the row stays as it was, pending
    } else if (!st) {
      // Not recorded: drop the rest, the next pass reads the rows again from the store.
      worker_error_ = st.error();
      w->queue.clear();
    } else {
      count(w->channel, d.ok, status == "dead");
      if (status == "pending") {
        // The alert's later rows wait for this one's retry (see the header).
        std::erase_if(w->queue, [&](const store::OutboxRow& o) {
          return !row.alert_id.empty() && o.alert_id == row.alert_id;
        });
      }
    }
    if (!w->busy() && on_idle_) {
      auto cb = on_idle_;
      lk.unlock();
      cb();
      lk.lock();
    }
  }
  w->ended = true;
}

}  // namespace steerdns::alert
