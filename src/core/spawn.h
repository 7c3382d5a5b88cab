// Child processes for exec probes (health) and command actions (dr): argv without a shell, stdin
// on /dev/null, stdout and stderr on one pipe, a pidfd to wait on, and the child in its own
// session so that a timeout can kill everything it started (kill(-pid, SIGKILL)).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <vector>

namespace steerdns::core {

inline int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

struct SpawnedChild {
  enum class Failed { kNo, kPipe, kExec, kPidfd };

  pid_t pid = -1;
  int out_fd = -1;  // read end of the pipe: the child's stdout and stderr (close-on-exec)
  int pidfd = -1;   // readable once the child has exited
  Failed failed = Failed::kNo;  // on failure nothing is left open and no child is left running
  int err = 0;                  // errno of the step that failed

  // "pipe: <why>" or "pidfd_open: <why>"; for kExec (program not found, not executable) only
  // <why>, so that the caller names the program its own way.
  std::string error_text() const {
    std::string why = std::system_category().message(err);
    switch (failed) {
      case Failed::kPipe:
        return "pipe: " + why;
      case Failed::kPidfd:
        return "pidfd_open: " + why;
      case Failed::kExec:
        return why;
      case Failed::kNo:
        break;
    }
    return {};
  }
};

// argv[0] is searched in PATH unless it has a '/'. argv must not be empty.
inline SpawnedChild spawn_captured(const std::vector<std::string>& argv, char* const* envp) {
  SpawnedChild child;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    child.failed = SpawnedChild::Failed::kPipe;
    child.err = errno;
    return child;
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
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> store = argv;  // posix_spawn wants char*, not const char*
  std::vector<char*> args;
  args.reserve(store.size() + 1);
  for (auto& s : store) {
    args.push_back(s.data());
  }
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = store[0].find('/') != std::string::npos
               ? ::posix_spawn(&pid, args[0], &fa, &attr, args.data(), envp)
               : ::posix_spawnp(&pid, args[0], &fa, &attr, args.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    child.failed = SpawnedChild::Failed::kExec;
    child.err = rc;
    return child;
  }
  int pfd = pidfd_open(pid);
  if (pfd < 0) {
    child.failed = SpawnedChild::Failed::kPidfd;
    child.err = errno;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(fds[0]);
    return child;
  }
  child.pid = pid;
  child.out_fd = fds[0];
  child.pidfd = pfd;
  return child;
}

}  // namespace steerdns::core
