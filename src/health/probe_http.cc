// HTTP and HTTPS probes: libcurl's multi interface driven by the io_context. curl tells us
// which sockets to wait on (CURLMOPT_SOCKETFUNCTION) and when to call it back
// (CURLMOPT_TIMERFUNCTION); we wait with stream_descriptor::async_wait and one steady_timer and
// hand every event to curl_multi_socket_action. No thread per probe, no blocking call.
#include <curl/curl.h>
#include <openssl/asn1.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <regex>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "health/probe_kinds.h"

namespace steerdns::health::detail {
namespace {

namespace asio = boost::asio;

std::once_flag g_curl_once;

struct Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  curl_slist* connect_to = nullptr;
  DoneFn done;
  Millis timeout_ms = 0;
  bool https = false;
  bool need_body = false;  // a search string or regex must be matched
  std::vector<StatusRange> expect;
  std::string search;
  std::shared_ptr<const std::regex> regex;
  std::string body;  // the first kHttpBodyLimit bytes, for search / regex
  size_t max_body = kDefaultMaxBody;
  size_t body_bytes = 0;       // all body bytes received so far
  bool body_exceeded = false;  // cut off on passing max_body: a failure
  bool saw_header = false;
  int cert_days_left = -1;
  char errbuf[CURL_ERROR_SIZE] = {};

  ~Transfer() {
    if (easy != nullptr) {
      curl_easy_cleanup(easy);
    }
    curl_slist_free_all(headers);
    curl_slist_free_all(connect_to);
  }
};

// Days from now until the peer certificate's notAfter (negative once expired).
int cert_days_left(CURL* easy) {
  curl_tlssessioninfo* info = nullptr;
  if (curl_easy_getinfo(easy, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || info == nullptr ||
      info->backend != CURLSSLBACKEND_OPENSSL || info->internals == nullptr) {
    return -1;
  }
  auto* ssl = static_cast<SSL*>(info->internals);
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) {
    return -1;
  }
  int days = 0;
  int secs = 0;
  if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert)) != 1) {
    return -1;
  }
  return days;
}

size_t on_header(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  if (!t->saw_header) {
    t->saw_header = true;
    if (t->https) {
      // The TLS session is only reachable while the transfer runs; the first header line
      // proves the handshake is done.
      t->cert_days_left = cert_days_left(t->easy);
    }
  }
  (void)p;
  return size * n;
}

size_t on_body(char* p, size_t size, size_t n, void* ud) {
  // The whole body must end within max_body bytes (and the timeout), so it is read to the
  // end; only the first kHttpBodyLimit bytes are kept for search / regex.
  auto* t = static_cast<Transfer*>(ud);
  size_t len = size * n;
  t->body_bytes += len;
  if (t->body_bytes > t->max_body) {
    t->body_exceeded = true;
    return 0;  // anything but len stops the transfer with CURLE_WRITE_ERROR
  }
  if (t->need_body && t->body.size() < kHttpBodyLimit) {
    t->body.append(p, std::min(len, kHttpBodyLimit - t->body.size()));
  }
  return len;
}

std::string ranges_text(const std::vector<StatusRange>& rs) {
  std::string s;
  for (const auto& r : rs) {
    if (!s.empty()) {
      s += ",";
    }
    s += std::to_string(r.lo);
    if (r.hi != r.lo) {
      s += "-" + std::to_string(r.hi);
    }
  }
  return s;
}

std::string verify_reason(long code) {
  switch (code) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "certificate expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "certificate not yet valid";
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return "self-signed certificate";
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return "certificate name mismatch";
    default:
      return std::string("certificate not trusted: ") + X509_verify_cert_error_string(code);
  }
}

std::string strip_curl_text(const Transfer& t, CURLcode rc) {
  return t.errbuf[0] != '\0' ? std::string(t.errbuf) : std::string(curl_easy_strerror(rc));
}

// Maps curl's outcome to the stable reason texts operators see.
void evaluate(Transfer& t, CURLcode rc, ProbeResult& r) {
  CURL* e = t.easy;
  curl_off_t dns = 0;
  curl_off_t conn = 0;
  curl_off_t app = 0;
  curl_off_t first = 0;
  curl_off_t total = 0;
  curl_easy_getinfo(e, CURLINFO_NAMELOOKUP_TIME_T, &dns);
  curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &conn);
  curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &app);
  curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &first);
  curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total);
  r.timings.total_ms = static_cast<double>(total) / 1000.0;
  if (conn > 0) {
    r.timings.dns_ms = static_cast<double>(dns) / 1000.0;
    r.timings.connect_ms = static_cast<double>(conn - dns) / 1000.0;
  }
  if (t.https && app > 0) {
    r.timings.tls_ms = static_cast<double>(app - conn) / 1000.0;
  }
  if (first > 0) {
    r.timings.first_byte_ms = static_cast<double>(first) / 1000.0;
  }
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  r.http_status = static_cast<int>(status);
  r.cert_days_left = t.cert_days_left;

  if (rc != CURLE_OK) {
    r.ok = false;
    long os_errno = 0;
    curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
    switch (rc) {
      case CURLE_WRITE_ERROR:
        if (t.body_exceeded) {
          r.reason = "body exceeds " + std::to_string(t.max_body) + " bytes";
          return;
        }
        r.reason = "http error: " + strip_curl_text(t, rc);
        return;
      case CURLE_FILESIZE_EXCEEDED:  // a Content-Length above max_body: refused before reading
        r.reason = "body exceeds " + std::to_string(t.max_body) + " bytes (Content-Length)";
        return;
      case CURLE_OPERATION_TIMEDOUT:
        r.reason = timeout_reason(t.timeout_ms);
        if (t.saw_header) {
          // A slow trickle or an endless slow body: say how far it got.
          r.reason += " (status " + std::to_string(status) + ", " + std::to_string(t.body_bytes) +
                      " body bytes received)";
        }
        return;
      case CURLE_COULDNT_CONNECT:
        if (os_errno == ECONNREFUSED) {
          r.reason = "connection refused";
        } else if (os_errno != 0) {
          r.reason = std::string("connect failed: ") +
                     std::system_category().message(static_cast<int>(os_errno));
        } else {
          r.reason = "connect failed: " + strip_curl_text(t, rc);
        }
        return;
      case CURLE_COULDNT_RESOLVE_HOST:
        r.reason = "cannot resolve host: " + strip_curl_text(t, rc);
        return;
      case CURLE_GOT_NOTHING:
        r.reason = "connection closed without a response";
        return;
      case CURLE_RECV_ERROR:
      case CURLE_SEND_ERROR: {
        std::string text = strip_curl_text(t, rc);
        // curl 7.88 reports its header size limit (300 KB) as a receive error.
        r.reason = (text.rfind("Too large", 0) == 0 ? "response too large/garbage: "
                                                    : "connection error: ") +
                   text;
        return;
      }
      case CURLE_PEER_FAILED_VERIFICATION: {
        long vr = X509_V_OK;
        curl_easy_getinfo(e, CURLINFO_SSL_VERIFYRESULT, &vr);
        if (vr != X509_V_OK && vr != X509_V_ERR_UNSPECIFIED) {
          r.reason = verify_reason(vr);
        } else if (std::string(t.errbuf).find("match") != std::string::npos) {
          // The chain verified; curl's own name check after the handshake failed (it leaves
          // the verify result unset then).
          r.reason = "certificate name mismatch";
        } else {
          r.reason = "certificate not trusted: " + strip_curl_text(t, rc);
        }
        return;
      }
      case CURLE_SSL_CONNECT_ERROR:
        r.reason = "tls handshake failed: " + strip_curl_text(t, rc);
        return;
      case CURLE_WEIRD_SERVER_REPLY:
      case CURLE_UNSUPPORTED_PROTOCOL:
      case CURLE_TOO_MANY_REDIRECTS:
      case CURLE_BAD_CONTENT_ENCODING:
      case CURLE_HTTP2:
      case CURLE_PARTIAL_FILE:
        r.reason = "response too large/garbage: " + strip_curl_text(t, rc);
        return;
      default:
        // e.g. "header too large": curl's own text is the most specific we have.
        r.reason = "http error: " + strip_curl_text(t, rc);
        return;
    }
  }
  bool status_ok = false;
  for (const auto& range : t.expect) {
    if (status >= range.lo && status <= range.hi) {
      status_ok = true;
      break;
    }
  }
  if (!status_ok) {
    r.ok = false;
    r.reason = "status " + std::to_string(status) + " not in " + ranges_text(t.expect);
    return;
  }
  if (!t.search.empty() && t.body.find(t.search) == std::string::npos) {
    r.ok = false;
    r.reason = "search string not found";
    return;
  }
  if (t.regex && !std::regex_search(t.body, *t.regex)) {
    r.ok = false;
    r.reason = "regex did not match";
    return;
  }
  r.ok = true;
  r.reason = "status " + std::to_string(status);
}

bool is_ipv6_literal(const std::string& h) { return h.find(':') != std::string::npos; }

std::string url_host(const std::string& h) { return is_ipv6_literal(h) ? "[" + h + "]" : h; }

}  // namespace

struct HttpProber::Impl {
  // One socket curl asked us to watch. Shared with pending waits so a wait completing after
  // curl dropped the socket sees `removed` instead of freed memory.
  struct Sock {
    explicit Sock(asio::io_context& io, curl_socket_t s) : sd(io, s), fd(s) {}
    asio::posix::stream_descriptor sd;
    curl_socket_t fd;
    int want = 0;  // CURL_POLL_IN / OUT / INOUT
    bool read_pending = false;
    bool write_pending = false;
    bool removed = false;
  };

  std::string checker_header;  // "X-Steerdns-Checker: ID", or empty

  explicit Impl(asio::io_context& io) : io_(io), timer_(io) {
    std::call_once(g_curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Impl::socket_cb);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Impl::timer_cb);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  }

  ~Impl() {
    *alive_ = false;
    for (auto& [easy, t] : transfers_) {
      curl_multi_remove_handle(multi_, easy);
    }
    transfers_.clear();
    for (CURL* e : spare_easy_) {
      curl_easy_cleanup(e);
    }
    curl_multi_cleanup(multi_);
    for (auto& [fd, s] : socks_) {
      forget(*s);
    }
    boost::system::error_code ec;
    timer_.cancel(ec);
  }

  void start(const CheckSpec& spec, DoneFn done) {
    auto t = std::make_unique<Transfer>();
    const HttpSpec& h = spec.http;
    t->done = std::move(done);
    t->timeout_ms = spec.timeout_ms;
    t->https = spec.kind == Kind::kHttps;
    t->expect = h.expect_status.empty() ? std::vector<StatusRange>{{200, 399}} : h.expect_status;
    t->search = h.search;
    if (!h.regex.empty()) {
      t->regex = compiled(h.regex);
      if (!t->regex) {
        post_failure(io_, std::move(t->done), "invalid regex");
        return;
      }
    }
    t->need_body = !t->search.empty() || t->regex != nullptr;
    t->max_body = h.max_body;
    t->body.reserve(t->need_body ? kHttpBodyLimit : 0);
    t->easy = take_easy();
    if (t->easy == nullptr) {
      post_failure(io_, std::move(t->done), "curl_easy_init failed");
      return;
    }
    CURL* e = t->easy;
    uint16_t port = h.port != 0 ? h.port : (t->https ? 443 : 80);
    const std::string& name = h.host_header.empty() ? h.host : h.host_header;
    const std::string& target = h.ip.empty() ? h.host : h.ip;
    std::string path = h.path.empty() || h.path[0] != '/' ? "/" + h.path : h.path;
    std::string url = std::string(t->https ? "https://" : "http://") + url_host(name) + ":" +
                      std::to_string(port) + path;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    boost::system::error_code addr_ec;
    asio::ip::make_address(target, addr_ec);
    if (!addr_ec) {
      // Nothing to cache for an address literal, and curl walks its whole DNS cache on every
      // lookup to prune it: with thousands of endpoints that walk dominated the probe's cost.
      curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    }
    if (target != name) {
      // Host header and SNI stay `name`; the connection goes to `target`. CONNECT_TO is per
      // handle, unlike CURLOPT_RESOLVE whose entries land in the multi's shared DNS cache.
      std::string ct = url_host(name) + ":" + std::to_string(port) + ":" + url_host(target) + ":" +
                       std::to_string(port);
      t->connect_to = curl_slist_append(nullptr, ct.c_str());
      curl_easy_setopt(e, CURLOPT_CONNECT_TO, t->connect_to);
    }
    if (h.method == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (h.method != "GET" && !h.method.empty()) {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, h.method.c_str());
    }
    for (const auto& [k, v] : h.headers) {
      std::string line = k;
      line.append(": ").append(v);
      t->headers = curl_slist_append(t->headers, line.c_str());
    }
    if (!checker_header.empty()) {
      t->headers = curl_slist_append(t->headers, checker_header.c_str());
    }
    if (t->headers != nullptr) {
      curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    }
    curl_easy_setopt(e, CURLOPT_USERAGENT, h.user_agent.c_str());
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    // The endpoint itself is checked, never a proxy from http_proxy/https_proxy in the
    // daemon's environment (which curl would otherwise read on every transfer).
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    // Every probe measures a real connection; a pooled one would hide a dead listener.
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(spec.timeout_ms));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(spec.timeout_ms));
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(h.max_body));
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &Impl::close_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    if (t->https) {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, h.verify_tls ? 1L : 0L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, h.verify_tls ? 2L : 0L);
      if (!h.ca_file.empty()) {
        curl_easy_setopt(e, CURLOPT_CAINFO, h.ca_file.c_str());
      }
    }
    transfers_.emplace(e, std::move(t));
    CURLMcode mc = curl_multi_add_handle(multi_, e);
    if (mc != CURLM_OK) {
      auto node = transfers_.extract(e);
      post_failure(io_, std::move(node.mapped()->done),
                   std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc));
    }
  }

  // --- curl callbacks -------------------------------------------------------------------

  static int socket_cb(CURL*, curl_socket_t fd, int what, void* userp, void*) {
    static_cast<Impl*>(userp)->on_socket(fd, what);
    return 0;
  }

  static int timer_cb(CURLM*, long timeout_ms, void* userp) {
    static_cast<Impl*>(userp)->on_timer(timeout_ms);
    return 0;
  }

  static int close_cb(void* userp, curl_socket_t fd) {
    auto* self = static_cast<Impl*>(userp);
    auto it = self->socks_.find(fd);
    if (it != self->socks_.end()) {
      self->forget(*it->second);
      self->socks_.erase(it);
    }
    return ::close(fd);
  }

  void on_socket(curl_socket_t fd, int what) {
    auto it = socks_.find(fd);
    if (what == CURL_POLL_REMOVE) {
      if (it != socks_.end()) {
        forget(*it->second);
        socks_.erase(it);
      }
      return;
    }
    if (it == socks_.end()) {
      it = socks_.emplace(fd, std::make_shared<Sock>(io_, fd)).first;
    }
    it->second->want = what;
    arm(it->second);
  }

  // Stops watching without closing: the descriptor belongs to curl.
  void forget(Sock& s) {
    s.removed = true;
    boost::system::error_code ec;
    s.sd.cancel(ec);
    s.sd.release();
  }

  void arm(const std::shared_ptr<Sock>& s) {
    if ((s->want & CURL_POLL_IN) != 0 && !s->read_pending) {
      s->read_pending = true;
      s->sd.async_wait(asio::posix::stream_descriptor::wait_read,
                       [this, s, alive = alive_](const boost::system::error_code& ec) {
                         s->read_pending = false;
                         if (!*alive || ec || s->removed) {
                           return;
                         }
                         action(s->fd, CURL_CSELECT_IN);
                         if (!s->removed) {
                           arm(s);
                         }
                       });
    }
    if ((s->want & CURL_POLL_OUT) != 0 && !s->write_pending) {
      s->write_pending = true;
      s->sd.async_wait(asio::posix::stream_descriptor::wait_write,
                       [this, s, alive = alive_](const boost::system::error_code& ec) {
                         s->write_pending = false;
                         if (!*alive || ec || s->removed) {
                           return;
                         }
                         action(s->fd, CURL_CSELECT_OUT);
                         if (!s->removed) {
                           arm(s);
                         }
                       });
    }
  }

  // curl re-sets its timer on nearly every state change of every transfer. Re-arming the Asio
  // timer each time costs a timerfd_settime syscall, so the timer is only moved earlier, never
  // later: when it fires before curl's deadline it re-arms for that deadline instead.
  void on_timer(long timeout_ms) {
    if (timeout_ms < 0) {
      curl_due_.reset();
      return;
    }
    auto now = std::chrono::steady_clock::now();
    if (timeout_ms == 0) {
      // curl must not be re-entered from its own callback: run from the io_context instead.
      curl_due_ = now;
      if (!timeout_posted_) {
        timeout_posted_ = true;
        asio::post(io_, [this, alive = alive_] {
          if (*alive) {
            timeout_posted_ = false;
            fire_if_due();
          }
        });
      }
      return;
    }
    auto due = now + std::chrono::milliseconds(timeout_ms);
    curl_due_ = due;
    if (timer_pending_ && timer_expiry_ <= due) {
      return;
    }
    arm_timer(due);
  }

  void arm_timer(std::chrono::steady_clock::time_point due) {
    timer_pending_ = true;
    timer_expiry_ = due;
    timer_.expires_at(due);  // cancels a pending wait: its handler sees a stale generation
    timer_.async_wait(
        [this, alive = alive_, gen = ++timer_gen_](const boost::system::error_code& ec) {
          if (!*alive || gen != timer_gen_) {
            return;
          }
          timer_pending_ = false;
          if (!ec) {
            fire_if_due();
          }
        });
  }

  void fire_if_due() {
    if (!curl_due_) {
      return;
    }
    if (*curl_due_ > std::chrono::steady_clock::now()) {
      if (!timer_pending_ || timer_expiry_ > *curl_due_) {
        arm_timer(*curl_due_);
      }
      return;
    }
    curl_due_.reset();
    action(CURL_SOCKET_TIMEOUT, 0);
  }

  void action(curl_socket_t fd, int ev_bitmask) {
    int running = 0;
    curl_multi_socket_action(multi_, fd, ev_bitmask, &running);
    finish_done();
  }

  void finish_done() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) {
        continue;
      }
      CURL* e = msg->easy_handle;
      CURLcode rc = msg->data.result;
      auto it = transfers_.find(e);
      if (it == transfers_.end()) {
        continue;
      }
      std::unique_ptr<Transfer> t = std::move(it->second);
      transfers_.erase(it);
      ProbeResult r;
      evaluate(*t, rc, r);
      curl_multi_remove_handle(multi_, e);
      DoneFn done = std::move(t->done);
      give_back_easy(t->easy);
      t->easy = nullptr;
      t.reset();
      done(std::move(r));
    }
  }

  // Easy handles are reused (curl_easy_reset keeps their buffers): a fresh one per probe costs
  // several allocations, among them curl's 16 KB receive buffer.
  CURL* take_easy() {
    if (spare_easy_.empty()) {
      return curl_easy_init();
    }
    CURL* e = spare_easy_.back();
    spare_easy_.pop_back();
    return e;
  }

  void give_back_easy(CURL* e) {
    if (spare_easy_.size() >= kMaxSpareEasy) {
      curl_easy_cleanup(e);
      return;
    }
    curl_easy_reset(e);
    spare_easy_.push_back(e);
  }

  std::shared_ptr<const std::regex> compiled(const std::string& re) {
    auto it = regexes_.find(re);
    if (it != regexes_.end()) {
      return it->second;
    }
    if (regexes_.size() > 1024) {
      regexes_.clear();  // specs change rarely; a full cache means churn, not reuse
    }
    try {
      auto r = std::make_shared<const std::regex>(re, std::regex::ECMAScript);
      regexes_.emplace(re, r);
      return r;
    } catch (const std::regex_error&) {
      return nullptr;
    }
  }

  asio::io_context& io_;
  asio::steady_timer timer_;
  std::optional<std::chrono::steady_clock::time_point> curl_due_;  // when curl wants a call
  std::chrono::steady_clock::time_point timer_expiry_;
  bool timer_pending_ = false;
  bool timeout_posted_ = false;
  uint64_t timer_gen_ = 0;
  CURLM* multi_ = nullptr;
  static constexpr size_t kMaxSpareEasy = 1024;
  std::vector<CURL*> spare_easy_;
  std::unordered_map<curl_socket_t, std::shared_ptr<Sock>> socks_;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers_;
  std::unordered_map<std::string, std::shared_ptr<const std::regex>> regexes_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

HttpProber::HttpProber(asio::io_context& io, const std::string& checker_id)
    : impl_(std::make_unique<Impl>(io)) {
  if (!checker_id.empty()) {
    impl_->checker_header = "X-Steerdns-Checker: " + checker_id;
  }
}
HttpProber::~HttpProber() = default;

void HttpProber::start(const CheckSpec& spec, DoneFn done) { impl_->start(spec, std::move(done)); }

}  // namespace steerdns::health::detail
