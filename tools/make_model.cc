// Writes a model package (spec.textproto + weights.pt) with deterministic
// random weights. The shipped default package was made by:
//
//   bazel run //tools:make_model -- --spec=default --seed=1 \
//       --out=$PWD/models/default
//
// --spec takes "default", "tiny", or a path to a spec.textproto.

#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "base/status_macros.h"
#include "engine/runtime/random_model.h"

ABSL_FLAG(std::string, spec, "default",
          "\"default\", \"tiny\", or a directory holding a spec.textproto");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the random weights");
ABSL_FLAG(std::string, out, "", "Output directory (created)");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "make_model --spec=default|tiny|DIR --seed=N --out=DIR");
  absl::ParseCommandLine(argc, argv);
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) {
    std::cerr << "error: --out is required\n";
    return 2;
  }
  const std::string which = absl::GetFlag(FLAGS_spec);
  slimserve::v1::ModelSpec spec;
  if (which == "default") {
    spec = slimserve::DefaultModelSpec();
  } else if (which == "tiny") {
    spec = slimserve::TinyModelSpec();
  } else {
    auto loaded = slimserve::LoadModelSpec(which);
    if (!loaded.ok()) {
      std::cerr << "error: " << loaded.status().message() << "\n";
      return 1;
    }
    spec = *std::move(loaded);
  }
  const absl::Status st =
      slimserve::WriteRandomModelPackage(spec, absl::GetFlag(FLAGS_seed), out);
  if (!st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return 1;
  }
  std::cout << "wrote " << spec.name() << " to " << out << "\n";
  return 0;
}
