// Exec probe: spawn argv (no shell) in its own session with stdout+stderr on one pipe, wait for
// the exit on a pidfd with Asio, kill the whole process group at the timeout. Exit 0 is healthy;
// the first line of output is the reason. Output beyond max_output is read and discarded, so a
// chatty command is neither blocked on a full pipe nor killed by SIGPIPE.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include "core/spawn.h"
#include "health/probe_kinds.h"

extern char** environ;

namespace steerdns::health::detail {
namespace {

namespace asio = boost::asio;

class ExecProbe : public ProbeBase, public std::enable_shared_from_this<ExecProbe> {
 public:
  ExecProbe(asio::io_context& io, const CheckSpec& spec, DoneFn done)
      : ProbeBase(io, spec, std::move(done)),
        out_(io),
        pidfd_(io),
        argv_(spec.exec.argv),
        max_output_(spec.exec.max_output) {}

  ~ExecProbe() {
    // Only when the io_context is torn down with the probe pending: never leave a child behind.
    if (pid_ > 0 && !reaped_) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  void run() {
    if (argv_.empty() || argv_[0].empty()) {
      fail_early("exec: empty argv");
      return;
    }
    std::string error = spawn();
    if (!error.empty()) {
      fail_early(std::move(error));
      return;
    }
    auto self = shared_from_this();
    arm_deadline(self, [this] {
      if (!reaped_) {
        timed_out_ = true;
        ::kill(-pid_, SIGKILL);  // the reap on the pidfd then finishes the probe
      }
    });
    read_output();
    pidfd_.async_wait(asio::posix::stream_descriptor::wait_read,
                      [self](const boost::system::error_code& ec) { self->on_exit(ec); });
  }

 private:
  std::string spawn() {
    core::SpawnedChild child = core::spawn_captured(argv_, environ);
    if (child.failed == core::SpawnedChild::Failed::kExec) {
      return "exec " + argv_[0] + ": " + child.error_text();
    }
    if (child.failed != core::SpawnedChild::Failed::kNo) {
      return "exec: " + child.error_text();
    }
    pid_ = child.pid;
    out_.assign(child.out_fd);
    pidfd_.assign(child.pidfd);
    return {};
  }

  void read_output() {
    auto self = shared_from_this();
    out_.async_read_some(asio::buffer(buf_), [self](const boost::system::error_code& ec, size_t n) {
      self->keep(n);
      if (!ec && !self->finished_) {
        self->read_output();
      }
    });
  }

  void keep(size_t n) {
    size_t room = max_output_ > output_.size() ? max_output_ - output_.size() : 0;
    output_.append(buf_.data(), std::min(n, room));
  }

  void on_exit(const boost::system::error_code& ec) {
    if (finished_) {
      return;
    }
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, ec ? 0 : WNOHANG);
    int wait_errno = errno;
    if (r == 0) {
      // Spurious wake-up: not exited yet.
      auto self = shared_from_this();
      pidfd_.async_wait(asio::posix::stream_descriptor::wait_read,
                        [self](const boost::system::error_code& e) { self->on_exit(e); });
      return;
    }
    reaped_ = true;
    // Whatever the command wrote before exiting is in the pipe now; a background grandchild
    // that keeps the pipe open must not hold the result, so read without waiting for EOF.
    boost::system::error_code rec;
    out_.non_blocking(true, rec);
    for (;;) {
      size_t n = out_.read_some(asio::buffer(buf_), rec);
      if (rec || n == 0) {
        break;
      }
      keep(n);
      if (output_.size() >= max_output_) {
        break;
      }
    }
    std::string line = printable_excerpt(output_, 200);
    boost::system::error_code cec;
    out_.close(cec);
    pidfd_.close(cec);
    if (timed_out_) {
      deliver(false, timeout_reason(timeout_ms_));
    } else if (r < 0) {
      deliver(false, std::string("exec: waitpid: ") + std::system_category().message(wait_errno));
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
      deliver(true, line.empty() ? "exit 0" : line);
    } else if (WIFEXITED(st)) {
      deliver(false, "exit " + std::to_string(WEXITSTATUS(st)) + (line.empty() ? "" : ": " + line));
    } else {
      deliver(false, "killed by signal " + std::to_string(WTERMSIG(st)));
    }
  }

  asio::posix::stream_descriptor out_;
  asio::posix::stream_descriptor pidfd_;
  std::vector<std::string> argv_;
  size_t max_output_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  bool timed_out_ = false;
  std::array<char, 4096> buf_{};
  std::string output_;
};

}  // namespace

void start_exec_probe(asio::io_context& io, const CheckSpec& spec, DoneFn done) {
  std::make_shared<ExecProbe>(io, spec, std::move(done))->run();
}

}  // namespace steerdns::health::detail
