#include "obs/query_log.h"

#include <arpa/inet.h>
#include <fstrm.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <time.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <system_error>

#include "core/thread_priority.h"
#include "dns/message.h"
#include "dns/name.h"
#include "dns/rdata.h"
#include "dns/rrtype.h"
#include "dns/wire.h"
#include "dnstap.pb-c.h"

namespace steerdns::obs {
namespace {

constexpr char kDnstapContentType[] = "protobuf:dnstap.Dnstap";
constexpr size_t kDrainBatch = 256;  // records per ring per pass: rings take turns
// Between passes that found no ring with a full batch: records gather and go out in fewer,
// bigger writes (fewer system calls and fewer switches with the query threads); 10 ms at
// 150k queries/s per thread is ~1,500 records, well within a ring.
constexpr auto kPassInterval = std::chrono::milliseconds(10);
// The most the writer stays runnable in one go: even at SCHED_IDLE, a runnable writer makes
// every wakeup of a query thread on its core a task switch instead of a wakeup from idle
// (measured: 15-20 % more CPU per query on a shared core). Bursts of at most kBurst, then a
// pause, keep it runnable a small share of the time; beyond that, records drop.
constexpr auto kBurst = std::chrono::milliseconds(3);
constexpr auto kReconnectEvery = std::chrono::seconds(1);

std::string errno_text() { return std::error_code(errno, std::system_category()).message(); }

const char* rcode_text(uint16_t rc) {
  static const char* const kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                       "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                       "NXRRSET", "NOTAUTH", "NOTZONE"};
  if (rc < sizeof kNames / sizeof kNames[0]) {
    return kNames[rc];
  }
  return rc == 16 ? "BADVERS" : nullptr;
}

void json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20 || c >= 0x7F) {
      // Names and rdata text are ASCII with \DDD escapes; anything else is escaped here.
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out.append(buf);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

void json_key(std::string& out, const char* key) {
  out.push_back(',');
  out.push_back('"');
  out.append(key);
  out.append("\":");
}

std::string address_text(const QueryRecord& r) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (r.family == AF_INET) {
    inet_ntop(AF_INET, r.addr, buf, sizeof buf);
  } else if (r.family == AF_INET6) {
    inet_ntop(AF_INET6, r.addr, buf, sizeof buf);
  }
  return buf;
}

std::string wire_name_text(const uint8_t* p, size_t len) {
  auto n = dns::Name::from_uncompressed(p, len);
  return n ? n->to_text() : std::string();
}

struct Question {
  bool ok = false;
  std::string qname;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
};

// The question of a message (the response echoes it; a FORMERR response may not).
Question read_question(const uint8_t* m, size_t len) {
  Question q;
  if (len < dns::kHeaderLen || dns::get16(m + 4) == 0) {
    return q;
  }
  dns::WireReader r(m, len, dns::kHeaderLen);
  dns::Name n = dns::Name::from_wire(r);
  q.qtype = r.u16();
  q.qclass = r.u16();
  if (r.ok()) {
    q.ok = true;
    q.qname = n.to_text();
  }
  return q;
}

// Answer-section RRs of a response in presentation form; stops at what was not kept.
void answers_json(std::string& out, const uint8_t* m, size_t len) {
  out.push_back('[');
  if (len >= dns::kHeaderLen) {
    uint16_t qd = dns::get16(m + 4), an = dns::get16(m + 6);
    dns::WireReader r(m, len, dns::kHeaderLen);
    for (uint16_t i = 0; i < qd && r.ok(); ++i) {
      dns::Name::from_wire(r);
      r.u16();
      r.u16();
    }
    std::vector<uint8_t> rd;
    for (uint16_t i = 0; i < an && r.ok(); ++i) {
      dns::Name owner = dns::Name::from_wire(r);
      uint16_t type = r.u16(), cls = r.u16();
      uint32_t ttl = r.u32();
      uint16_t rdlen = r.u16();
      rd.clear();
      if (!r.ok() || r.remaining() < rdlen || !dns::rdata_from_wire(r, rdlen, type, rd)) {
        break;
      }
      std::string rr = owner.to_text();
      rr.push_back(' ');
      rr.append(std::to_string(ttl));
      rr.push_back(' ');
      rr.append(dns::class_to_text(cls));
      rr.push_back(' ');
      rr.append(dns::type_to_text(type));
      rr.push_back(' ');
      rr.append(dns::rdata_to_text(type, rd.data(), rd.size()));
      if (i > 0) {
        out.push_back(',');
      }
      json_string(out, rr);
    }
  }
  out.push_back(']');
}

}  // namespace

void QueryRecord::set_client(const sockaddr* sa) {
  family = 0;
  port = 0;
  if (sa == nullptr) {
    return;
  }
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    family = AF_INET;
    std::memcpy(addr, &in->sin_addr, 4);
    port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    family = AF_INET6;
    std::memcpy(addr, &in6->sin6_addr, 16);
    port = ntohs(in6->sin6_port);
  }
}

Result<QueryLogFormat> parse_query_log_format(const std::string& text) {
  if (text == "json") {
    return QueryLogFormat::kJson;
  }
  if (text == "dnstap") {
    return QueryLogFormat::kDnstap;
  }
  return Error{"query log format '" + text + "' is not json or dnstap"};
}

Status check_query_log_options(const QueryLogOptions& o) {
  if (o.path.empty() || o.path == "unix:") {
    return Error{"query log: no path (a file, or unix:SOCKET for dnstap)"};
  }
  if (o.path.rfind("unix:", 0) == 0) {
    if (o.format != QueryLogFormat::kDnstap) {
      return Error{"query log: '" + o.path + "': a unix socket takes the dnstap format only"};
    }
    if (o.path.size() - 5 >= sizeof(sockaddr_un{}.sun_path)) {
      return Error{"query log: '" + o.path + "': socket path longer than 107 bytes"};
    }
  }
  if (o.sample < 1) {
    return Error{"query log: sample must be 1 (every query) or more"};
  }
  return OkStatus();
}

QueryLogRing::QueryLogRing(uint32_t slots, uint32_t sample) : sample_(sample < 1 ? 1 : sample) {
  uint64_t n = 1;
  while (n < slots) {
    n <<= 1;
  }
  slots_ = n;
  mask_ = n - 1;
  ring_ = std::make_unique<QueryRecord[]>(n);
}

std::string query_record_to_json(const QueryRecord& r) {
  std::string out;
  out.reserve(512);
  char ts[64];
  tm t{};
  time_t secs = static_cast<time_t>(r.time_sec);
  gmtime_r(&secs, &t);
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, r.time_nsec / 1000);
  out.append("{\"time\":\"");
  out.append(ts);
  out.push_back('"');
  json_key(out, "client");
  json_string(out, address_text(r));
  json_key(out, "port");
  out.append(std::to_string(r.port));
  json_key(out, "transport");
  out.append(r.transport == 1 ? "\"tcp\"" : "\"udp\"");
  Question q = read_question(r.response, r.response_kept());
  if (!q.ok) {
    q = read_question(r.query, r.query_kept());
  }
  if (q.ok) {
    json_key(out, "qname");
    json_string(out, q.qname);
    json_key(out, "qtype");
    json_string(out, dns::type_to_text(q.qtype));
    json_key(out, "qclass");
    json_string(out, dns::class_to_text(q.qclass));
  }
  json_key(out, "rcode");
  if (const char* rc = rcode_text(r.rcode)) {
    json_string(out, rc);
  } else {
    out.append(std::to_string(r.rcode));
  }
  json_key(out, "tc");
  out.append(r.truncated ? "true" : "false");
  json_key(out, "answers");
  answers_json(out, r.response, r.response_kept());
  json_key(out, "zone");
  if (r.zone_len > 0) {
    json_string(out, wire_name_text(r.zone, r.zone_len));
  } else {
    out.append("null");
  }
  json_key(out, "branch");
  if (r.branch_len > 0) {
    json_string(out, std::string_view(r.branch, r.branch_len));
  } else {
    // Zone data answered (or no zone: REFUSED, FORMERR).
    out.append(r.zone_len > 0 ? "\"static\"" : "null");
  }
  json_key(out, "query_size");
  out.append(std::to_string(r.query_len));
  json_key(out, "response_size");
  out.append(std::to_string(r.response_len));
  if (r.response_len > QueryRecord::kMaxMessage) {
    // Only the first kMaxMessage bytes were kept: answers past them are not listed.
    json_key(out, "response_cut");
    out.append("true");
  }
  out.push_back('}');
  return out;
}

std::vector<uint8_t> query_record_to_dnstap(const QueryRecord& r, const std::string& identity,
                                            const std::string& version) {
  Dnstap__Message msg = DNSTAP__MESSAGE__INIT;
  msg.type = DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE;
  if (r.family == AF_INET || r.family == AF_INET6) {
    msg.has_socket_family = 1;
    msg.socket_family =
        r.family == AF_INET ? DNSTAP__SOCKET_FAMILY__INET : DNSTAP__SOCKET_FAMILY__INET6;
    msg.has_query_address = 1;
    msg.query_address.data = const_cast<uint8_t*>(r.addr);
    msg.query_address.len = r.family == AF_INET ? 4 : 16;
    msg.has_query_port = 1;
    msg.query_port = r.port;
  }
  msg.has_socket_protocol = 1;
  msg.socket_protocol =
      r.transport == 1 ? DNSTAP__SOCKET_PROTOCOL__TCP : DNSTAP__SOCKET_PROTOCOL__UDP;
  // One clock reading per record: the answer is made within microseconds of the query.
  msg.has_query_time_sec = msg.has_response_time_sec = 1;
  msg.query_time_sec = msg.response_time_sec = static_cast<uint64_t>(r.time_sec);
  msg.has_query_time_nsec = msg.has_response_time_nsec = 1;
  msg.query_time_nsec = msg.response_time_nsec = r.time_nsec;
  if (r.query_len <= QueryRecord::kMaxMessage) {  // a cut message would not parse
    msg.has_query_message = 1;
    msg.query_message.data = const_cast<uint8_t*>(r.query);
    msg.query_message.len = r.query_len;
  }
  if (r.response_len > 0 && r.response_len <= QueryRecord::kMaxMessage) {
    msg.has_response_message = 1;
    msg.response_message.data = const_cast<uint8_t*>(r.response);
    msg.response_message.len = r.response_len;
  }
  if (r.zone_len > 0) {
    msg.has_query_zone = 1;
    msg.query_zone.data = const_cast<uint8_t*>(r.zone);
    msg.query_zone.len = r.zone_len;
  }
  // `extra`: "branch=failover tier 2 secondary", plus the size of a response too big to keep.
  std::string extra = "branch=";
  extra.append(r.branch_len > 0 ? std::string_view(r.branch, r.branch_len)
                                : std::string_view(r.zone_len > 0 ? "static" : "none"));
  if (r.response_len > QueryRecord::kMaxMessage) {
    extra.append(" response_size=");
    extra.append(std::to_string(r.response_len));
  }
  Dnstap__Dnstap d = DNSTAP__DNSTAP__INIT;
  d.type = DNSTAP__DNSTAP__TYPE__MESSAGE;
  d.message = &msg;
  if (!identity.empty()) {
    d.has_identity = 1;
    d.identity.data = reinterpret_cast<uint8_t*>(const_cast<char*>(identity.data()));
    d.identity.len = identity.size();
  }
  if (!version.empty()) {
    d.has_version = 1;
    d.version.data = reinterpret_cast<uint8_t*>(const_cast<char*>(version.data()));
    d.version.len = version.size();
  }
  d.has_extra = 1;
  d.extra.data = reinterpret_cast<uint8_t*>(extra.data());
  d.extra.len = extra.size();
  std::vector<uint8_t> out(dnstap__dnstap__get_packed_size(&d));
  dnstap__dnstap__pack(&d, out.data());
  return out;
}

// Where records go: a JSON lines file, or a Frame Streams writer (file or unix socket).
struct QueryLog::Output {
  const QueryLogOptions& opts;
  FILE* json = nullptr;
  fstrm_writer* fw = nullptr;
  ino_t dnstap_inode = 0;  // the dnstap file we write (reopen only if it was moved)
  std::chrono::steady_clock::time_point next_connect{};
  bool warned = false;

  explicit Output(const QueryLogOptions& o) : opts(o) {}
  ~Output() { close(); }

  bool is_socket() const { return opts.path.rfind("unix:", 0) == 0; }
  bool ready() const { return json != nullptr || fw != nullptr; }

  void close() {
    if (json != nullptr) {
      std::fclose(json);
      json = nullptr;
    }
    if (fw != nullptr) {
      fstrm_writer_destroy(&fw);  // writes the STOP frame / closes the stream
      fw = nullptr;
    }
  }

  Status open() {
    if (opts.format == QueryLogFormat::kJson) {
      json = std::fopen(opts.path.c_str(), "ae");
      if (json == nullptr) {
        return Error{"query log " + opts.path + ": " + errno_text()};
      }
      return OkStatus();
    }
    fstrm_writer_options* wopt = fstrm_writer_options_init();
    fstrm_writer_options_add_content_type(wopt, kDnstapContentType, sizeof kDnstapContentType - 1);
    if (is_socket()) {
      fstrm_unix_writer_options* uopt = fstrm_unix_writer_options_init();
      fstrm_unix_writer_options_set_socket_path(uopt, opts.path.c_str() + 5);
      fw = fstrm_unix_writer_init(uopt, wopt);
      fstrm_unix_writer_options_destroy(&uopt);
    } else {
      fstrm_file_options* fopt = fstrm_file_options_init();
      fstrm_file_options_set_file_path(fopt, opts.path.c_str());
      fw = fstrm_file_writer_init(fopt, wopt);
      fstrm_file_options_destroy(&fopt);
    }
    fstrm_writer_options_destroy(&wopt);
    if (fw == nullptr || fstrm_writer_open(fw) != fstrm_res_success) {
      std::string why = errno != 0 ? errno_text() : "cannot open";
      if (fw != nullptr) {
        fstrm_writer_destroy(&fw);
        fw = nullptr;
      }
      return Error{"query log " + opts.path + ": " + why};
    }
    struct stat st{};
    if (!is_socket() && ::stat(opts.path.c_str(), &st) == 0) {
      dnstap_inode = st.st_ino;
    }
    return OkStatus();
  }

  // After logrotate: a JSON file is reopened (appending); a dnstap file only when it was
  // moved away (opening truncates, and one stream cannot be appended to another).
  void reopen() {
    if (is_socket()) {
      return;
    }
    if (opts.format == QueryLogFormat::kDnstap) {
      struct stat st{};
      if (::stat(opts.path.c_str(), &st) == 0 && st.st_ino == dnstap_inode) {
        return;
      }
    }
    close();
    if (Status s = open(); !s) {
      spdlog::error("{}", s.error());
    } else {
      spdlog::info("query log {}: reopened", opts.path);
    }
  }

  // A socket comes and goes with its collector: try again every kReconnectEvery.
  void maybe_connect() {
    if (ready() || !is_socket()) {
      return;
    }
    auto now = std::chrono::steady_clock::now();
    if (now < next_connect) {
      return;
    }
    next_connect = now + kReconnectEvery;
    if (Status s = open(); !s) {
      if (!warned) {
        spdlog::error("{} (retrying every second; records are dropped meanwhile)", s.error());
        warned = true;
      }
    } else {
      spdlog::info("query log {}: connected", opts.path);
      warned = false;
    }
  }

  // Returns false when the output failed (it is closed; a socket is retried later).
  bool write_json(const std::string& lines) {
    if (std::fwrite(lines.data(), 1, lines.size(), json) != lines.size() ||
        std::fflush(json) != 0) {
      spdlog::error("query log {}: write: {}", opts.path, errno_text());
      std::clearerr(json);
      return false;
    }
    return true;
  }
  bool write_frames(std::vector<std::vector<uint8_t>>& frames) {
    std::vector<iovec> iov(frames.size());
    for (size_t i = 0; i < frames.size(); ++i) {
      iov[i] = {frames[i].data(), frames[i].size()};
    }
    if (fstrm_writer_writev(fw, iov.data(), static_cast<int>(iov.size())) != fstrm_res_success) {
      spdlog::error("query log {}: write failed{}", opts.path,
                    is_socket() ? " (collector gone? reconnecting)" : "");
      fstrm_writer_destroy(&fw);
      fw = nullptr;
      return false;
    }
    return true;
  }

};

QueryLog::QueryLog(const QueryLogOptions& opts) : opts_(opts) {}

Result<std::unique_ptr<QueryLog>> QueryLog::open(const QueryLogOptions& opts) {
  if (Status s = check_query_log_options(opts); !s) {
    return Error{s.error()};
  }
  std::unique_ptr<QueryLog> log(new QueryLog(opts));
  log->out_ = std::make_unique<Output>(log->opts_);
  if (!log->out_->is_socket()) {
    if (Status s = log->out_->open(); !s) {
      return Error{s.error()};
    }
  }
  return log;
}

QueryLog::~QueryLog() { stop(); }

QueryLogRing* QueryLog::add_ring() {
  std::lock_guard lk(mu_);
  rings_.push_back(std::make_unique<QueryLogRing>(opts_.ring_slots, opts_.sample));
  return rings_.back().get();
}

void QueryLog::start() {
  if (thread_.joinable()) {
    return;
  }
  thread_ = std::thread([this] {
    make_background_thread("sd-querylog");
    run();
  });
}

void QueryLog::stop() {
  {
    std::lock_guard lk(mu_);
    stop_.store(true, std::memory_order_relaxed);
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

size_t QueryLog::drain_once(bool* more) {
  std::vector<QueryLogRing*> rings;
  {
    std::lock_guard lk(mu_);
    for (auto& r : rings_) {
      rings.push_back(r.get());
    }
  }
  out_->maybe_connect();
  const bool json = opts_.format == QueryLogFormat::kJson;
  const bool up = out_->ready();
  size_t total = 0;
  std::string lines;
  std::vector<std::vector<uint8_t>> frames;
  for (QueryLogRing* ring : rings) {
    size_t n = ring->drain(kDrainBatch, [&](const QueryRecord& r) {
      if (!up) {
        return;  // no collector: nothing to format for
      }
      if (json) {
        lines.append(query_record_to_json(r));
        lines.push_back('\n');
      } else {
        frames.push_back(query_record_to_dnstap(r, opts_.identity, opts_.version));
      }
    });
    total += n;
    if (n == kDrainBatch && more != nullptr) {
      *more = true;  // this ring may hold more: no pause before the next pass
    }
  }
  if (total == 0) {
    return 0;
  }
  bool ok = up;
  uint64_t bytes = 0;
  if (up && json) {
    bytes = lines.size();
    ok = out_->write_json(lines);
  } else if (up) {
    for (const auto& f : frames) {
      bytes += f.size() + 4;  // Frame Streams length prefix
    }
    ok = out_->write_frames(frames);
  }
  if (ok) {
    records_.add(total);
    bytes_.add(bytes);
  } else {
    dropped_output_.add(total);
  }
  return total;
}

void QueryLog::run() {
  auto burst_start = std::chrono::steady_clock::now();
  while (!stop_.load(std::memory_order_relaxed)) {
    if (reopen_.exchange(false, std::memory_order_relaxed)) {
      out_->reopen();
    }
    bool more = false;
    drain_once(&more);
    if (!more || std::chrono::steady_clock::now() - burst_start > kBurst) {
      // The query threads never signal (no system call on their path): poll.
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, kPassInterval, [this] { return stop_.load(std::memory_order_relaxed); });
      burst_start = std::chrono::steady_clock::now();
    }
  }
  while (drain_once(nullptr) > 0) {
  }
  out_->close();
}

QueryLog::Stats QueryLog::stats() const {
  Stats s;
  s.records = records_.get();
  s.dropped_output = dropped_output_.get();
  s.bytes = bytes_.get();
  std::lock_guard lk(mu_);
  for (const auto& r : rings_) {
    s.dropped_full += r->dropped();
  }
  return s;
}

void QueryLog::collect(Families& out) const {
  Stats s = stats();
  const std::string format = opts_.format == QueryLogFormat::kJson ? "json" : "dnstap";
  add_counter(add_family(out, "steerdns_querylog_records_total",
                         "Query log records written (sampled queries).",
                         prometheus::MetricType::Counter),
              {{"format", format}}, static_cast<double>(s.records));
  auto& d = add_family(out, "steerdns_querylog_dropped_total",
                       "Query log records dropped: a query thread's ring was full (the writer "
                       "is behind) or the output failed (write error, no dnstap collector).",
                       prometheus::MetricType::Counter);
  add_counter(d, {{"reason", "ring_full"}}, static_cast<double>(s.dropped_full));
  add_counter(d, {{"reason", "output"}}, static_cast<double>(s.dropped_output));
  add_counter(add_family(out, "steerdns_querylog_bytes_total",
                         "Bytes written to the query log (JSON lines, or dnstap frames).",
                         prometheus::MetricType::Counter),
              {{"format", format}}, static_cast<double>(s.bytes));
}

}  // namespace steerdns::obs
