// The etcd backend of the Store (etcd_store.h has the key layout).
#include "store/etcd/etcd_store.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <utility>

namespace steerdns::store {
namespace {

using json = nlohmann::json;
using etcd::Compare;
using etcd::KeyValue;
using etcd::RangeRequest;
using etcd::TxnOp;

constexpr const char* kUnavailable = "unavailable: ";
constexpr int64_t kSeqScale = 1024;  // seq = create_revision * kSeqScale + index in the txn
constexpr size_t kMaxEventsPerTxn = 1000;
constexpr size_t kOpsPerChunk = 100;  // housekeeping txns stay under the default limit (128)
constexpr size_t kPageSize = 1000;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string pad20(int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020lld", static_cast<long long>(n));
  return buf;
}

std::string q(const std::string& s) {
  std::string out = "'";
  out.append(s).append("'");
  return out;
}

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

bool ambiguous(const std::string& e) { return e.find("may or may not") != std::string::npos; }

Result<json> parse_value(const KeyValue& kv) {
  auto j = json::parse(kv.value, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Error{"corrupt JSON in key " + q(kv.key)};
  }
  return j;
}

int64_t parse_int(const std::string& s) {
  try {
    return s.empty() ? 0 : std::stoll(s);
  } catch (...) {
    return -1;
  }
}

int64_t jnum(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}

std::string jstr(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json zone_json(const ZoneRow& z, const std::string& id) {
  return {{"id", id},
          {"name", z.name},
          {"caller_ref", z.caller_ref},
          {"comment", z.comment},
          {"settings", z.settings},
          {"created_ms", z.created_ms}};
}

json change_json(const ChangeRow& c) {
  return {{"id", c.id},
          {"revision", c.revision},
          {"status", c.status},
          {"author", c.author},
          {"comment", c.comment},
          {"submitted_ms", c.submitted_ms},
          {"insync_ms", c.insync_ms},
          {"changes", c.changes}};
}

ChangeRow change_from(const json& j) {
  ChangeRow c;
  c.id = jstr(j, "id");
  c.revision = jnum(j, "revision");
  c.status = jstr(j, "status");
  c.author = jstr(j, "author");
  c.comment = jstr(j, "comment");
  c.submitted_ms = jnum(j, "submitted_ms");
  c.insync_ms = jnum(j, "insync_ms");
  c.changes = j.contains("changes") ? j["changes"] : json::array();
  return c;
}

json outbox_json(const OutboxRow& o) {
  return {{"id", o.id},
          {"alert_id", o.alert_id},
          {"channel", o.channel},
          {"dedup_key", o.dedup_key},
          {"payload", o.payload},
          {"status", o.status},
          {"attempts", o.attempts},
          {"created_ms", o.created_ms},
          {"next_attempt_ms", o.next_attempt_ms},
          {"done_ms", o.done_ms},
          {"history", o.history}};
}

OutboxRow outbox_from(const json& j) {
  OutboxRow o;
  o.id = jnum(j, "id");
  o.alert_id = jstr(j, "alert_id");
  o.channel = jstr(j, "channel");
  o.dedup_key = jstr(j, "dedup_key");
  o.payload = j.contains("payload") ? j["payload"] : json();
  o.status = jstr(j, "status");
  o.attempts = jnum(j, "attempts");
  o.created_ms = jnum(j, "created_ms");
  o.next_attempt_ms = jnum(j, "next_attempt_ms");
  o.done_ms = jnum(j, "done_ms");
  o.history = j.contains("history") && j["history"].is_array() ? j["history"] : json::array();
  return o;
}

// The writes of one transaction, coalesced: etcd refuses a txn that puts one key twice or puts
// a key inside a range it deletes ("duplicate key given in txn request").
class WriteSet {
 public:
  void put(const std::string& key, std::string value) { keys_[key] = std::move(value); }
  void del(const std::string& key) {
    if (covered(key)) {
      keys_.erase(key);
      return;
    }
    keys_[key] = std::nullopt;
  }
  void del_prefix(const std::string& prefix) {
    for (auto it = keys_.lower_bound(prefix);
         it != keys_.end() && starts_with(it->first, prefix.c_str());) {
      it = keys_.erase(it);
    }
    ranges_.push_back(prefix);
  }
  // A put inside a prefix deleted earlier in the same txn cannot be expressed.
  bool covered(const std::string& key) const {
    return std::any_of(ranges_.begin(), ranges_.end(),
                       [&](const std::string& p) { return starts_with(key, p.c_str()); });
  }
  void append_to(std::vector<TxnOp>* ops) const {
    for (const auto& p : ranges_) {
      ops->push_back(TxnOp::del(p, etcd::prefix_end(p)));
    }
    for (const auto& [k, v] : keys_) {
      ops->push_back(v ? TxnOp::put(k, *v) : TxnOp::del(k));
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> keys_;
  std::vector<std::string> ranges_;
};

}  // namespace

EtcdStore::EtcdStore(const etcd::Options& options, std::string node_id,
                     EtcdStoreOptions store_options)
    : client_(options), node_id_(std::move(node_id)), sopts_(store_options) {}

EtcdStore::~EtcdStore() {
  std::unique_ptr<etcd::Watch> w;
  {
    std::lock_guard lock(watch_mu_);
    w = std::move(watch_);
  }
  w.reset();  // joins the watch thread before the client goes
}

Result<std::unique_ptr<EtcdStore>> EtcdStore::open(const etcd::Options& options,
                                                   std::string node_id,
                                                   EtcdStoreOptions store_options) {
  if (node_id.empty()) {
    return Error{"store etcd: etcd store needs --node-id"};
  }
  if (node_id.find('/') != std::string::npos) {
    return Error{"store etcd: node id " + q(node_id) + " must not contain '/'"};
  }
  if (options.endpoints.empty()) {
    return Error{"store etcd: no endpoints"};
  }
  std::unique_ptr<EtcdStore> s(new EtcdStore(options, std::move(node_id), store_options));
  if (auto st = s->init(); !st.ok()) {
    // Only "no endpoint answered" is worth waiting out; TLS, auth or a newer layout is not.
    if (!store_options.allow_offline || !is_unavailable(st.error())) {
      return Error{st.error()};
    }
    s->ready_error_ = st.error();
    s->ready_tried_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
    return s;
  }
  s->ready_ = true;
  return s;
}

std::string EtcdStore::describe() const {
  std::string d = "etcd:";
  const auto& eps = client_.options().endpoints;
  for (size_t i = 0; i < eps.size(); ++i) {
    if (i > 0) {
      d += ",";
    }
    d += eps[i];
  }
  d.append(" (node ").append(node_id_).append(")");
  return d;
}

Error EtcdStore::error(const std::string& what, const std::string& cause) const {
  if (starts_with(cause, kUnavailable)) {
    std::string m = kUnavailable;
    m.append("store ").append(describe()).append(": ").append(what).append(": ");
    m.append(cause.substr(std::char_traits<char>::length(kUnavailable)));
    return Error{m};
  }
  if (starts_with(cause, "conflict: ")) {
    return Error{cause};
  }
  std::string m = "store ";
  m.append(describe()).append(": ").append(what).append(": ").append(cause);
  return Error{m};
}

Error EtcdStore::error(const std::string& what) const {
  std::string m = "store ";
  m.append(describe()).append(": ").append(what);
  return Error{m};
}

Status EtcdStore::init() {
  const std::string key = k("layout");
  for (int attempt = 0;; ++attempt) {
    RangeRequest r;
    r.key = key;
    auto got = client_.range(r);
    if (!got.ok()) {
      return error("open", got.error());
    }
    std::string value;
    if (!got->kvs.empty()) {
      value = got->kvs[0].value;
    } else {
      // A fresh cluster: create the layout key unless another node just did.
      etcd::Txn t;
      t.compare.push_back(Compare{key, "CREATE", "EQUAL", 0, ""});
      t.success.push_back(TxnOp::put(key, dump({{"version", kLayoutVersion}})));
      t.failure.push_back(TxnOp::get(key));
      auto tr = client_.txn(t);
      if (!tr.ok()) {
        if (ambiguous(tr.error()) && attempt < 2) {
          continue;  // create-if-absent is safe to repeat
        }
        return error("open: create the layout key", tr.error());
      }
      if (tr->succeeded) {
        return OkStatus();
      }
      if (tr->ranges.empty() || tr->ranges[0].kvs.empty()) {
        continue;
      }
      value = tr->ranges[0].kvs[0].value;
    }
    auto j = json::parse(value, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("version") ||
        !j["version"].is_number_integer()) {
      return error("open: key " + q(key) + " is not a steerdns layout ({\"version\": N})");
    }
    const int64_t v = j["version"].get<int64_t>();
    if (v > kLayoutVersion) {
      std::string m = "etcd ";
      m.append(client_.current_endpoint())
          .append(": the key layout is version ")
          .append(std::to_string(v))
          .append(", newer than this binary's ")
          .append(std::to_string(kLayoutVersion))
          .append(" (upgrade steerdns)");
      return error("open", m);
    }
    return OkStatus();
  }
}

Status EtcdStore::ready() {
  if (ready_.load(std::memory_order_acquire)) {
    return OkStatus();
  }
  std::lock_guard lk(ready_mu_);
  if (ready_.load(std::memory_order_relaxed)) {
    return OkStatus();
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  if (now - ready_tried_ms_ < 1000 && !ready_error_.empty()) {
    return Error{ready_error_};
  }
  ready_tried_ms_ = now;
  if (auto st = init(); !st.ok()) {
    ready_error_ = st.error();
    return st;
  }
  ready_error_.clear();
  ready_.store(true, std::memory_order_release);
  return OkStatus();
}

Result<std::pair<int64_t, int64_t>> EtcdStore::read_revision(const std::string& what) {
  RangeRequest r;
  r.key = k("cat/rev");
  auto got = client_.range(r);
  if (!got.ok()) {
    return error(what + ": read the catalog revision", got.error());
  }
  if (got->kvs.empty()) {
    return std::pair<int64_t, int64_t>{0, 0};
  }
  int64_t rev = parse_int(got->kvs[0].value);
  if (rev < 0) {
    return error(what + ": key " + q(k("cat/rev")) + " is not a number");
  }
  return std::pair<int64_t, int64_t>{rev, got->kvs[0].version};
}

Result<std::vector<KeyValue>> EtcdStore::range_all(const std::string& prefix,
                                                   const std::string& what, int64_t* revision) {
  std::vector<KeyValue> out;
  RangeRequest r;
  r.key = prefix;
  r.range_end = etcd::prefix_end(prefix);
  r.limit = static_cast<int64_t>(kPageSize);
  for (;;) {
    auto got = client_.range(r);
    if (!got.ok()) {
      return error(what, got.error());
    }
    if (r.revision == 0) {
      r.revision = got->revision;  // later pages read the same snapshot
      if (revision != nullptr) {
        *revision = got->revision;
      }
    }
    const bool more = got->more && !got->kvs.empty();
    std::string last = got->kvs.empty() ? std::string() : got->kvs.back().key;
    for (auto& kv : got->kvs) {
      out.push_back(std::move(kv));
    }
    if (!more) {
      return out;
    }
    r.key = last;
    r.key.push_back('\0');
  }
}

Result<CatalogRows> EtcdStore::load() {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  const std::string pre = k("cat/");
  auto kvs = range_all(pre, "load");
  if (!kvs.ok()) {
    return Error{kvs.error()};
  }
  CatalogRows rows;
  for (const auto& kv : *kvs) {
    const std::string rest = kv.key.substr(pre.size());
    if (rest == "rev") {
      rows.revision = parse_int(kv.value);
      if (rows.revision < 0) {
        return error("load: key " + q(kv.key) + " is not a number");
      }
      continue;
    }
    auto j = parse_value(kv);
    if (!j.ok()) {
      return error("load", j.error());
    }
    if (starts_with(rest, "zone/")) {
      ZoneRow z;
      z.id = rest.substr(5);
      z.name = jstr(*j, "name");
      z.caller_ref = jstr(*j, "caller_ref");
      z.comment = jstr(*j, "comment");
      z.settings = j->contains("settings") ? (*j)["settings"] : json::object();
      z.created_ms = jnum(*j, "created_ms");
      rows.zones.push_back(std::move(z));
    } else if (starts_with(rest, "rec/")) {
      auto slash = rest.find('/', 4);
      if (slash == std::string::npos) {
        return error("load: key " + q(kv.key) + " is not cat/rec/ZONE/KEY");
      }
      rows.records.push_back(
          RecordRow{rest.substr(4, slash - 4), rest.substr(slash + 1), std::move(*j)});
    } else if (starts_with(rest, "check/")) {
      CheckRow c;
      c.id = rest.substr(6);
      c.caller_ref = jstr(*j, "caller_ref");
      c.version = jnum(*j, "version");
      c.body = j->contains("body") ? (*j)["body"] : json::object();
      rows.checks.push_back(std::move(c));
    } else if (rest == "settings") {
      rows.settings = std::move(*j);
    }
    // Other keys under cat/ are left alone (a newer minor layout may add some).
  }
  std::stable_sort(rows.zones.begin(), rows.zones.end(),
                   [](const ZoneRow& a, const ZoneRow& b) { return a.name < b.name; });
  return rows;
}

Result<int64_t> EtcdStore::commit(const Commit& c) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  auto r = commit_many({c}, "commit");
  if (!r.ok()) {
    return Error{r.error()};
  }
  return r->at(0);
}

Result<std::vector<int64_t>> EtcdStore::commit_group(const std::vector<Commit>& commits) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  if (commits.empty()) {
    return std::vector<int64_t>{};
  }
  return commit_many(commits, "commit group");
}

Result<std::vector<int64_t>> EtcdStore::commit_many(const std::vector<Commit>& commits,
                                                    const std::string& what) {
  std::lock_guard lock(commit_mu_);
  const size_t n = commits.size();
  auto in_group = [&](size_t i) {
    if (n == 1) {
      return std::string();
    }
    std::string s = " (commit ";
    s.append(std::to_string(i)).append(" of a group of ").append(std::to_string(n)).append(")");
    return s;
  };

  // Checks that need no etcd: op shapes, change ids unique within the group.
  std::set<std::string> change_ids;
  for (size_t ci = 0; ci < n; ++ci) {
    const Commit& c = commits[ci];
    if (!c.change.id.empty() && !change_ids.insert(c.change.id).second) {
      return error(what + ": change batch " + q(c.change.id) + " appears twice" + in_group(ci));
    }
  }
  const std::string token = make_id('T');
  const std::string first_change = [&] {
    for (const auto& c : commits) {
      if (!c.change.id.empty()) {
        return c.change.id;
      }
    }
    return std::string();
  }();

  struct Built {
    etcd::Txn txn;
    std::vector<std::pair<std::string, std::string>> zone_checks;  // zone id, op description
    size_t change_ranges = 0;  // failure ops [1, 1 + change_ranges) are the change ids
    std::vector<std::string> change_list;
  };
  // The transaction for a catalog at `base`, or an error for a malformed op / stale expect.
  auto build = [&](int64_t base) -> Result<Built> {
    Built b;
    WriteSet ws;
    std::set<std::string> zones_put;
    std::set<std::string> zones_deleted;
    std::set<std::string> zones_to_check;
    int64_t event_index = 0;
    for (size_t ci = 0; ci < n; ++ci) {
      const Commit& c = commits[ci];
      const int64_t current = base + static_cast<int64_t>(ci);
      if (c.expect_revision >= 0 && c.expect_revision != current) {
        std::string m = "conflict: catalog revision is ";
        m.append(std::to_string(current))
            .append(", expected ")
            .append(std::to_string(c.expect_revision))
            .append(" (")
            .append(describe())
            .append(")")
            .append(in_group(ci));
        return Error{m};
      }
      const int64_t rev = current + 1;
      for (size_t i = 0; i < c.ops.size(); ++i) {
        const Op& op = c.ops[i];
        std::string at = "commit op ";
        at.append(std::to_string(i)).append(" (").append(op.del ? "delete " : "set ");
        at.append(op.kind).append(" ");
        auto fail = [&](const std::string& row, const std::string& why) -> Error {
          std::string m = at;
          m.append(row).append("): ").append(why).append(in_group(ci));
          return error(m);
        };
        if (op.kind == "zone") {
          if (op.del) {
            ws.del(k("cat/zone/" + op.key));
            ws.del_prefix(k("cat/rec/" + op.key + "/"));
            zones_deleted.insert(op.key);
            zones_put.erase(op.key);
            continue;
          }
          if (!op.zone) {
            return fail(q(op.key), "no zone row");
          }
          const std::string& id = op.key.empty() ? op.zone->id : op.key;
          if (id.empty() || (!op.zone->id.empty() && op.zone->id != id) ||
              id.find('/') != std::string::npos) {
            return fail(q(id),
                        "key and zone id " + q(op.zone->id) + " differ, are empty or contain '/'");
          }
          if (ws.covered(k("cat/zone/" + id + "/"))) {
            return fail(q(id), "the zone was deleted earlier in this transaction");
          }
          ws.put(k("cat/zone/" + id), dump(zone_json(*op.zone, id)));
          zones_put.insert(id);
          zones_deleted.erase(id);
          continue;
        }
        if (op.kind == "record") {
          const RecordTarget target = record_target(op);
          const std::string& zone_id = target.zone_id;
          const std::string& key = target.key;
          if (target.conflict) {
            return fail(q(key) + " in zone " + q(zone_id),
                        "op and record row name different records");
          }
          const std::string row = q(key) + " in zone " + q(zone_id);
          if (zone_id.empty() || key.empty() || zone_id.find('/') != std::string::npos) {
            return fail(row, "zone id and key are required (and the zone id has no '/')");
          }
          const std::string rk = k("cat/rec/" + zone_id + "/" + key);
          if (op.del) {
            ws.del(rk);
            continue;
          }
          if (!op.record) {
            return fail(row, "no record row");
          }
          if (zones_deleted.count(zone_id) > 0 || ws.covered(rk)) {
            return fail(row, "zone " + q(zone_id) + " does not exist (deleted in this commit)");
          }
          if (zones_put.count(zone_id) == 0 && zones_to_check.insert(zone_id).second) {
            b.zone_checks.emplace_back(zone_id, fail(row, "").message);
          }
          ws.put(rk, dump(op.record->body));
          continue;
        }
        if (op.kind == "check") {
          if (op.del) {
            ws.del(k("cat/check/" + op.key));
            continue;
          }
          if (!op.check) {
            return fail(q(op.key), "no check row");
          }
          const std::string& id = op.key.empty() ? op.check->id : op.key;
          if (id.empty() || (!op.check->id.empty() && op.check->id != id)) {
            return fail(q(id), "key and check id " + q(op.check->id) + " differ or are empty");
          }
          ws.put(k("cat/check/" + id), dump({{"caller_ref", op.check->caller_ref},
                                             {"version", op.check->version},
                                             {"body", op.check->body}}));
          continue;
        }
        if (op.kind == "settings") {
          if (op.del) {
            ws.del(k("cat/settings"));
            continue;
          }
          if (!op.settings.is_object() && !op.settings.is_null()) {
            return fail("", "settings must be a JSON object");
          }
          ws.put(k("cat/settings"), dump(op.settings.is_null() ? json::object() : op.settings));
          continue;
        }
        std::string m = "commit op ";
        m.append(std::to_string(i)).append(": unknown kind ").append(q(op.kind));
        m.append(" (zone, record, check, settings)").append(in_group(ci));
        return error(m);
      }
      if (!c.change.id.empty()) {
        ChangeRow ch = c.change;
        ch.revision = rev;
        ch.status = "PENDING";
        ch.insync_ms = 0;
        ws.put(k("change/" + ch.id), dump(change_json(ch)));
        ws.put(k("changerev/" + pad20(rev)), ch.id);
        ws.put(k("pending/" + pad20(rev)), ch.id);
        b.change_list.push_back(ch.id);
      }
      for (const auto& [time_ms, body] : c.events) {
        if (event_index >= kSeqScale) {
          return error(what + ": more than " + std::to_string(kSeqScale) +
                       " events in one transaction");
        }
        ws.put(k("event/" + node_id_ + "/" + make_id('E')),
               dump({{"time_ms", time_ms}, {"body", body}, {"i", event_index++}}));
      }
    }
    ws.put(k("cat/rev"), std::to_string(base + static_cast<int64_t>(n)));
    ws.put(k("commit-token"), token);
    ws.append_to(&b.txn.success);
    if (base == 0) {
      b.txn.compare.push_back(Compare{k("cat/rev"), "VERSION", "EQUAL", 0, ""});
    } else {
      b.txn.compare.push_back(Compare{k("cat/rev"), "VALUE", "EQUAL", 0, std::to_string(base)});
    }
    b.txn.failure.push_back(TxnOp::get(k("cat/rev")));
    for (const auto& id : b.change_list) {
      b.txn.compare.push_back(Compare{k("change/" + id), "VERSION", "EQUAL", 0, ""});
      b.txn.failure.push_back(TxnOp::get(k("change/" + id)));
    }
    b.change_ranges = b.change_list.size();
    for (const auto& [zone_id, desc] : b.zone_checks) {
      b.txn.compare.push_back(Compare{k("cat/zone/" + zone_id), "VERSION", "GREATER", 0, ""});
      b.txn.failure.push_back(TxnOp::get(k("cat/zone/" + zone_id)));
    }
    return b;
  };

  auto revisions_from = [&](int64_t base) {
    std::vector<int64_t> out;
    for (size_t i = 0; i < n; ++i) {
      out.push_back(base + 1 + static_cast<int64_t>(i));
    }
    return out;
  };
  // After a lost answer: did the earlier attempt land? Its change batch (or token) tells.
  auto landed = [&]() -> Result<std::optional<std::vector<int64_t>>> {
    etcd::Txn t;
    if (!first_change.empty()) {
      t.success.push_back(TxnOp::get(k("change/" + first_change)));
    }
    t.success.push_back(TxnOp::get(k("commit-token")));
    auto r = client_.txn(t);
    if (!r.ok()) {
      return Error{r.error()};
    }
    if (!first_change.empty() && !r->ranges.empty() && !r->ranges[0].kvs.empty()) {
      auto j = parse_value(r->ranges[0].kvs[0]);
      if (j.ok()) {
        return std::optional<std::vector<int64_t>>(revisions_from(jnum(*j, "revision") - 1));
      }
    }
    const auto& tok = r->ranges.back();
    if (!tok.kvs.empty() && tok.kvs[0].value == token) {
      // The commit landed; its revision is in cat/rev unless another commit followed, which
      // a token match excludes (each commit rewrites the token).
      auto rev = read_revision(what);
      if (!rev.ok()) {
        return Error{rev.error()};
      }
      return std::optional<std::vector<int64_t>>(
          revisions_from(rev->first - static_cast<int64_t>(n)));
    }
    return std::optional<std::vector<int64_t>>();
  };

  int64_t base;
  if (commits[0].expect_revision >= 0) {
    base = commits[0].expect_revision;
  } else {
    auto r = read_revision(what);
    if (!r.ok()) {
      return Error{r.error()};
    }
    base = r->first;
  }
  bool maybe_landed = false;
  int lost = 0;
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto b = build(base);
    if (!b.ok()) {
      return Error{b.error()};
    }
    auto r = client_.txn(b->txn);
    if (!r.ok()) {
      if (ambiguous(r.error()) && lost < 3) {
        ++lost;
        maybe_landed = true;
        auto l = landed();
        if (!l.ok()) {
          return error(what, r.error());
        }
        if (l->has_value()) {
          return std::move(**l);
        }
        continue;  // it did not land: the same transaction again
      }
      if (r.error().find("too many operations in txn request") != std::string::npos) {
        std::string m = "the transaction has ";
        m.append(std::to_string(b->txn.success.size()))
            .append(" operations, more than etcd's --max-txn-ops allows (default 128): ")
            .append("raise it on every member (steerdns fleets use --max-txn-ops 10000) or ")
            .append("commit in smaller batches; ")
            .append(r.error());
        return error(what, m);
      }
      return error(what, r.error());
    }
    if (r->succeeded) {
      return revisions_from(base);
    }
    // Why the compare failed: the failure branch read cat/rev, the change ids and the zones.
    const auto& ranges = r->ranges;
    int64_t now_rev = 0;
    if (!ranges.empty() && !ranges[0].kvs.empty()) {
      now_rev = parse_int(ranges[0].kvs[0].value);
    }
    for (size_t i = 0; i < b->change_ranges && 1 + i < ranges.size(); ++i) {
      if (ranges[1 + i].kvs.empty()) {
        continue;
      }
      if (maybe_landed) {
        auto j = parse_value(ranges[1 + i].kvs[0]);
        if (j.ok()) {
          return revisions_from(jnum(*j, "revision") - 1 - static_cast<int64_t>(i));
        }
      }
      return error(what + ": change batch " + q(b->change_list[i]) + " already exists");
    }
    for (size_t i = 0; i < b->zone_checks.size(); ++i) {
      size_t at = 1 + b->change_ranges + i;
      if (at < ranges.size() && ranges[at].kvs.empty()) {
        std::string m = b->zone_checks[i].second;
        // "...): " + why: the description was built with an empty reason.
        auto pos = m.rfind("): ");
        std::string why = "zone " + q(b->zone_checks[i].first) + " does not exist";
        if (pos != std::string::npos) {
          m.insert(pos + 3, why);
        }
        return Error{m};
      }
    }
    if (now_rev != base) {
      if (commits[0].expect_revision >= 0) {
        std::string m = "conflict: catalog revision is ";
        m.append(std::to_string(now_rev))
            .append(", expected ")
            .append(std::to_string(commits[0].expect_revision))
            .append(" (")
            .append(describe())
            .append(")");
        return Error{m};
      }
      base = now_rev;  // "don't check": build on the newer catalog
      continue;
    }
  }
  return error(what + ": gave up after 50 attempts (the catalog changes too fast)");
}

Status EtcdStore::mark_insync(const std::vector<std::string>& change_ids, int64_t time_ms) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  for (size_t start = 0; start < change_ids.size(); start += 40) {
    const size_t end = std::min(change_ids.size(), start + 40);
    for (int attempt = 0;; ++attempt) {
      etcd::Txn read;
      for (size_t i = start; i < end; ++i) {
        read.success.push_back(TxnOp::get(k("change/" + change_ids[i])));
      }
      auto got = client_.txn(read);
      if (!got.ok()) {
        return error("mark_insync", got.error());
      }
      etcd::Txn t;
      for (size_t i = start; i < end; ++i) {
        const auto& rr = got->ranges.at(i - start);
        if (rr.kvs.empty()) {
          return error("mark_insync: no change batch " + q(change_ids[i]));
        }
        auto j = parse_value(rr.kvs[0]);
        if (!j.ok()) {
          return error("mark_insync", j.error());
        }
        ChangeRow ch = change_from(*j);
        if (ch.status != "PENDING") {
          continue;  // already INSYNC: keeps its first time
        }
        ch.status = "INSYNC";
        ch.insync_ms = time_ms;
        t.compare.push_back(Compare{rr.kvs[0].key, "MOD", "EQUAL", rr.kvs[0].mod_revision, ""});
        t.success.push_back(TxnOp::put(rr.kvs[0].key, dump(change_json(ch))));
        t.success.push_back(TxnOp::del(k("pending/" + pad20(ch.revision))));
      }
      if (t.success.empty()) {
        break;
      }
      auto r = client_.txn(t);
      if (!r.ok()) {
        if (ambiguous(r.error()) && attempt < 3) {
          continue;  // idempotent: the re-read shows what landed
        }
        return error("mark_insync", r.error());
      }
      if (r->succeeded) {
        break;
      }
      if (attempt >= 10) {
        return error("mark_insync: change batches keep changing under us");
      }
    }
  }
  return OkStatus();
}

Result<std::optional<ChangeRow>> EtcdStore::change(const std::string& id) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  RangeRequest r;
  r.key = k("change/" + id);
  auto got = client_.range(r);
  if (!got.ok()) {
    return error("change " + q(id), got.error());
  }
  if (got->kvs.empty()) {
    return std::optional<ChangeRow>();
  }
  auto j = parse_value(got->kvs[0]);
  if (!j.ok()) {
    return error("change " + q(id), j.error());
  }
  return std::optional<ChangeRow>(change_from(*j));
}

Result<std::vector<ChangeRow>> EtcdStore::changes(size_t limit, int64_t before_revision) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  std::vector<ChangeRow> out;
  if (limit == 0) {
    return out;
  }
  RangeRequest r;
  r.key = k("changerev/");
  r.range_end =
      before_revision > 0 ? k("changerev/" + pad20(before_revision)) : etcd::prefix_end(r.key);
  r.limit = static_cast<int64_t>(std::min<size_t>(limit, 1'000'000));
  r.sort_target = "KEY";
  r.sort_order = "DESCEND";
  auto got = client_.range(r);
  if (!got.ok()) {
    return error("changes", got.error());
  }
  for (size_t start = 0; start < got->kvs.size(); start += kOpsPerChunk) {
    etcd::Txn t;
    const size_t end = std::min(got->kvs.size(), start + kOpsPerChunk);
    for (size_t i = start; i < end; ++i) {
      t.success.push_back(TxnOp::get(k("change/" + got->kvs[i].value)));
    }
    auto rows = client_.txn(t);
    if (!rows.ok()) {
      return error("changes", rows.error());
    }
    for (const auto& rr : rows->ranges) {
      if (rr.kvs.empty()) {
        continue;
      }
      auto j = parse_value(rr.kvs[0]);
      if (!j.ok()) {
        return error("changes", j.error());
      }
      out.push_back(change_from(*j));
    }
  }
  return out;
}

Result<std::vector<ChangeRow>> EtcdStore::pending_changes() {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  auto ids = range_all(k("pending/"), "pending_changes");
  if (!ids.ok()) {
    return Error{ids.error()};
  }
  std::vector<ChangeRow> out;
  for (size_t start = 0; start < ids->size(); start += kOpsPerChunk) {
    etcd::Txn t;
    const size_t end = std::min(ids->size(), start + kOpsPerChunk);
    for (size_t i = start; i < end; ++i) {
      t.success.push_back(TxnOp::get(k("change/" + (*ids)[i].value)));
    }
    auto rows = client_.txn(t);
    if (!rows.ok()) {
      return error("pending_changes", rows.error());
    }
    for (const auto& rr : rows->ranges) {
      if (rr.kvs.empty()) {
        continue;
      }
      auto j = parse_value(rr.kvs[0]);
      if (!j.ok()) {
        return error("pending_changes", j.error());
      }
      ChangeRow ch = change_from(*j);
      if (ch.status == "PENDING") {
        out.push_back(std::move(ch));
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ChangeRow& a, const ChangeRow& b) { return a.revision < b.revision; });
  return out;
}

// ---- events ----

Status EtcdStore::write_events(const std::vector<std::pair<int64_t, json>>& batch) {
  for (size_t start = 0; start < batch.size(); start += kMaxEventsPerTxn) {
    etcd::Txn t;
    const size_t end = std::min(batch.size(), start + kMaxEventsPerTxn);
    for (size_t i = start; i < end; ++i) {
      t.success.push_back(TxnOp::put(k("event/" + node_id_ + "/" + make_id('E')),
                                     dump({{"time_ms", batch[i].first},
                                           {"body", batch[i].second},
                                           {"i", static_cast<int64_t>(i - start)}})));
    }
    // Not retried after a lost answer: an event log entry twice is worse than an error.
    auto r = client_.txn(t);
    if (!r.ok()) {
      return error("append_events", r.error());
    }
  }
  maybe_prune_events(batch.size());
  return OkStatus();
}

void EtcdStore::maybe_prune_events(size_t appended) {
  const size_t every = std::max<size_t>(sopts_.prune_every, 1);
  const size_t before = appended_.fetch_add(appended);
  if (before / every != (before + appended) / every) {
    (void)prune_events();  // best effort: the next round catches up
  }
}

Status EtcdStore::prune_events() {
  const std::string pre = k("event/");
  RangeRequest c;
  c.key = pre;
  c.range_end = etcd::prefix_end(pre);
  c.count_only = true;
  auto count = client_.range(c);
  if (!count.ok()) {
    return Error{count.error()};
  }
  const int64_t retain = static_cast<int64_t>(std::max<size_t>(sopts_.retain_events, 1));
  if (count->count <= retain) {
    return OkStatus();
  }
  const int64_t excess = count->count - retain;
  RangeRequest r;
  r.key = pre;
  r.range_end = etcd::prefix_end(pre);
  r.sort_target = "CREATE";
  r.sort_order = "ASCEND";
  r.limit = excess;
  auto old = client_.range(r);
  if (!old.ok() || old->kvs.empty()) {
    return old.ok() ? OkStatus() : Status{Error{old.error()}};
  }
  // Events of one transaction share a create revision and are ordered by their index "i"
  // (the seq's low bits), which etcd cannot sort by: take every event of the boundary
  // transaction and keep its newest.
  const int64_t boundary = old->kvs.back().create_revision;
  RangeRequest b = r;
  b.limit = 0;
  b.min_create_revision = boundary;
  b.max_create_revision = boundary;
  auto edge = client_.range(b);
  if (!edge.ok()) {
    return Error{edge.error()};
  }
  std::vector<std::pair<int64_t, std::string>> candidates;  // (seq, key)
  for (const auto* kvs : {&old->kvs, &edge->kvs}) {
    for (const auto& kv : *kvs) {
      if (kvs == &old->kvs && kv.create_revision == boundary) {
        continue;  // taken from `edge`, whole
      }
      auto j = parse_value(kv);
      int64_t i = j.ok() ? jnum(*j, "i") : 0;
      candidates.emplace_back(kv.create_revision * kSeqScale + i, kv.key);
    }
  }
  std::sort(candidates.begin(), candidates.end());
  candidates.resize(std::min(candidates.size(), static_cast<size_t>(excess)));
  for (size_t start = 0; start < candidates.size(); start += kOpsPerChunk) {
    etcd::Txn t;
    for (size_t i = start; i < std::min(candidates.size(), start + kOpsPerChunk); ++i) {
      t.success.push_back(TxnOp::del(candidates[i].second));
    }
    if (auto d = client_.txn(t); !d.ok()) {
      return Error{d.error()};
    }
  }
  return OkStatus();
}

Result<int64_t> EtcdStore::append_event(int64_t time_ms, const json& body) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  etcd::Txn t;
  t.success.push_back(TxnOp::put(k("event/" + node_id_ + "/" + make_id('E')),
                                 dump({{"time_ms", time_ms}, {"body", body}, {"i", 0}})));
  auto r = client_.txn(t);
  if (!r.ok()) {
    return error("append_event", r.error());
  }
  maybe_prune_events(1);
  return r->revision * kSeqScale;
}

Status EtcdStore::append_events(const std::vector<std::pair<int64_t, json>>& batch) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  if (batch.empty()) {
    return OkStatus();
  }
  return write_events(batch);
}

Result<std::vector<Event>> EtcdStore::parse_events(std::vector<KeyValue> kvs, const char* what) {
  std::vector<Event> out;
  out.reserve(kvs.size());
  for (const auto& kv : kvs) {
    auto j = parse_value(kv);
    if (!j.ok()) {
      return error(what, j.error());
    }
    Event e;
    e.seq = kv.create_revision * kSeqScale + jnum(*j, "i");
    e.time_ms = jnum(*j, "time_ms");
    e.body = j->contains("body") ? (*j)["body"] : json();
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const Event& a, const Event& b) { return a.seq < b.seq; });
  return out;
}

Result<std::vector<Event>> EtcdStore::events(int64_t after_seq, size_t limit) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  if (limit == 0) {
    return std::vector<Event>{};
  }
  const std::string pre = k("event/");
  RangeRequest r;
  r.key = pre;
  r.range_end = etcd::prefix_end(pre);
  r.min_create_revision = std::max<int64_t>(after_seq / kSeqScale, 0);
  r.sort_target = "CREATE";
  r.sort_order = "ASCEND";
  // One transaction's events share a create revision and come back in any order: fetch two
  // groups' worth more and drop the newest group when it may be cut.
  const size_t want = std::min<size_t>(limit, 1'000'000);
  r.limit = static_cast<int64_t>(want) + 2 * kSeqScale;
  auto got = client_.range(r);
  if (!got.ok()) {
    return error("events", got.error());
  }
  int64_t cut = std::numeric_limits<int64_t>::max();
  if (got->more && !got->kvs.empty()) {
    cut = 0;
    for (const auto& kv : got->kvs) {
      cut = std::max(cut, kv.create_revision);
    }
  }
  std::vector<KeyValue> keep;
  for (auto& kv : got->kvs) {
    if (kv.create_revision < cut) {
      keep.push_back(std::move(kv));
    }
  }
  auto evs = parse_events(std::move(keep), "events");
  if (!evs.ok()) {
    return evs;
  }
  std::vector<Event> out;
  for (auto& e : *evs) {
    if (e.seq > after_seq && out.size() < want) {
      out.push_back(std::move(e));
    }
  }
  return out;
}

Result<std::vector<Event>> EtcdStore::last_events(size_t n) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  const std::string pre = k("event/");
  if (n == 0) {
    auto all = range_all(pre, "last_events");
    if (!all.ok()) {
      return Error{all.error()};
    }
    return parse_events(std::move(*all), "last_events");
  }
  RangeRequest r;
  r.key = pre;
  r.range_end = etcd::prefix_end(pre);
  r.sort_target = "CREATE";
  r.sort_order = "DESCEND";
  r.limit = static_cast<int64_t>(std::min<size_t>(n, 1'000'000)) + kSeqScale;
  auto got = client_.range(r);
  if (!got.ok()) {
    return error("last_events", got.error());
  }
  int64_t cut = 0;  // the oldest group may be cut: drop it
  if (got->more && !got->kvs.empty()) {
    cut = got->kvs.back().create_revision;
    for (const auto& kv : got->kvs) {
      cut = std::min(cut, kv.create_revision);
    }
  }
  std::vector<KeyValue> keep;
  for (auto& kv : got->kvs) {
    if (kv.create_revision > cut) {
      keep.push_back(std::move(kv));
    }
  }
  auto evs = parse_events(std::move(keep), "last_events");
  if (!evs.ok()) {
    return evs;
  }
  if (evs->size() > n) {
    evs->erase(evs->begin(), evs->end() - static_cast<std::ptrdiff_t>(n));
  }
  return evs;
}

// ---- state ----

std::string EtcdStore::state_key(const std::string& key) const {
  // Fleet-wide: what the alert leader writes and whoever leads next continues from.
  if (key == "alerts-cursor" || key == "slo") {
    return k("state/" + key);
  }
  return k("node/" + node_id_ + "/state/" + key);
}

Status EtcdStore::put_state(const std::string& key, const json& value) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  for (int attempt = 0;; ++attempt) {
    auto r = client_.put(state_key(key), dump(value));
    if (r.ok()) {
      return OkStatus();
    }
    if (!(ambiguous(r.error()) && attempt < 2)) {  // a put is safe to repeat
      return error("put_state " + q(key), r.error());
    }
  }
}

Result<std::optional<json>> EtcdStore::get_state(const std::string& key) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  RangeRequest r;
  r.key = state_key(key);
  auto got = client_.range(r);
  if (!got.ok()) {
    return error("get_state " + q(key), got.error());
  }
  if (got->kvs.empty()) {
    return std::optional<json>();
  }
  auto j = parse_value(got->kvs[0]);
  if (!j.ok()) {
    return error("get_state", j.error());
  }
  return std::optional<json>(std::move(*j));
}

// ---- alerts and the outbox ----

Status EtcdStore::commit_alerts(const AlertCommit& c) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  int64_t newest = 0;
  for (const auto& a : c.alerts) {
    newest = std::max(newest, a.body.value("updated_ms", int64_t{0}));
  }
  for (const auto& o : c.enqueue) {
    newest = std::max(newest, o.created_ms);
  }
  int lost = 0;
  for (int attempt = 0; attempt < 20; ++attempt) {
    // Read the id counter and which dedup keys exist already.
    etcd::Txn read;
    read.success.push_back(TxnOp::get(k("outbox-seq")));
    std::vector<std::string> dedups;
    for (const auto& o : c.enqueue) {
      if (std::find(dedups.begin(), dedups.end(), o.dedup_key) == dedups.end()) {
        dedups.push_back(o.dedup_key);
      }
    }
    for (const auto& d : dedups) {
      read.success.push_back(TxnOp::get(k("outbox-dedup/" + d)));
    }
    auto got = client_.txn(read);
    if (!got.ok()) {
      return error("commit_alerts", got.error());
    }
    int64_t seq = 0;
    int64_t seq_mod = 0;
    if (!got->ranges.empty() && !got->ranges[0].kvs.empty()) {
      seq = parse_int(got->ranges[0].kvs[0].value);
      seq_mod = got->ranges[0].kvs[0].mod_revision;
    }
    std::set<std::string> existing;
    for (size_t i = 0; i < dedups.size(); ++i) {
      if (!got->ranges.at(1 + i).kvs.empty()) {
        existing.insert(dedups[i]);
      }
    }
    etcd::Txn t;
    WriteSet ws;
    for (const auto& a : c.alerts) {
      ws.put(k("alert/" + a.id), dump(a.body));
    }
    int64_t next = seq;
    for (const auto& o : c.enqueue) {
      if (!existing.insert(o.dedup_key).second) {
        continue;  // queued already (a step replayed after a crash): not twice
      }
      OutboxRow row = o;
      row.id = ++next;
      row.status = "pending";
      row.attempts = 0;
      row.done_ms = 0;
      row.history = json::array();
      ws.put(k("outbox/" + pad20(row.id)), dump(outbox_json(row)));
      ws.put(k("outbox-dedup/" + o.dedup_key), std::to_string(row.id));
      t.compare.push_back(Compare{k("outbox-dedup/" + o.dedup_key), "VERSION", "EQUAL", 0, ""});
    }
    if (next != seq) {
      ws.put(k("outbox-seq"), std::to_string(next));
      t.compare.push_back(seq_mod == 0 ? Compare{k("outbox-seq"), "VERSION", "EQUAL", 0, ""}
                                       : Compare{k("outbox-seq"), "MOD", "EQUAL", seq_mod, ""});
    }
    for (const auto& [key, value] : c.state) {
      ws.put(state_key(key), dump(value));
    }
    ws.append_to(&t.success);
    if (t.success.empty()) {
      return OkStatus();
    }
    auto r = client_.txn(t);
    if (!r.ok()) {
      // Safe to redo: dedup keys make the enqueue idempotent, the rest are plain puts.
      if (ambiguous(r.error()) && lost++ < 3) {
        continue;
      }
      return error("commit_alerts", r.error());
    }
    if (r->succeeded) {
      maybe_prune_alerts(newest);
      return OkStatus();
    }
    // Another writer moved the counter or queued one of our keys: read again.
  }
  return error("commit_alerts: the outbox keeps changing under us (20 attempts)");
}

void EtcdStore::maybe_prune_alerts(int64_t newest) {
  const size_t every = std::max<size_t>(sopts_.prune_alerts_every, 1);
  if (newest <= 0 || alert_commits_.fetch_add(1) % every != 0) {
    return;
  }
  const int64_t cutoff = newest - sopts_.retain_alerts_ms;
  std::vector<std::string> dels;
  if (auto alerts = range_all(k("alert/"), "prune alerts"); alerts.ok()) {
    for (const auto& kv : *alerts) {
      auto j = parse_value(kv);
      if (j.ok() && j->value("state", std::string()) == "resolved" &&
          j->value("updated_ms", int64_t{0}) < cutoff) {
        dels.push_back(kv.key);
      }
    }
  }
  if (auto rows = range_all(k("outbox/"), "prune outbox"); rows.ok()) {
    for (const auto& kv : *rows) {
      auto j = parse_value(kv);
      if (!j.ok()) {
        continue;
      }
      OutboxRow o = outbox_from(*j);
      if (o.status != "pending" && o.done_ms < cutoff) {
        dels.push_back(kv.key);
        dels.push_back(k("outbox-dedup/" + o.dedup_key));
      }
    }
  }
  for (size_t start = 0; start < dels.size(); start += kOpsPerChunk) {
    etcd::Txn t;
    for (size_t i = start; i < std::min(dels.size(), start + kOpsPerChunk); ++i) {
      t.success.push_back(TxnOp::del(dels[i]));
    }
    if (!client_.txn(t).ok()) {
      return;  // best effort: the next round catches up
    }
  }
}

Result<std::vector<AlertRow>> EtcdStore::alerts() {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  const std::string pre = k("alert/");
  auto all = range_all(pre, "alerts");
  if (!all.ok()) {
    return Error{all.error()};
  }
  // Oldest first, as SQLite's rowid: an update keeps the key's create revision.
  std::stable_sort(all->begin(), all->end(), [](const KeyValue& a, const KeyValue& b) {
    return a.create_revision < b.create_revision;
  });
  std::vector<AlertRow> out;
  for (const auto& kv : *all) {
    auto j = parse_value(kv);
    if (!j.ok()) {
      return error("alerts", j.error());
    }
    out.push_back(AlertRow{kv.key.substr(pre.size()), std::move(*j)});
  }
  return out;
}

namespace {

Result<std::vector<OutboxRow>> outbox_rows(const std::vector<KeyValue>& kvs) {
  std::vector<OutboxRow> out;
  for (const auto& kv : kvs) {
    auto j = parse_value(kv);
    if (!j.ok()) {
      return Error{j.error()};
    }
    out.push_back(outbox_from(*j));
  }
  return out;
}

}  // namespace

Result<std::vector<OutboxRow>> EtcdStore::outbox_due(int64_t now_ms, size_t limit) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  auto all = range_all(k("outbox/"), "outbox_due");
  if (!all.ok()) {
    return Error{all.error()};
  }
  auto rows = outbox_rows(*all);
  if (!rows.ok()) {
    return error("outbox_due", rows.error());
  }
  std::vector<OutboxRow> out;
  for (auto& o : *rows) {
    if (out.size() >= limit) {
      break;
    }
    if (o.status == "pending" && o.next_attempt_ms <= now_ms) {
      out.push_back(std::move(o));
    }
  }
  return out;
}

Result<std::vector<OutboxRow>> EtcdStore::outbox(size_t limit, const std::string& alert_id) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  std::vector<KeyValue> kvs;
  if (limit == 0) {
    return std::vector<OutboxRow>{};
  }
  if (alert_id.empty()) {
    RangeRequest r;
    r.key = k("outbox/");
    r.range_end = etcd::prefix_end(r.key);
    r.sort_target = "KEY";
    r.sort_order = "DESCEND";
    r.limit = static_cast<int64_t>(std::min<size_t>(limit, 1'000'000));
    auto got = client_.range(r);
    if (!got.ok()) {
      return error("outbox", got.error());
    }
    kvs = std::move(got->kvs);
  } else {
    auto all = range_all(k("outbox/"), "outbox");
    if (!all.ok()) {
      return Error{all.error()};
    }
    kvs = std::move(*all);
    std::reverse(kvs.begin(), kvs.end());
  }
  auto rows = outbox_rows(kvs);
  if (!rows.ok()) {
    return error("outbox", rows.error());
  }
  std::vector<OutboxRow> out;
  for (auto& o : *rows) {
    if (out.size() >= limit) {
      break;
    }
    if (alert_id.empty() || o.alert_id == alert_id) {
      out.push_back(std::move(o));
    }
  }
  return out;
}

Status EtcdStore::outbox_attempt(int64_t id, const std::string& status, int64_t next_attempt_ms,
                                 const json& attempt, int64_t time_ms) {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  if (status != "pending" && status != "delivered" && status != "dead") {
    return error("outbox_attempt: status " + q(status) + " (expected pending, delivered or dead)");
  }
  const std::string key = k("outbox/" + pad20(id));
  for (int tries = 0; tries < 10; ++tries) {
    RangeRequest r;
    r.key = key;
    auto got = client_.range(r);
    if (!got.ok()) {
      return error("outbox_attempt", got.error());
    }
    if (got->kvs.empty()) {
      return error("outbox_attempt: no outbox row " + std::to_string(id));
    }
    auto j = parse_value(got->kvs[0]);
    if (!j.ok()) {
      return error("outbox_attempt", j.error());
    }
    OutboxRow o = outbox_from(*j);
    o.history.push_back(attempt);
    constexpr size_t kMaxHistory = 50;  // a row retried for days keeps its last attempts
    if (o.history.size() > kMaxHistory) {
      o.history.erase(o.history.begin(), o.history.begin() + static_cast<std::ptrdiff_t>(
                                                                 o.history.size() - kMaxHistory));
    }
    o.status = status;
    o.attempts += 1;
    o.next_attempt_ms = next_attempt_ms;
    o.done_ms = status == "pending" ? 0 : time_ms;
    etcd::Txn t;
    t.compare.push_back(Compare{key, "MOD", "EQUAL", got->kvs[0].mod_revision, ""});
    t.success.push_back(TxnOp::put(key, dump(outbox_json(o))));
    // Not retried after a lost answer: the attempt would be counted twice.
    auto w = client_.txn(t);
    if (!w.ok()) {
      return error("outbox_attempt", w.error());
    }
    if (w->succeeded) {
      return OkStatus();
    }
  }
  return error("outbox_attempt: row " + std::to_string(id) + " keeps changing under us");
}

Result<OutboxStats> EtcdStore::outbox_stats() {
  if (auto st = ready(); !st.ok()) {
    return Error{st.error()};
  }
  auto all = range_all(k("outbox/"), "outbox_stats");
  if (!all.ok()) {
    return Error{all.error()};
  }
  auto rows = outbox_rows(*all);
  if (!rows.ok()) {
    return error("outbox_stats", rows.error());
  }
  OutboxStats s;
  for (const auto& o : *rows) {
    if (o.status == "pending") {
      s.pending++;
      if (s.oldest_pending_ms == 0 || o.created_ms < s.oldest_pending_ms) {
        s.oldest_pending_ms = o.created_ms;
      }
    } else if (o.status == "delivered") {
      s.delivered++;
    } else if (o.status == "dead") {
      s.dead++;
    }
  }
  return s;
}

// ---- watch ----

Status EtcdStore::watch_catalog(std::function<void(int64_t revision)> cb) {
  std::lock_guard lock(watch_mu_);
  if (watch_) {
    return error("watch_catalog: already watching");
  }
  auto read_and_call = [this, cb] {
    auto r = read_revision("watch_catalog");
    if (r.ok()) {
      cb(r->first);
    }
  };
  etcd::WatchCallbacks wcb;
  wcb.on_state = [read_and_call](bool connected, const std::string&) {
    if (connected) {
      read_and_call();  // whatever moved while the stream was down
    }
  };
  wcb.on_events = [cb](const std::vector<etcd::WatchEvent>& events, int64_t) {
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (!it->deleted) {
        int64_t rev = parse_int(it->kv.value);
        if (rev >= 0) {
          cb(rev);  // only the newest matters
        }
        return;
      }
    }
  };
  wcb.on_reset = read_and_call;
  watch_ = std::make_unique<etcd::Watch>(client_, k("cat/rev"), "", 0, std::move(wcb));
  return OkStatus();
}

}  // namespace steerdns::store
