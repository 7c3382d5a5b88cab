#include "alert/dispatcher.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <mutex>

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

Delivery deliver(const ChannelSpec& ch, const Rendered& r) {
  std::call_once(g_curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  Delivery d;
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
  CURLcode rc = curl_easy_perform(h);
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  if (rc != CURLE_OK) {
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

void Dispatcher::configure(AlertsSpec spec) {
  std::lock_guard lk(mu_);
  spec_ = std::move(spec);
}

std::map<std::string, ChannelStats> Dispatcher::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

Result<size_t> Dispatcher::run_once(int64_t now_ms, size_t limit) {
  auto due = store_.outbox_due(now_ms, limit);
  if (!due) {
    return Error{"outbox: " + due.error()};
  }
  AlertsSpec spec;
  {
    std::lock_guard lk(mu_);
    spec = spec_;  // one copy per pass: a reload during a slow send applies to the next pass
  }
  size_t n = 0;
  for (const auto& row : *due) {
    Delivery d;
    auto ch = spec.channels.find(row.channel);
    if (ch == spec.channels.end()) {
      d.permanent = true;
      d.detail = "channel '" + row.channel + "' is no longer configured";
    } else {
      auto r = render(ch->second, row.payload);
      if (!r) {
        d.detail = r.error();  // e.g. a routing key variable not set yet: retried
      } else {
        d = deliver(ch->second, *r);
      }
    }
    ++n;
    int64_t t = now_ms;
    int64_t attempts = row.attempts + 1;
    std::string status = "delivered";
    int64_t next = 0;
    if (!d.ok) {
      if (d.permanent || attempts >= spec.max_attempts) {
        status = "dead";
      } else {
        status = "pending";
        int64_t back = spec.retry_min_ms;
        for (int64_t i = 1; i < attempts && back < spec.retry_max_ms; ++i) {
          back *= 2;
        }
        next = t + std::min(back, spec.retry_max_ms);
      }
    }
    json attempt{{"time_ms", t}, {"ok", d.ok}, {"detail", d.detail}};
    if (auto st = store_.outbox_attempt(row.id, status, next, attempt, t); !st) {
      return Error{"outbox: " + st.error()};
    }
    std::lock_guard lk(mu_);
    auto& s = stats_[row.channel];
    if (d.ok) {
      s.delivered++;
    } else {
      s.failed++;
      if (status == "dead") {
        s.dead++;
      }
    }
  }
  return n;
}

}  // namespace steerdns::alert
