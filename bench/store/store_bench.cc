// Durable commit cost: each iteration is one BEGIN IMMEDIATE ... COMMIT with fsync (WAL,
// synchronous=FULL) on a file in $TMPDIR. Reported per commit; items = records.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "store/store.h"

namespace steerdns::store {
namespace {

void BM_Commit(benchmark::State& state) {
  const int records = static_cast<int>(state.range(0));
  std::string tmpl = (std::filesystem::temp_directory_path() / "sd-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  {
    auto s = open_store("sqlite:" + tmpl + "/bench.db");
    if (!s.ok()) {
      state.SkipWithError(s.error().c_str());
      return;
    }
    Store& store = **s;
    Commit zone;
    Op z;
    z.kind = "zone";
    z.key = "ZBENCH";
    z.zone = ZoneRow{"ZBENCH", "bench.test.", "", "", nlohmann::json::object(), 0};
    zone.ops.push_back(z);
    if (!store.commit(zone).ok()) {
      state.SkipWithError("zone commit failed");
      return;
    }
    int64_t n = 0;
    for (auto _ : state) {
      state.PauseTiming();
      Commit c;
      c.ops.reserve(records);
      for (int i = 0; i < records; ++i) {
        Op op;
        op.kind = "record";
        op.zone_id = "ZBENCH";
        op.key = "h" + std::to_string(i) + ".bench.test./A";
        op.record = RecordRow{"ZBENCH", op.key,
                              {{"name", op.key}, {"type", "A"}, {"ttl", 60},
                               {"values", {"192.0.2." + std::to_string(n % 250)}}}};
        c.ops.push_back(std::move(op));
      }
      c.change.id = make_id('C');
      c.change.author = "bench";
      ++n;
      state.ResumeTiming();
      auto rev = store.commit(c);
      if (!rev.ok()) {
        state.SkipWithError(rev.error().c_str());
        break;
      }
    }
    state.SetItemsProcessed(state.iterations() * records);
  }
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
}
BENCHMARK(BM_Commit)->Arg(1)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace steerdns::store

BENCHMARK_MAIN();
