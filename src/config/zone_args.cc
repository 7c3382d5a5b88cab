#include <utility>

#include "config/loader.h"
#include "zone/loader.h"

namespace steerdns::config {

Result<ZoneArg> parse_zone_arg(const std::string& arg) {
  auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size()) {
    return Error{"--zone '" + arg + "': expected ORIGIN=PATH, e.g. example.com=example.com.zone"};
  }
  return ZoneArg{arg.substr(0, eq), arg.substr(eq + 1)};
}

Result<LoadedConfig> load_zone_args(const std::vector<ZoneArg>& zones) {
  LoadedConfig out;
  std::vector<std::shared_ptr<const zone::Zone>> loaded;
  for (const auto& za : zones) {
    std::string o = za.origin;
    if (o.empty() || o.back() != '.') o += '.';
    auto origin = dns::Name::from_text(o);
    if (!origin) return Error{"--zone " + za.origin + ": " + origin.error()};
    for (const auto& z : loaded) {
      if (z->origin() == *origin) return Error{"--zone " + za.origin + ": zone given twice"};
    }
    auto z = zone::load_zone_file(*origin, za.path, &out.warnings);
    if (!z) return Error{z.error()};
    loaded.push_back(std::move(*z));
  }
  auto rc = std::make_shared<RuntimeConfig>();
  rc->set_zones(std::move(loaded));
  rc->source = "command line";
  rc->chaos = Chaos::defaults();
  rc->steering_spec = std::make_shared<const policy::SteeringSpec>();
  out.steering_spec = rc->steering_spec;
  out.runtime = std::move(rc);
  return out;
}

}  // namespace steerdns::config
