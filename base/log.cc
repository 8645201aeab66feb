#include "base/log.h"

#include <atomic>
#include <cstdio>
#include <cstring>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace slimserve {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kINFO)};
const char kLetters[] = "DIWE";
}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }

bool ParseLogLevel(const std::string& text, LogLevel* level) {
  static const struct { const char* name; LogLevel level; } kNames[] = {
      {"debug", LogLevel::kDEBUG},
      {"info", LogLevel::kINFO},
      {"warning", LogLevel::kWARNING},
      {"error", LogLevel::kERROR}};
  for (const auto& n : kNames) {
    if (text == n.name) {
      *level = n.level;
      return true;
    }
  }
  return false;
}

namespace log_internal {

LogMessage::LogMessage(LogLevel level, const char* file, int line) {
  const char* base = std::strrchr(file, '/');
  stream_ << kLetters[static_cast<int>(level)]
          << absl::FormatTime("%Y-%m-%dT%H:%M:%E6S ", absl::Now(),
                              absl::UTCTimeZone())
          << (base ? base + 1 : file) << ":" << line << "] ";
}

LogMessage::~LogMessage() {
  stream_ << '\n';
  const std::string line = stream_.str();
  // One fwrite per line keeps lines from different threads whole.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace log_internal
}  // namespace slimserve
