#pragma once
// The catalog: what the store holds and every front end edits -- hosted zones, their record
// sets, health checks and global settings -- in the config file's schema (docs/config.md), so
// the YAML file, the JSON API and the Route 53 API share one model and one validator.
//
//   file.yaml --from_config_file--> Catalog --compile--> LoadedConfig (zones, steering, checks)
//   API / Route 53 --ChangeBatch--> apply(Catalog) --> Catalog' --compile--> (validated)
//   diff(Catalog, Catalog') --> ChangeBatch (declarative apply, `steerdns apply -f`)
//
// Record sets are keyed "name./TYPE" (absolute owner name, lower case, type mnemonic); their
// body is the config schema's record with an absolute "name": {"name","type","ttl","values"}
// for plain records, or {"name","type","ttl","policy","members":[...], ...} for steered ones.
// Zone settings hold {"ttl","soa","ns"}; the SOA serial is managed here (bumped by every
// change to the zone, see apply()).
//
// Values are plain data; functions are pure (no I/O except from_config_file and the zone
// import/export helpers, which read/write the files they are given).
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/loader.h"
#include "core/result.h"
#include "store/store.h"

namespace steerdns::config {

struct CatalogZone {
  store::ZoneRow row;                              // id, name, caller_ref, comment, settings
  std::map<std::string, nlohmann::json> records;   // key "name./TYPE" -> body
};

struct Catalog {
  int64_t revision = 0;
  std::map<std::string, CatalogZone> zones;        // by zone name ("example.test.")
  std::map<std::string, store::CheckRow> checks;   // by id
  nlohmann::json settings = nlohmann::json::object();  // latency_map, latency_measured_rtt, geoip, actions

  static Catalog from_rows(const store::CatalogRows& rows);
  store::CatalogRows to_rows() const;  // from_rows(to_rows()) gives this catalog back
  const CatalogZone* zone_by_id(const std::string& id) const;
  // The zone that holds `name` (longest origin that is `name` or an ancestor); null if none.
  const CatalogZone* zone_for(const std::string& absolute_name) const;
  size_t record_count() const;
};

// "www.example.test./A": the key of a record set (name lower-cased, made absolute).
std::string record_key(const std::string& absolute_name, const std::string& type);

// The one normal form of a record set body (config schema): absolute lower-case "name"
// (relative names are relative to `zone_origin`), upper-case "type" mnemonic, "ttl" and
// "failover_ttl" as integer seconds, durations as "1h30m"-style strings, role as tier, values
// in master-file presentation (dns::rdata_to_text), booleans and integers as JSON types. The
// loader accepts it back unchanged and canonical_record(canonical_record(x)) == it. Fails only
// when there is no usable name or type (values that do not parse are kept for compile()).
Result<nlohmann::json> canonical_record(const nlohmann::json& body, const std::string& zone_origin);
// The same for a health check body (without "id"), zone settings and global settings.
nlohmann::json canonical_check(const nlohmann::json& body);
nlohmann::json canonical_zone_settings(const nlohmann::json& settings, const std::string& zone);
nlohmann::json canonical_settings(const nlohmann::json& settings);
// The settings a new zone gets when its creator gives none (POST /v1/zones with just a name,
// Route 53 CreateHostedZone): the name servers of the first zone of `catalog` that has some
// (one fleet serves every zone), else ns1.<zone>; an SOA with Route 53's timers
// (mname = first NS, hostmaster.<zone>, serial 1, 7200 900 1209600 86400, SOA TTL 900) and a
// zone TTL of 172800 (the NS TTL, and the default for records without a TTL).
nlohmann::json default_zone_settings(const std::string& zone, const Catalog* catalog = nullptr);

enum class Action { kCreate, kDelete, kUpsert };
enum class Kind { kZone, kRecordSet, kHealthCheck, kSettings };
const char* action_name(Action a);  // "CREATE", "DELETE", "UPSERT"
const char* kind_name(Kind k);      // "zone", "record_set", "health_check", "settings"

struct Change {
  Action action = Action::kUpsert;
  Kind kind = Kind::kRecordSet;
  // kZone: zone name; kRecordSet: record key; kHealthCheck: check id; kSettings: "".
  std::string key;
  // kRecordSet: the zone's name (derived from the key when empty: the longest zone holding it).
  std::string zone;
  // CREATE/UPSERT: the new body (record set / check body in config schema, zone: a ZoneRow as
  // {"id","name","caller_ref","comment","settings"}, settings: the whole settings object).
  // DELETE: the body the caller expects to delete, or null for "whatever is there" (Route 53
  // requires an exact match; the native API does not).
  nlohmann::json body;
  // Where the change came from, for errors: "change 3", "file.yaml: zone example.test.".
  std::string where;
};

struct ChangeBatch {
  std::vector<Change> changes;
  std::string author;
  std::string comment;
};

// Applies `batch` to a copy of `base`: CREATE of an existing item, DELETE of a missing one or
// one whose body differs from the expected body, a record set outside every zone or a zone
// that still has records (Route 53: HostedZoneNotEmpty) fail with "<where>: <reason>".
// Every zone the batch touches gets its SOA serial bumped (max(serial+1, YYYYMMDD00-style
// is not used: plain increment, RFC 1982 wrap)). Structural checks only: compile() is the
// semantic validator (record data, CNAME rules, policies, health check references).
//
// `touched` (optional) receives what a successful batch changed, added to what it holds: with
// it, commit_ops and copy_touched cost the size of the change, not of the catalog.
struct Touched {
  std::set<std::string> zones;  // created or deleted (the whole zone)
  std::set<std::string> rows;   // zone rows changed (settings, SOA serial, comment)
  std::set<std::pair<std::string, std::string>> records;  // (zone name, record key)
  std::set<std::string> checks;
  bool settings = false;
  bool empty() const {
    return zones.empty() && rows.empty() && records.empty() && checks.empty() && !settings;
  }
};
void add_touched(Touched& into, const Touched& more);
Result<Catalog> apply(const Catalog& base, const ChangeBatch& batch, Touched* touched = nullptr);
// The same on `catalog` itself, all or nothing: on error it is exactly as it was (a journal of
// what the batch touched is rolled back), so a chain of batches costs no copy of the catalog.
Status apply_in_place(Catalog& catalog, const ChangeBatch& batch, Touched* touched = nullptr);
// Makes `dst` equal to `src` where `t` says they may differ (and takes src's revision): brings
// an older copy of the catalog up to date without copying it whole.
void copy_touched(Catalog& dst, const Catalog& src, const Touched& t);

// Compiles the catalog to what the daemon serves, validating everything as a whole with the
// config loader's rules. Errors name the entity ("zone example.test. record www A: ...") or,
// for items a batch touched, the change's `where`. `server` is copied into the result
// (startup settings are not part of the catalog).
//
// `cache` (optional) keeps each plain record set's compiled records between calls, so that a
// compile after a small change parses only the record sets that changed; the result is the
// same as without it. Steered sets, health checks and the cross-record checks (CNAME, zone
// cuts, aliases, policies) are always done on the whole catalog. One thread at a time.
class CompileCache {
 public:
  size_t size() const;  // cached record sets
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  friend Result<LoadedConfig> compile(const Catalog&, const ServerSettings&, const ChangeBatch*,
                                      CompileCache*);
  struct Entry {
    nlohmann::json body;
    CompiledRecords records;
  };
  struct Zone {
    nlohmann::json ttl;  // the zone's default TTL the entries were compiled with
    std::unordered_map<std::string, Entry> sets;  // by record key
  };
  std::map<std::string, Zone> zones_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};
Result<LoadedConfig> compile(const Catalog& catalog, const ServerSettings& server,
                             const ChangeBatch* batch = nullptr, CompileCache* cache = nullptr);

// The changes that turn `from` into `to`, in an order apply() accepts (checks before the
// records that use them, zones before their records; deletes of records before their zone).
// Zone ids are matched by name (the store's id is kept).
// SOA serials are ignored unless `compare_serials` (the catalog manages them, so a file and the
// store differ there; two versions of one file do not, and a new serial in the file is an edit).
ChangeBatch diff(const Catalog& from, const Catalog& to, bool compare_serials = false);

// store::Commit ops for the difference between two catalogs (what commit() must write), and
// the change list recorded with the batch ({"action","kind","key","zone","before","after"}).
std::vector<store::Op> commit_ops(const Catalog& from, const Catalog& to);
// The same when `to` differs from `from` only where `t` says (apply's Touched): looks at those
// items alone.
std::vector<store::Op> commit_ops(const Catalog& from, const Catalog& to, const Touched& t);
nlohmann::json change_summary(const ChangeBatch& batch, const Catalog& before);

// A config file as a catalog: health checks, zones (`file:` zones file-backed, see
// file_zone()), inline records and steered records, latency_map/geoip/actions settings. The file is first loaded
// with load_config_file (so its errors are the file's, with line numbers); `server` receives
// its server section. Zone ids are fresh (make_id).
Result<Catalog> from_config_file(const std::string& path, ServerSettings* server);

// Zone import: an RFC 1035 master file as the record sets of zone `origin` (SOA and apex NS
// go to the zone settings). Export: the zone's served contents as a master file, a steered
// record set as a human comment, a structured comment holding its whole body and its current
// fail-open answer (so a secondary or a human sees every name):
//   ;steerdns:steered {"name":"app.example.test.","type":"A","policy":"failover",...}
//   app.example.test. 60 IN A 192.0.2.10
// Import restores such a set exactly (canonical_record of the JSON) in place of the plain
// record set of that name and type. Other master-file software ignores the comment. A
// `;steerdns:` comment that is not a valid steered set in the zone fails as "<file>:<line>:
// <reason>".
Result<CatalogZone> import_zone_file(const std::string& origin, const std::string& path);
// A file-backed zone (a config zone with `file:`, `serve --zone`): the catalog holds only
// {"file": absolute path, "file_sha256": its digest}; compile() loads the file as it is (its
// SOA serial included), and a changed digest is what makes a reload republish it. Record
// changes to such a zone are refused (the file is the source of truth). Errors: the file
// cannot be read.
Result<CatalogZone> file_zone(const std::string& origin, const std::string& path);
// The master file of a file-backed zone; null for a zone whose records are in the catalog.
const std::string* zone_file(const store::ZoneRow& row);
// What uses health check `id`: "record set KEY (member SET)", "calculated health check ID".
std::vector<std::string> check_users(const Catalog& catalog, const std::string& id);
// Lower-case hex SHA-256 of a file's bytes.
Result<std::string> file_sha256(const std::string& path);
Result<CatalogZone> import_zone_text(const std::string& origin, const std::string& text);
Result<std::string> export_zone_text(const Catalog& catalog, const std::string& zone_name);

// The whole catalog as JSON (what `steerdns apply` sends to POST /v1/apply, and what
// GET /v1/catalog returns): {"zones":[{"id","name","comment","caller_ref","settings",
// "records":[body...]}], "health_checks":[{"id","caller_ref","version", ...body}],
// "settings":{...}}. catalog_from_json checks the shape (unknown keys are errors with a
// did-you-mean) and names the path of a bad value ("zones[1].records[3]: ...").
nlohmann::json to_json(const Catalog& catalog);
Result<Catalog> catalog_from_json(const nlohmann::json& j);

// A plan for humans, one line per change, terraform-like:
//   + record_set www.example.test./A  (create)
//   ~ record_set app.example.test./A  ttl 60 -> 30; member app-secondary values [...] -> [...]
//   - health_check old-check           (delete)
// Empty batch: "No changes.".
std::string plan_text(const ChangeBatch& batch, const Catalog& before);

}  // namespace steerdns::config
