#include "controlplane/metrics/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace nginx_xds {

namespace {

using Type = MetricsRegistry::Type;

// The fields of /proc/self/stat after the command (which may hold spaces):
// index 0 is field 3 (state) of proc(5).
std::optional<std::vector<std::string>> StatFields() {
  std::ifstream file("/proc/self/stat");
  std::string line;
  if (!std::getline(file, line)) return std::nullopt;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  return std::vector<std::string>(absl::StrSplit(line.substr(close + 2), ' ', absl::SkipEmpty()));
}

// Field `number` (1-based, as proc(5) counts) of /proc/self/stat.
std::optional<double> StatField(const std::vector<std::string>& fields, size_t number) {
  double value;
  if (number < 3 || number - 3 >= fields.size() || !absl::SimpleAtod(fields[number - 3], &value)) {
    return std::nullopt;
  }
  return value;
}

// The boot time, from /proc/stat's "btime" line.
std::optional<double> BootTime() {
  std::ifstream file("/proc/stat");
  std::string line;
  while (std::getline(file, line)) {
    double value;
    if (line.rfind("btime ", 0) == 0 && absl::SimpleAtod(line.substr(6), &value)) return value;
  }
  return std::nullopt;
}

std::optional<double> OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  double count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the directory stream's own descriptor
}

}  // namespace

void AddProcessCollectors(MetricsRegistry* metrics) {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  metrics->AddCollector("process_cpu_seconds_total", "User and system CPU time spent in seconds.",
                        Type::kCounter, [ticks](SampleWriter& out) {
                          auto fields = StatFields();
                          if (!fields) return;
                          auto user = StatField(*fields, 14), system = StatField(*fields, 15);
                          if (user && system) {
                            out.Sample("process_cpu_seconds_total", {}, (*user + *system) / ticks);
                          }
                        });
  metrics->AddCollector("process_resident_memory_bytes", "Resident memory size in bytes.",
                        Type::kGauge, [page](SampleWriter& out) {
                          auto fields = StatFields();
                          if (!fields) return;
                          if (auto rss = StatField(*fields, 24)) {
                            out.Sample("process_resident_memory_bytes", {}, *rss * page);
                          }
                        });
  metrics->AddCollector("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                        Type::kGauge, [](SampleWriter& out) {
                          auto fields = StatFields();
                          if (!fields) return;
                          if (auto vsize = StatField(*fields, 23)) {
                            out.Sample("process_virtual_memory_bytes", {}, *vsize);
                          }
                        });
  metrics->AddCollector("process_start_time_seconds",
                        "Start time of the process since unix epoch in seconds.", Type::kGauge,
                        [ticks](SampleWriter& out) {
                          auto fields = StatFields();
                          auto boot = BootTime();
                          if (!fields || !boot) return;
                          if (auto start = StatField(*fields, 22)) {
                            out.Sample("process_start_time_seconds", {}, *boot + *start / ticks);
                          }
                        });
  metrics->AddCollector("process_open_fds", "Number of open file descriptors.", Type::kGauge,
                        [](SampleWriter& out) {
                          if (auto fds = OpenFds()) out.Sample("process_open_fds", {}, *fds);
                        });
  metrics->AddCollector("process_max_fds", "Maximum number of open file descriptors.", Type::kGauge,
                        [](SampleWriter& out) {
                          rlimit limit;
                          if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
                            out.Sample("process_max_fds", {}, static_cast<double>(limit.rlim_cur));
                          }
                        });
}

}  // namespace nginx_xds
