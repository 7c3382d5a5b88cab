#pragma once
// Control-plane threads (the change applier, the API) run at a lower CPU priority than the
// query path: on a busy core the scheduler then runs query threads first (nice 10 weighs about
// a tenth of nice 0), so bursts of API work and catalog compiles slow changes, not answers.
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

namespace steerdns {

inline constexpr int kBackgroundNice = 10;

// Names the calling thread (top -H, perf, /proc; at most 15 characters) and lowers its
// priority. Failure (e.g. a seccomp profile) only leaves it at normal priority.
inline void make_background_thread(const char* name) {
  pthread_setname_np(pthread_self(), name);
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kBackgroundNice);
}

}  // namespace steerdns
