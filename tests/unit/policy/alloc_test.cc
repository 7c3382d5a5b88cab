// The query path must not allocate: count operator new calls around select() for every policy
// (geo included: libmaxminddb lookups use malloc only in the varargs API, which we avoid).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "policy_test_util.h"

// GCC sees the replaced operator new and delete as a malloc/free mismatch; they are a pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
thread_local bool g_counting = false;
std::atomic<int> g_allocs{0};
}  // namespace

void* operator new(size_t n) {
  if (g_counting) {
    g_allocs.fetch_add(1);
  }
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) {
    throw std::bad_alloc();
  }
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace steerdns::policy::test {
namespace {

TEST(NoAlloc, SelectAllocatesNothing) {
  Compiled c;
  RecordSet fo =
      Set("fo.example.", Policy::kFailover, {M("p", "192.0.2.1", "p"), M("s", "192.0.2.2", "s")});
  fo.members[0].tier = 1;
  fo.members[1].tier = 2;
  c.spec.record_sets.push_back(fo);
  RecordSet w = Set("w.example.", Policy::kWeighted, {M("a", "192.0.2.3"), M("b", "192.0.2.4")});
  w.members[0].weight = 1;
  w.members[1].weight = 2;
  c.spec.record_sets.push_back(w);
  w.name = N("ws.example.");
  w.sticky = true;
  c.spec.record_sets.push_back(w);
  RecordSet l =
      Set("l.example.", Policy::kLatency, {Alias("eu", "fo.example."), M("us", "192.0.2.5")});
  l.members[0].region = "eu";
  l.members[1].region = "us";
  c.spec.record_sets.push_back(l);
  RecordSet n = Set("n.example.", Policy::kSubnet, {M("x", "192.0.2.6"), M("d", "192.0.2.7")});
  n.members[0].subnets = {C("10.0.0.0/8")};
  n.members[1].subnet_default = true;
  c.spec.record_sets.push_back(n);
  c.spec.latency_map.push_back({C("10.0.0.0/8"), {{"eu", 10}, {"us", 90}}, "m:1"});
  c.health = Health({{"p", kDown}});  // all-down and fallback paths run too
  c.steer["fo.example./A"] = SteerState{2, 1, 0.5, 30};
  c.build();

  Client cl = Cl("10.1.2.3");
  uint64_t sink = 0;
  g_allocs = 0;
  g_counting = true;
  for (uint32_t id = 0; id < c.table->size(); ++id) {
    for (uint64_t e = 0; e < 100; ++e) {
      Selection s = c.table->select(id, cl, Entropy(e));
      sink += s.count + s.ttl;
    }
  }
  g_counting = false;
  EXPECT_EQ(g_allocs.load(), 0);
  EXPECT_GT(sink, 0u);
  // The counter works.
  g_counting = true;
  auto* s = new std::string(100, 'x');
  g_counting = false;
  delete s;
  EXPECT_GE(g_allocs.load(), 1);
}

}  // namespace
}  // namespace steerdns::policy::test
