// Exec probe: spawn argv (no shell) in its own session with stdout+stderr on one pipe, wait for
// the exit on a pidfd with Asio, kill the whole process group at the timeout. Exit 0 is healthy;
// the first line of output is the reason. Output beyond max_output is read and discarded, so a
// chatty command is neither blocked on a full pipe nor killed by SIGPIPE.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
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

#include "health/probe_kinds.h"

extern char** environ;

namespace steerdns::health::detail {
namespace {

namespace asio = boost::asio;

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

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
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      return std::string("exec: pipe: ") + std::system_category().message(errno);
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    // Our sockets (DNS listeners, API) must not leak into the child.
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int s : {SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2}) {
      sigaddset(&defaults, s);
    }
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    // Own session and process group, so the timeout kills what the command started too.
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<char*> argv;
    argv.reserve(argv_.size() + 1);
    for (auto& a : argv_) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_t pid = 0;
    int rc = argv_[0].find('/') != std::string::npos
                 ? ::posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), environ)
                 : ::posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      return "exec " + argv_[0] + ": " + std::system_category().message(rc);
    }
    pid_ = pid;
    int pfd = pidfd_open(pid);
    if (pfd < 0) {
      int err = errno;
      ::close(fds[0]);
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      reaped_ = true;
      return std::string("exec: pidfd_open: ") + std::system_category().message(err);
    }
    out_.assign(fds[0]);
    pidfd_.assign(pfd);
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
