#ifndef SLIMSERVE_BASE_LOG_H_
#define SLIMSERVE_BASE_LOG_H_

// A small leveled logger writing one line per message to stderr.
// Debian's Abseil (20220623) has no absl/log, and glog's gflags-based flags
// do not mix with ABSL_FLAG, hence this.
//
//   SLIM_LOG(INFO) << "listening on " << address;
//
// Messages below the threshold set by SetLogLevel() cost one comparison.

#include <sstream>

namespace slimserve {

enum class LogLevel { kDEBUG = 0, kINFO = 1, kWARNING = 2, kERROR = 3 };

// Thread-safe. Default kINFO.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Whether SLIM_LOG(DEBUG) writes: for building a message only when it does.
inline bool DebugLogOn() { return GetLogLevel() <= LogLevel::kDEBUG; }
// Parses "debug", "info", "warning", "error"; returns false otherwise.
bool ParseLogLevel(const std::string& text, LogLevel* level);

namespace log_internal {

class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();  // Writes the line.
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

}  // namespace log_internal
}  // namespace slimserve

#define SLIM_LOG(level)                                                 \
  if (::slimserve::LogLevel::k##level < ::slimserve::GetLogLevel()) {  \
  } else                                                                \
    ::slimserve::log_internal::LogMessage(::slimserve::LogLevel::k##level, \
                                          __FILE__, __LINE__)           \
        .stream()

#endif  // SLIMSERVE_BASE_LOG_H_
