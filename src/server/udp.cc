#include "server/udp.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "core/thread_priority.h"
#include "server/query.h"
#include "server/query_log.h"
#include "server/xfr.h"

namespace steerdns::server {
namespace {

constexpr int kBatch = 32;
constexpr size_t kRecvBuf = 4096;  // larger queries are dropped (MSG_TRUNC)
constexpr size_t kSendBuf = 4096;  // answer_query clamps to the client's and our payload size
constexpr size_t kCtlBuf = 64;     // room for one IP_PKTINFO / IPV6_PKTINFO
constexpr int kSockBuf = 4 << 20;

Error sys_error(const ListenAddr& a, const char* what) {
  return Error{"udp " + a.text + ": " + what + ": " +
               std::error_code(errno, std::system_category()).message()};
}

// Rewrites received packet info into the control message a reply needs to leave from the same
// local address. Returns the control length to send, 0 if none.
size_t reply_control(msghdr& rx, uint8_t* out) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&rx); c != nullptr; c = CMSG_NXTHDR(&rx, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      pi.ipi_spec_dst = pi.ipi_addr;
      pi.ipi_ifindex = 0;
      auto* o = reinterpret_cast<cmsghdr*>(out);
      o->cmsg_level = IPPROTO_IP;
      o->cmsg_type = IP_PKTINFO;
      o->cmsg_len = CMSG_LEN(sizeof pi);
      std::memcpy(CMSG_DATA(o), &pi, sizeof pi);
      return CMSG_SPACE(sizeof pi);
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      auto* o = reinterpret_cast<cmsghdr*>(out);
      o->cmsg_level = IPPROTO_IPV6;
      o->cmsg_type = IPV6_PKTINFO;
      o->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
      std::memcpy(CMSG_DATA(o), CMSG_DATA(c), sizeof(in6_pktinfo));
      return CMSG_SPACE(sizeof(in6_pktinfo));
    }
  }
  return 0;
}

}  // namespace

Result<int> open_udp_socket(const ListenAddr& addr) {
  int fd = socket(addr.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return sys_error(addr, "socket");
  }
  int one = 1;
  auto fail = [&](const char* what) -> Result<int> {
    Error e = sys_error(addr, what);
    close(fd);
    return e;
  };
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return fail("SO_REUSEPORT");
  }
  // Buffer sizes are best effort: the kernel caps them at net.core.[rw]mem_max.
  int size = kSockBuf;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  if (addr.family() == AF_INET6) {
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
      return fail("IPV6_V6ONLY");
    }
    // Ignore path MTU information (forged ICMP "too big" cannot shrink our answers); the
    // kernel fragments at the interface MTU instead. Best effort on old kernels.
    int omit = IPV6_PMTUDISC_OMIT;
    setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &omit, sizeof omit);
    if (addr.is_wildcard() &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) != 0) {
      return fail("IPV6_RECVPKTINFO");
    }
  } else {
    // Same as above for IPv4: no DF bit, so oversized answers are fragmented, not dropped.
    int omit = IP_PMTUDISC_OMIT;
    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &omit, sizeof omit);
    if (addr.is_wildcard() && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) != 0) {
      return fail("IP_PKTINFO");
    }
  }
  if (bind(fd, addr.sa(), addr.len) != 0) {
    return fail("bind");
  }
  return fd;
}

struct UdpWorker::Buffers {
  mmsghdr rx[kBatch];
  mmsghdr tx[kBatch];
  iovec rx_iov[kBatch];
  iovec tx_iov[kBatch];
  sockaddr_storage src[kBatch];
  alignas(cmsghdr) uint8_t rx_ctl[kBatch][kCtlBuf];
  alignas(cmsghdr) uint8_t tx_ctl[kBatch][kCtlBuf];
  uint8_t in[kBatch][kRecvBuf];
  uint8_t out[kBatch][kSendBuf];
};

UdpWorker::UdpWorker(const Snapshot<config::RuntimeConfig>& config, std::vector<int> fds,
                     std::vector<bool> pktinfo, QueryMetrics& metrics)
    : reader_(config),
      fds_(std::move(fds)),
      pktinfo_(std::move(pktinfo)),
      bufs_(std::make_unique<Buffers>()),
      metrics_(metrics) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = UINT64_MAX;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev);
  for (size_t i = 0; i < fds_.size(); ++i) {
    ev.data.u64 = i;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fds_[i], &ev);
  }
}

UdpWorker::~UdpWorker() {
  for (int fd : fds_) {
    close(fd);
  }
  close(epoll_fd_);
  close(stop_fd_);
}

void UdpWorker::stop() {
  stop_.store(true, std::memory_order_relaxed);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(stop_fd_, &one, sizeof one);
  // Wakes a worker blocked in recvmmsg (single-socket mode); Linux allows it on UDP sockets.
  for (int fd : fds_) {
    shutdown(fd, SHUT_RD);
  }
}

void UdpWorker::run() {
  if (fds_.size() == 1) {
    // The common case, one listen address: block in recvmmsg itself (no epoll round trip per
    // batch), as gdnsd does.
    int fd = fds_[0];
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    while (!stop_.load(std::memory_order_relaxed)) {
      serve_socket(fd, pktinfo_[0], MSG_WAITFORONE);
    }
    return;
  }
  epoll_event events[16];
  while (!stop_.load(std::memory_order_relaxed)) {
    int n = epoll_wait(epoll_fd_, events, 16, -1);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == UINT64_MAX) {
        return;
      }
      size_t k = events[i].data.u64;
      serve_socket(fds_[k], pktinfo_[k], MSG_DONTWAIT);
    }
  }
}

void UdpWorker::serve_socket(int fd, bool pktinfo, int recv_flags) {
  Buffers& b = *bufs_;
  // Drain the socket batch by batch; a short batch means it is empty for now.
  for (int rounds = 0; rounds < 64; ++rounds) {
    for (int i = 0; i < kBatch; ++i) {
      b.rx_iov[i] = {b.in[i], kRecvBuf};
      msghdr& h = b.rx[i].msg_hdr;
      h.msg_name = &b.src[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &b.rx_iov[i];
      h.msg_iovlen = 1;
      h.msg_control = pktinfo ? b.rx_ctl[i] : nullptr;
      h.msg_controllen = pktinfo ? kCtlBuf : 0;
      h.msg_flags = 0;
    }
    int got = recvmmsg(fd, b.rx, kBatch, recv_flags, nullptr);
    if (got <= 0 || stop_.load(std::memory_order_relaxed)) {
      return;  // empty, or woken by stop() (shutdown makes recvmmsg return an empty datagram)
    }
    counters_.queries.add(static_cast<uint64_t>(got));
    // Response time per batch: from recvmmsg's return to sendmmsg's (two vDSO clock reads per
    // batch, not per query).
    timespec t0{};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    // One snapshot per batch: a reload becomes visible at the next batch.
    const config::RuntimeConfig* cfg = reader_.get();
    int nout = 0;
    uint64_t drops = 0, truncated = 0;
    for (int i = 0; i < got; ++i) {
      msghdr& h = b.rx[i].msg_hdr;
      if ((h.msg_flags & MSG_TRUNC) != 0 || cfg == nullptr) {
        ++drops;
        continue;
      }
      ClientInfo client{reinterpret_cast<const sockaddr*>(&b.src[i]), Transport::kUdp};
      AnswerInfo info;
      size_t len =
          answer_query(*cfg, b.in[i], b.rx[i].msg_len, b.out[nout], kSendBuf, client, &info);
      if (len == 0) {
        ++drops;
        continue;
      }
      truncated += info.truncated ? 1 : 0;
      metrics_.count(info, Transport::kUdp);
      if (info.tsig && info.tsig_status != dns::TsigStatus::kOk) [[unlikely]] {
        counters_.count_tsig_failure(info.tsig_status);
        log_tsig_failure(client.addr, b.in[i], b.rx[i].msg_len, info.tsig_status);
      }
      if (qlog_ != nullptr && qlog_->sample()) {
        log_query(*qlog_, client, b.in[i], b.rx[i].msg_len, b.out[nout], len, info);
      }
      b.tx_iov[nout] = {b.out[nout], len};
      msghdr& t = b.tx[nout].msg_hdr;
      t.msg_name = &b.src[i];
      t.msg_namelen = h.msg_namelen;
      t.msg_iov = &b.tx_iov[nout];
      t.msg_iovlen = 1;
      t.msg_controllen = pktinfo ? reply_control(h, b.tx_ctl[nout]) : 0;
      t.msg_control = t.msg_controllen ? b.tx_ctl[nout] : nullptr;
      t.msg_flags = 0;
      ++nout;
    }
    int sent = 0;
    while (sent < nout) {
      int r = sendmmsg(fd, b.tx + sent, static_cast<unsigned>(nout - sent), MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) {
          continue;
        }
        // Send buffer full or the destination rejects it: drop this one, try the rest.
        ++drops;
        ++sent;
        continue;
      }
      counters_.responses.add(static_cast<uint64_t>(r));
      sent += r;
    }
    if (nout > 0) {
      timespec t1{};
      clock_gettime(CLOCK_MONOTONIC, &t1);
      double secs = static_cast<double>(t1.tv_sec - t0.tv_sec) +
                    static_cast<double>(t1.tv_nsec - t0.tv_nsec) * 1e-9;
      metrics_.latency(Transport::kUdp).observe(secs, static_cast<uint64_t>(nout));
    }
    if (drops) {
      counters_.drops.add(drops);
    }
    if (truncated) {
      counters_.truncated.add(truncated);
    }
    if (got < kBatch) {
      return;
    }
  }
}

UdpServer::UdpServer(const Snapshot<config::RuntimeConfig>& config, int threads)
    : config_(config), threads_(threads < 1 ? 1 : threads) {
  fds_.resize(static_cast<size_t>(threads_));
  pktinfo_.resize(static_cast<size_t>(threads_));
  for (int t = 0; t < threads_; ++t) {
    metrics_.push_back(std::make_unique<QueryMetrics>());
  }
}

UdpServer::~UdpServer() {
  stop();
  for (auto& v : fds_) {
    for (int fd : v) {
      close(fd);
    }
  }
}

Status UdpServer::listen(const ListenAddr& addr) {
  for (int t = 0; t < threads_; ++t) {
    auto fd = open_udp_socket(addr);
    if (!fd) {
      return Error{fd.error()};
    }
    fds_[static_cast<size_t>(t)].push_back(*fd);
    pktinfo_[static_cast<size_t>(t)].push_back(addr.is_wildcard());
  }
  return OkStatus();
}

void UdpServer::start() {
  for (int t = 0; t < threads_; ++t) {
    auto i = static_cast<size_t>(t);
    workers_.push_back(
        std::make_unique<UdpWorker>(config_, std::move(fds_[i]), std::move(pktinfo_[i]),
                                    *metrics_[i]));
    if (qlog_ != nullptr) {
      workers_.back()->set_query_log(qlog_->add_ring());
    }
    fds_[i].clear();
  }
  for (auto& w : workers_) {
    running_.emplace_back([wp = w.get()] {
      make_query_thread("sd-udp");
      wp->run();
    });
  }
}

void UdpServer::stop() {
  for (auto& w : workers_) {
    w->stop();
  }
  for (auto& t : running_) {
    t.join();
  }
  running_.clear();
}

CounterTotals UdpServer::totals() const {
  CounterTotals t;
  for (const auto& w : workers_) {
    t.add(w->counters());
  }
  return t;
}

}  // namespace steerdns::server
