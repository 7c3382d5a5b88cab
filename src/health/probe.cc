// make_prober: dispatches a probe to its kind and counts probes in flight.
#include "health/probe.h"

#include <boost/asio/post.hpp>
#include <memory>
#include <utility>

#include "health/probe_kinds.h"

namespace steerdns::health {
namespace detail {

std::string printable_excerpt(std::string_view s, size_t max) {
  std::string out;
  for (char c : s) {
    if (c == '\r' || c == '\n') {
      break;
    }
    if (out.size() >= max) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  return out;
}

void post_failure(boost::asio::io_context& io, DoneFn done, std::string reason) {
  boost::asio::post(io, [done = std::move(done), reason = std::move(reason)]() mutable {
    ProbeResult r;
    r.ok = false;
    r.reason = std::move(reason);
    done(std::move(r));
  });
}

ProbeBase::ProbeBase(boost::asio::io_context& io, const CheckSpec& spec, DoneFn done)
    : io_(io),
      timer_(io),
      timeout_ms_(spec.timeout_ms),
      t0_(std::chrono::steady_clock::now()),
      done_(std::move(done)) {}

void ProbeBase::fail_early(std::string reason) {
  finished_ = true;
  post_failure(io_, std::move(done_), std::move(reason));
}

void ProbeBase::arm_deadline(std::shared_ptr<void> keep, std::function<void()> expired) {
  timer_.expires_after(std::chrono::milliseconds(timeout_ms_));
  timer_.async_wait([this, keep = std::move(keep),
                     expired = std::move(expired)](const boost::system::error_code& ec) {
    if (!ec && !finished_) {
      expired();
    }
  });
}

void ProbeBase::deliver(bool ok, std::string reason) {
  finished_ = true;
  timer_.cancel();
  result_.ok = ok;
  result_.reason = std::move(reason);
  result_.timings.total_ms = ms_since(t0_);
  DoneFn done = std::move(done_);
  done(std::move(result_));
}

}  // namespace detail

namespace {

// Shared with every pending completion, so a completion that runs after the Prober is gone
// (the io_context outlives it) neither touches freed memory nor calls back into the engine.
struct Shared {
  size_t in_flight = 0;
  bool alive = true;
};

class ProberImpl final : public Prober {
 public:
  ProberImpl(boost::asio::io_context& io, const std::string& checker_id)
      : io_(io), shared_(std::make_shared<Shared>()), http_(io, checker_id) {}
  ~ProberImpl() override { shared_->alive = false; }

  void start(const CheckSpec& spec, std::function<void(ProbeResult)> done) override {
    ++shared_->in_flight;
    detail::DoneFn wrapped = [shared = shared_, done = std::move(done)](ProbeResult r) {
      --shared->in_flight;
      if (shared->alive) {
        done(std::move(r));
      }
    };
    switch (spec.kind) {
      case Kind::kHttp:
      case Kind::kHttps:
        http_.start(spec, std::move(wrapped));
        return;
      case Kind::kTcp:
        detail::start_tcp_probe(io_, spec, std::move(wrapped));
        return;
      case Kind::kDns:
        detail::start_dns_probe(io_, spec, std::move(wrapped));
        return;
      case Kind::kExec:
        detail::start_exec_probe(io_, spec, std::move(wrapped));
        return;
      case Kind::kCalculated:
      case Kind::kExternal:
        break;
    }
    detail::post_failure(io_, std::move(wrapped), "this check kind is not probed");
  }

  size_t in_flight() const override { return shared_->in_flight; }

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<Shared> shared_;
  detail::HttpProber http_;
};

}  // namespace

std::unique_ptr<Prober> make_prober(boost::asio::io_context& io, const std::string& checker_id) {
  return std::make_unique<ProberImpl>(io, checker_id);
}

}  // namespace steerdns::health
