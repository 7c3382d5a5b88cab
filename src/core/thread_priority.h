#pragma once
// Control-plane threads (the change applier, the API) run as SCHED_IDLE: they use only the CPU
// the query threads leave, and a query thread woken by a packet preempts them at once (the
// scheduler's rule for idle-policy tasks), so bursts of API work and catalog compiles slow
// changes, not answers. The price: when query threads saturate every core (a flood), API
// requests and changes slow down to a trickle; health checks and steering (automatic failover)
// run at normal priority and are not affected. Where SCHED_IDLE is refused (a seccomp
// profile), nice 10 remains.
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace steerdns {

inline constexpr int kBackgroundNice = 10;

// Names the calling thread (top -H, perf, /proc; at most 15 characters) and lowers its
// priority. Failure (e.g. a seccomp profile) only leaves it at normal priority.
inline void make_background_thread(const char* name) {
  pthread_setname_np(pthread_self(), name);
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kBackgroundNice);
  sched_param none{};
  (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &none);
}

// Query threads ask for a short scheduler slice. On EEVDF kernels (Linux 6.6+) a running
// thread is protected until its slice ends (1.5 ms and more), so a query thread woken by a
// packet while a control-plane thread runs would wait that long; with a shorter slice than the
// running thread's it preempts it at once (6.12+: sched_attr.sched_runtime of a SCHED_OTHER
// thread is its slice). Older kernels (CFS) ignore or refuse it, which changes nothing.
inline constexpr uint64_t kQuerySliceNs = 100'000;

inline void make_query_thread(const char* name) {
  pthread_setname_np(pthread_self(), name);
#ifdef SYS_sched_setattr
  struct {  // struct sched_attr (include/uapi/linux/sched/types.h), version 1 layout
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
    uint32_t sched_util_min;
    uint32_t sched_util_max;
  } attr{};
  attr.size = sizeof attr;
  attr.sched_policy = 0;  // SCHED_OTHER
  attr.sched_nice = getpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()));
  attr.sched_runtime = kQuerySliceNs;
  (void)syscall(SYS_sched_setattr, 0, &attr, 0);
#endif
}

}  // namespace steerdns
