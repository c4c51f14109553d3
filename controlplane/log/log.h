#ifndef CONTROLPLANE_LOG_LOG_H_
#define CONTROLPLANE_LOG_LOG_H_

#include <functional>
#include <string>
#include <utility>

namespace nginx_xds {

// How much a log line matters. kWarning and above are for what an operator
// must look at; routine events (writes, rollout steps) are kInfo.
enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Where the control plane's library code sends its log lines, injected the
// way the agent's XdsClient takes its LogHandler: the library never writes
// to stderr itself; main() wires a logging library (spdlog), tests may
// record or drop the lines. Called from any thread; must be thread-safe.
using LogHandler = std::function<void(LogLevel level, const std::string& message)>;

// Sends `message` to `handler` if there is one.
inline void Log(const LogHandler& handler, LogLevel level, std::string message) {
  if (handler) handler(level, std::move(message));
}

}  // namespace nginx_xds

#endif  // CONTROLPLANE_LOG_LOG_H_
