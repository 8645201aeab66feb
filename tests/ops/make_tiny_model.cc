// Writes the tiny model package (TinyModelSpec(), random weights, seed 1) to
// the directory given as the only argument: the model the operations tests
// serve. (//tools:make_model does the same but is private to tools/.)

#include <iostream>

#include "absl/status/status.h"
#include "engine/model/spec.h"
#include "engine/runtime/random_model.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_tiny_model OUT_DIR\n";
    return 2;
  }
  const absl::Status status = slimserve::WriteRandomModelPackage(
      slimserve::TinyModelSpec(), /*seed=*/1, argv[1]);
  if (!status.ok()) {
    std::cerr << "error: " << status << "\n";
    return 1;
  }
  return 0;
}
