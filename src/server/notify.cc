#include "server/notify.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "dns/message.h"
#include "dns/rrtype.h"
#include "dns/wire.h"

namespace steerdns::server {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Notifier::~Notifier() { stop(); }

Status Notifier::set_keyed_targets(const std::vector<Target>& targets) {
  std::vector<Dest> out;
  for (const auto& t : targets) {
    auto a = parse_listen_addr(t.addr);
    if (!a) {
      return Error{"notify target '" + t.addr + "': " + a.error()};
    }
    out.push_back(Dest{*a, t.key});
  }
  {
    std::lock_guard lk(mu_);
    targets_ = std::move(out);
  }
  cv_.notify_all();  // the loop drops what it holds for a removed target
  return OkStatus();
}

bool Notifier::empty() const {
  std::lock_guard lk(mu_);
  return targets_.empty();
}

Status Notifier::set_targets(const std::vector<std::string>& targets) {
  std::vector<Target> t;
  for (const auto& a : targets) {
    t.push_back({a, std::nullopt});
  }
  return set_keyed_targets(t);
}

void Notifier::set_keys(std::shared_ptr<const dns::TsigKeyring> keys) {
  std::lock_guard lk(mu_);
  keys_ = std::move(keys);
}

bool Notifier::prepare(Job& j) {
  j.msg = message(j.zone, j.id);
  const auto& key_name = j.target.key;
  if (!key_name) {
    return true;
  }
  std::shared_ptr<const dns::TsigKeyring> keys;
  {
    std::lock_guard lk(mu_);
    keys = keys_;
  }
  const dns::TsigKey* key = keys ? keys->find(*key_name) : nullptr;
  if (key == nullptr) {
    spdlog::warn("notify: {} for {}: TSIG key {} is no longer configured; not sent",
                 j.target.addr.text, j.zone.to_text(), key_name->to_text());
    return false;
  }
  dns::TsigSigner signer(*key, {}, /*response=*/false);
  size_t len = j.msg.size();
  j.msg.resize(len + dns::TsigSigner::record_size(*key));
  len = signer.sign(j.msg.data(), len, j.msg.size(), dns::tsig_now());
  if (len == 0) {
    spdlog::warn("notify: {} for {}: signing with TSIG key {} failed; not sent", j.target.addr.text,
                 j.zone.to_text(), key_name->to_text());
    return false;
  }
  j.msg.resize(len);
  j.key = *key;
  j.request_mac = signer.mac();
  return true;
}

void Notifier::start() {
  // Started even without targets: a reload may add some.
  if (thread_.joinable()) {
    return;
  }
  thread_ = std::thread([this] { loop(); });
}

void Notifier::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void Notifier::notify(const dns::Name& zone, uint32_t serial) {
  {
    std::lock_guard lk(mu_);
    if (targets_.empty()) {
      return;
    }
    for (const auto& t : targets_) {
      Job j;
      j.zone = zone;
      j.serial = serial;
      j.target = t;
      queued_.push_back(std::move(j));
    }
  }
  cv_.notify_all();
}

std::vector<uint8_t> Notifier::message(const dns::Name& zone, uint16_t id) {
  std::vector<uint8_t> buf(dns::kHeaderLen + zone.size() + 4);
  dns::WireWriter w(buf.data(), buf.size());
  w.u16(id);
  w.u16(static_cast<uint16_t>(dns::opcode::NOTIFY << 11 | dns::flag::AA));
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(0);
  w.bytes(zone.data(), zone.size());
  w.u16(dns::rrtype::SOA);
  w.u16(dns::rrclass::IN);
  buf.resize(w.pos());
  return buf;
}

void Notifier::send(Job& j) {
  // A lost datagram is what the retries are for.
  (void)::send(j.fd, j.msg.data(), j.msg.size(), MSG_DONTWAIT);
  ++j.attempt;
  sent_.fetch_add(1, std::memory_order_relaxed);
  j.due_ms = now_ms() + (int64_t{opts_.first_timeout_ms} << (j.attempt - 1));
}

bool Notifier::answered(const Job& j) {
  uint8_t buf[4096];  // room for a TSIG record
  bool ok = false;
  for (;;) {
    ssize_t n = ::recv(j.fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0) {
      break;
    }
    if (n < static_cast<ssize_t>(dns::kHeaderLen)) {
      continue;
    }
    uint16_t id = static_cast<uint16_t>(buf[0] << 8 | buf[1]);
    uint16_t flags = static_cast<uint16_t>(buf[2] << 8 | buf[3]);
    if (id == j.id && (flags & dns::flag::QR) && ((flags >> 11) & 0xF) == dns::opcode::NOTIFY) {
      if (j.key) {
        // Signed NOTIFY: the response must be signed with the same key (RFC 8945 5.3).
        dns::TsigVerifier v(*j.key, j.request_mac);
        dns::TsigStatus st = v.verify(buf, static_cast<size_t>(n), dns::tsig_now());
        if (st != dns::TsigStatus::kOk) {
          std::string why(dns::tsig_status_text(st));
          if (st == dns::TsigStatus::kPeerError) {
            why += " " + std::to_string(v.record().error);
          }
          spdlog::warn(
              "notify: {} answered the NOTIFY of {} with a response that fails TSIG "
              "verification with key {}: {}; not counted as acknowledged",
              j.target.addr.text, j.zone.to_text(), j.key->name.to_text(), why);
          continue;
        }
      }
      if ((flags & 0xF) != dns::rcode::NOERROR) {
        spdlog::warn("notify: {} answered the NOTIFY of {} with rcode {}", j.target.addr.text,
                     j.zone.to_text(), flags & 0xF);
      }
      ok = true;
    }
  }
  return ok;
}

void Notifier::loop() {
  std::mt19937 rng(std::random_device{}());
  std::vector<Job> active;
  auto close_job = [](Job& j) {
    if (j.fd >= 0) {
      ::close(j.fd);
      j.fd = -1;
    }
  };
  for (;;) {
    std::vector<Job> fresh;
    std::vector<Dest> current;
    {
      std::unique_lock lk(mu_);
      if (active.empty()) {
        cv_.wait(lk, [this] { return stopping_ || !queued_.empty(); });
      }
      if (stopping_) {
        break;
      }
      fresh.swap(queued_);
      current = targets_;
    }
    // A target a reload removed gets nothing more.
    for (auto& a : active) {
      if (std::find(current.begin(), current.end(), a.target) == current.end()) {
        spdlog::info("notify: {} is no longer a target; NOTIFY of {} serial {} dropped",
                     a.target.addr.text, a.zone.to_text(), a.serial);
        close_job(a);
      }
    }
    std::erase_if(active, [](const Job& a) { return a.fd < 0; });
    for (auto& j : fresh) {
      // A newer serial replaces the pending NOTIFY for the same zone and target.
      for (auto& a : active) {
        if (a.target == j.target && a.zone == j.zone) {
          close_job(a);
        }
      }
      std::erase_if(active, [](const Job& a) { return a.fd < 0; });
      const ListenAddr& t = j.target.addr;
      j.fd = ::socket(t.family(), SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (j.fd < 0 || ::connect(j.fd, t.sa(), t.len) != 0) {
        spdlog::warn("notify: {} for {}: cannot open a socket", t.text, j.zone.to_text());
        close_job(j);
        failed_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      j.id = static_cast<uint16_t>(rng());
      if (!prepare(j)) {
        close_job(j);
        failed_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      send(j);
      active.push_back(std::move(j));
    }
    if (active.empty()) {
      continue;
    }
    std::vector<pollfd> fds;
    int64_t now = now_ms();
    int64_t wait = 100;  // also how soon newly queued jobs are picked up
    for (const auto& j : active) {
      fds.push_back(pollfd{j.fd, POLLIN, 0});
      wait = std::min(wait, std::max<int64_t>(0, j.due_ms - now));
    }
    ::poll(fds.data(), fds.size(), static_cast<int>(wait));
    now = now_ms();
    for (size_t i = 0; i < active.size(); ++i) {
      Job& j = active[i];
      if ((fds[i].revents & POLLIN) && answered(j)) {
        spdlog::info("notify: {} acknowledged {} serial {}", j.target.addr.text, j.zone.to_text(),
                     j.serial);
        ok_.fetch_add(1, std::memory_order_relaxed);
        close_job(j);
      } else if (now >= j.due_ms) {
        if (j.attempt >= opts_.attempts) {
          spdlog::warn("notify: {} did not acknowledge {} serial {} after {} tries",
                       j.target.addr.text, j.zone.to_text(), j.serial, j.attempt);
          failed_.fetch_add(1, std::memory_order_relaxed);
          close_job(j);
        } else {
          retried_.fetch_add(1, std::memory_order_relaxed);
          send(j);
        }
      }
    }
    std::erase_if(active, [](const Job& a) { return a.fd < 0; });
  }
  for (auto& j : active) {
    close_job(j);
  }
}

void Notifier::collect(obs::Families& out) const {
  auto& f = obs::add_family(out, "steerdns_notify_total",
                            "NOTIFY messages to secondaries by result: ok = acknowledged, "
                            "failed = never acknowledged (every try timed out), retry = a "
                            "resend after a timeout.",
                            prometheus::MetricType::Counter);
  obs::add_counter(f, {{"result", "ok"}}, static_cast<double>(ok_.load()));
  obs::add_counter(f, {{"result", "failed"}}, static_cast<double>(failed_.load()));
  obs::add_counter(f, {{"result", "retry"}}, static_cast<double>(retried_.load()));
}

}  // namespace steerdns::server
