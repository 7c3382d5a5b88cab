#pragma once
// Master-file loading (RFC 1035 5) through libzscanner, Knot DNS's zone parser.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "zone/zone.h"

namespace steerdns::zone {

struct LoadOptions {
  uint32_t default_ttl = 3600;
  size_t max_errors = 10;  // syntax errors reported before giving up
};

// Loads and validates a zone file. Errors read "path:line: what is wrong".
Result<std::shared_ptr<const Zone>> load_zone_file(const dns::Name& origin, const std::string& path,
                                                   std::vector<std::string>* warnings = nullptr,
                                                   const LoadOptions& opts = {});

// Parses master-file text (one or more records) into a builder; `file` and `line` name the
// source of the text for error messages (e.g. a YAML config and the record's line).
class TextRecordParser {
 public:
  explicit TextRecordParser(const dns::Name& origin, uint32_t default_ttl = 3600);
  ~TextRecordParser();
  TextRecordParser(const TextRecordParser&) = delete;
  TextRecordParser& operator=(const TextRecordParser&) = delete;
  Status parse(std::string_view text, ZoneBuilder& into, std::string_view file, uint32_t line);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace steerdns::zone
