#pragma once
// Shared by the libFuzzer targets: a strict DNS message checker that is independent of the
// query path, round-trip checks on names and rdata, and the fixed zones the message target
// answers from. Violations abort (libFuzzer and the replay driver both report an abort).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/runtime.h"
#include "zone/zone.h"

namespace steerdns::fuzz {

// Prints `what` and a hex dump of the input, then aborts.
[[noreturn]] void fail(const std::string& what, const uint8_t* data, size_t n);

#define FUZZ_CHECK(cond, msg, data, n)                                                            \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      ::steerdns::fuzz::fail(                                                                     \
          std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " #cond ": " + (msg), (data), \
          (n));                                                                                   \
    }                                                                                             \
  } while (0)

// What a strict parse of a whole message found.
struct MessageView {
  uint16_t id = 0;
  uint16_t flags = 0;
  uint16_t qd = 0, an = 0, ns = 0, ar = 0;
  size_t question_start = 12;
  size_t question_end = 12;  // past the (first) question
  int opt_count = 0;
  uint16_t opt_udp_size = 0;
  uint8_t opt_ext_rcode = 0;
  bool ecs_echoed = false;  // an ECS option was present in the OPT rdata
  uint16_t ecs_family = 0;
  uint8_t ecs_source = 0;
  uint8_t ecs_scope = 0;
};

// Strict parse: every count honoured, every name valid (compression pointers backwards only,
// labels <= 63, names <= 255), described rdata matches its type and uses exactly RDLENGTH,
// at most one OPT, only in the additional section and owned by the root, no trailing bytes.
// Returns "" if the message is well formed, else why not. Along the way it runs the round-trip
// checks below on every name and rdata it decodes (those abort on failure, since they must
// hold for any input).
std::string check_message(const uint8_t* p, size_t n, MessageView* view = nullptr);

// A record decoded from text with libzscanner (the same parser the zone loader uses).
struct TextRecord {
  std::vector<uint8_t> owner;
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::vector<uint8_t> rdata;
};
// Parses master-file text; returns false on any scanner error. `origin` like "fuzz.test.".
bool parse_text_records(std::string_view text, const char* origin, std::vector<TextRecord>* out);

// The zones fuzz_message answers from, built once: a rich parent zone (every described type,
// wildcards, CNAME chains and loops, DNAMEs, delegations with glue and DS, empty
// non-terminals, RRsets too large for 512 and 1232 octets), a child zone below a delegation
// and an unrelated zone.
const config::RuntimeConfig& message_config();
// The text of the parent zone (origin fuzz.test.), also used as a seed for fuzz_zone.
std::string_view parent_zone_text();

}  // namespace steerdns::fuzz
