#include "zone/loader.h"

// libzscanner's headers have no extern "C" of their own.
extern "C" {
#include <libzscanner/scanner.h>
}

#include <algorithm>
#include <cstring>

namespace steerdns::zone {
namespace {

struct Ctx {
  ZoneBuilder* builder;
  std::string file;
  uint32_t line_base = 0;  // added to the scanner's line (for text embedded in a config)
  bool text_mode = false;
  std::vector<std::string> errors;
  size_t max_errors = 10;
  std::vector<const zs_scanner_t*> escapes_checked;  // one scanner per file ($INCLUDE nests)
};

std::string scanner_file(zs_scanner_t* s, const Ctx* c) {
  // Inside $INCLUDE the scanner reports the included file's name.
  if (!c->text_mode && s->file.name && *s->file.name) return s->file.name;
  return c->file;
}

uint32_t scanner_line(zs_scanner_t* s, const Ctx* c) {
  return c->text_mode ? c->line_base : static_cast<uint32_t>(s->line_counter);
}

bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

// libzscanner 3.2 takes \DDD escapes above 255 modulo 256 instead of rejecting them (RFC 1035
// 5.1: DDD is an octet), so a typo would load as different data. Scans the scanner's input
// (the whole file: libzscanner maps it at once) for them, skipping comments.
void check_escapes(zs_scanner_t* s, Ctx* c) {
  if (std::find(c->escapes_checked.begin(), c->escapes_checked.end(), s) !=
      c->escapes_checked.end()) {
    return;
  }
  c->escapes_checked.push_back(s);
  const char* p = s->input.start;
  const char* end = s->input.end;
  if (!p || !end) return;
  uint32_t line = 1;
  bool quoted = false;
  for (; p < end; ++p) {
    if (*p == '\n') {
      ++line;
    } else if (*p == '\\') {
      if (end - p >= 4 && is_digit(p[1]) && is_digit(p[2]) && is_digit(p[3])) {
        if ((p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0') > 255) {
          c->errors.push_back(scanner_file(s, c) + ":" +
                              std::to_string(c->text_mode ? c->line_base : line) + ": escape \\" +
                              std::string(p + 1, 3) + " is above 255");
        }
        p += 3;
      } else if (end - p >= 2 && p[1] != '\n') {
        ++p;
      }
    } else if (*p == '"') {
      quoted = !quoted;
    } else if (*p == ';' && !quoted) {
      while (p + 1 < end && p[1] != '\n') ++p;
    }
  }
}

void on_record(zs_scanner_t* s) {
  auto* c = static_cast<Ctx*>(s->process.data);
  check_escapes(s, c);
  if (!c->errors.empty() && c->errors.size() >= c->max_errors) {
    s->state = ZS_STATE_STOP;
    return;
  }
  auto st = c->builder->add(s->r_owner, s->r_owner_length, s->r_type, s->r_class, s->r_ttl,
                            s->r_data, s->r_data_length, scanner_file(s, c), scanner_line(s, c));
  if (!st) {
    c->errors.push_back(st.error());
    if (c->errors.size() >= c->max_errors) s->state = ZS_STATE_STOP;
  }
}

void on_error(zs_scanner_t* s) {
  auto* c = static_cast<Ctx*>(s->process.data);
  check_escapes(s, c);
  c->errors.push_back(scanner_file(s, c) + ":" + std::to_string(scanner_line(s, c)) + ": " +
                      zs_strerror(s->error.code));
  if (c->errors.size() >= c->max_errors) s->state = ZS_STATE_STOP;
}

std::string join_errors(const std::vector<std::string>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += '\n';
    out += e;
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<const Zone>> load_zone_file(const dns::Name& origin, const std::string& path,
                                                   std::vector<std::string>* warnings,
                                                   const LoadOptions& opts) {
  auto s = std::make_unique<zs_scanner_t>();
  std::string origin_text = origin.to_text();
  if (zs_init(s.get(), origin_text.c_str(), 1 /*IN*/, opts.default_ttl) != 0) {
    return Error{path + ": cannot start the zone parser: " + zs_strerror(s->error.code)};
  }
  ZoneBuilder builder(origin);
  Ctx ctx{&builder, path};
  ctx.max_errors = opts.max_errors;
  struct Deinit {
    zs_scanner_t* s;
    ~Deinit() { zs_deinit(s); }
  } deinit{s.get()};
  if (zs_set_input_file(s.get(), path.c_str()) != 0) {
    return Error{path + ": cannot read zone file: " + zs_strerror(s->error.code)};
  }
  zs_set_processing(s.get(), on_record, on_error, &ctx);
  zs_parse_all(s.get());
  if (!ctx.errors.empty()) return Error{join_errors(ctx.errors)};
  if (s->error.code != 0 && s->error.fatal) {
    return Error{path + ":" + std::to_string(s->line_counter) + ": " + zs_strerror(s->error.code)};
  }
  return builder.build(warnings);
}

struct TextRecordParser::Impl {
  zs_scanner_t s;
  std::string origin;
  uint32_t ttl;
  // One scanner for every line: zs_init clears ~200 KB, which would dominate parsing one
  // value. A scanner that met an error is set up afresh for the next line.
  bool ready = false;
};

TextRecordParser::TextRecordParser(const dns::Name& origin, uint32_t default_ttl)
    : impl_(std::make_unique<Impl>()) {
  impl_->origin = origin.to_text();
  impl_->ttl = default_ttl;
}

TextRecordParser::~TextRecordParser() {
  if (impl_->ready) {
    zs_deinit(&impl_->s);
  }
}

Status TextRecordParser::parse(std::string_view text, ZoneBuilder& into, std::string_view file,
                               uint32_t line) {
  zs_scanner_t* s = &impl_->s;
  if (!impl_->ready) {
    if (zs_init(s, impl_->origin.c_str(), 1, impl_->ttl) != 0) {
      return Error{std::string(file) + ":" + std::to_string(line) + ": zone parser init failed"};
    }
    impl_->ready = true;
  }
  Ctx ctx{&into, std::string(file), line, true, {}, 1};
  std::string buf(text);
  buf += '\n';
  Status result = OkStatus();
  if (zs_set_input_string(s, buf.data(), buf.size()) != 0) {
    result = Error{ctx.file + ":" + std::to_string(line) + ": " + zs_strerror(s->error.code)};
  } else {
    size_t before = into.record_count();
    zs_set_processing(s, on_record, on_error, &ctx);
    zs_parse_all(s);
    if (!ctx.errors.empty()) {
      result = Error{ctx.errors.front()};
    } else if (into.record_count() == before) {
      // (a scanner left mid-record would swallow the next line: start afresh)
      result = Error{ctx.file + ":" + std::to_string(line) + ": no record in '" + std::string(text) +
                     "'"};
    }
  }
  if (!result) {
    zs_deinit(s);
    impl_->ready = false;
  }
  return result;
}

}  // namespace steerdns::zone
