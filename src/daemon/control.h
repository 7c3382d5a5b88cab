#pragma once
// The control socket protocol (UNIX stream socket, one request per connection): the client
// sends one line; the daemon answers "ok <text>" or "error <text>" and closes. Commands:
//   reload                                   -> "ok reloaded: <what>"
//   health                                   -> "ok <JSON report on one line>" (health_report.h)
//   health-set ID healthy|unhealthy [REASON] -> sets an external check
#include <string>

#include "core/result.h"

namespace steerdns::daemon {

inline constexpr const char* kControlOk = "ok ";
inline constexpr const char* kControlError = "error ";

// Client side: sends `command` to the daemon at `path` and returns its reply (without the
// "ok " prefix), or an error (the daemon's reply, or why it could not be reached).
Result<std::string> control_request(const std::string& path, const std::string& command,
                                    int timeout_ms = 60000);

}  // namespace steerdns::daemon
