#pragma once
// Rdata operations derived from the per-type descriptions in rrtype.h. Rdata is kept in
// uncompressed wire form (names in original case) everywhere inside steerdns.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dns/rrtype.h"
#include "dns/wire.h"

namespace steerdns::dns {

// Name compression by an offset table filled while writing (RFC 1035 4.1.4). Only offsets
// below 0x4000 can be pointed to. Cheap to reset per message.
class Compressor {
 public:
  void reset() { n_ = 0; }
  // Writes an uncompressed wire name; uses and records pointers when compress is true.
  void write_name(WireWriter& w, const uint8_t* name, size_t len, bool compress);
  // Records that the name at `offset` (already in the message, e.g. the question) may be pointed
  // to.
  void remember(const uint8_t* name, size_t len, size_t offset);

 private:
  struct Entry {
    uint16_t off;
    uint16_t len;
    uint32_t hash;
  };
  static constexpr int kMax = 96;
  Entry e_[kMax];
  int n_ = 0;
};

// Reads rdata of `rdlen` octets at r (inside a whole message, so compressed names can be
// followed) and appends its uncompressed form to out. Returns false if it does not match the
// type's description (then r may be failed).
bool rdata_from_wire(WireReader& r, uint16_t rdlen, uint16_t type, std::vector<uint8_t>& out);
// True if uncompressed rdata matches the type's description.
bool rdata_valid(uint16_t type, const uint8_t* rd, size_t len);
// Why rdata_valid() refused rdata, where more can be said than "malformed" (an SVCB/HTTPS
// parameter value); empty otherwise.
std::string rdata_problem(uint16_t type, const uint8_t* rd, size_t len);
// Writes RDLENGTH and rdata, compressing names only for RFC 1035 well-known types.
void rdata_write(WireWriter& w, Compressor& c, uint16_t type, const uint8_t* rd, size_t len);
// Presentation format (RFC 1035 5.1; RFC 3597 "\# len hex" for undescribed types).
std::string rdata_to_text(uint16_t type, const uint8_t* rd, size_t len);
// Calls f(name, name_len) for every domain-name field of the rdata.
void rdata_names(uint16_t type, const uint8_t* rd, size_t len,
                 const std::function<void(const uint8_t*, size_t)>& f);

}  // namespace steerdns::dns
