// A model package as an operator (or a broken disk) hands it over: arbitrary
// bytes as spec.textproto (first byte 0), as profile.textproto beside the
// default spec (1), or as a latency cache file for the default spec (2),
// loaded as the server loads them. Properties: no crash, leak or hang, and a
// package that loads is one the engine can use (validated spec, tables of
// the right size).

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/model/latency_table.h"
#include "engine/model/package.h"
#include "engine/model/spec.h"
#include "google/protobuf/text_format.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

const std::string& Dir() {
  static const std::string* dir = [] {
    auto* d = new std::string(
        (std::filesystem::temp_directory_path() /
         ("slimserve_package_fuzzer_" + std::to_string(::getpid())))
            .string());
    std::filesystem::create_directories(*d);
    return d;
  }();
  return *dir;
}

void Write(const std::string& name, const char* data, size_t size) {
  std::ofstream(Dir() + "/" + name, std::ios::binary | std::ios::trunc)
      .write(data, static_cast<std::streamsize>(size));
}

std::string DefaultSpecText() {
  std::string text;
  google::protobuf::TextFormat::PrintToString(slimserve::DefaultModelSpec(),
                                              &text);
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const char* body = reinterpret_cast<const char*>(data + 1);
  const size_t length = size - 1;
  std::filesystem::remove(Dir() + "/profile.textproto");
  switch (data[0] % 3) {
    case 0:
      Write("spec.textproto", body, length);
      break;
    case 1: {
      const std::string spec = DefaultSpecText();
      Write("spec.textproto", spec.data(), spec.size());
      Write("profile.textproto", body, length);
      break;
    }
    default: {
      Write("latency.cache", body, length);
      absl::StatusOr<slimserve::LatencyProfile> profile =
          slimserve::ReadLatencyCache(Dir() + "/latency.cache", "fuzz key",
                                      slimserve::DefaultModelSpec());
      if (profile.ok()) {
        FUZZ_CHECK(slimserve::ValidateLatencyProfile(
                       *profile, slimserve::DefaultModelSpec())
                       .ok());
      }
      return 0;
    }
  }
  absl::StatusOr<slimserve::ModelPackage> package =
      slimserve::LoadModelPackage(Dir());
  if (package.ok()) {
    FUZZ_CHECK(slimserve::ValidateModelSpec(package->spec).ok());
    FUZZ_CHECK(package->spec.tasks_size() > 0);
  } else {
    FUZZ_CHECK(package.status().message().size() <= 4096);
  }
  return 0;
}
