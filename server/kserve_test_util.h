#ifndef SLIMSERVE_SERVER_KSERVE_TEST_UTIL_H_
#define SLIMSERVE_SERVER_KSERVE_TEST_UTIL_H_

// What the KServe mapping tests (gRPC and REST) serve: a two-task model.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/types.h"

namespace slimserve {

// "nyud-slim" 1.1: semseg (13 classes), depth.
inline ModelInfo TwoTasks() {
  ModelInfo info;
  info.name = "nyud-slim";
  info.version = "1.1";
  TaskInfo semseg;
  semseg.name = "semseg";
  semseg.kind = slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION;
  semseg.output_channels = 13;
  TaskInfo depth;
  depth.name = "depth";
  depth.kind = slimserve::v1::TASK_KIND_DEPTH;
  depth.output_channels = 1;
  info.tasks = {semseg, depth};
  return info;
}

// An answer of both tasks: semseg as the PNG file `png`, depth as the raw
// float32 bytes `depth`; both of `shape`.
inline InferResult PngSemsegAndRawDepth(const std::vector<int64_t>& shape,
                                        std::string png, std::string depth) {
  InferResult result;
  TaskOutput semseg;
  semseg.task = "semseg";
  semseg.kind = slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION;
  semseg.format = OutputFormat::kPng;
  semseg.dtype = DType::kUint8;
  semseg.shape = shape;
  semseg.data = std::move(png);
  TaskOutput raw;
  raw.task = "depth";
  raw.kind = slimserve::v1::TASK_KIND_DEPTH;
  raw.shape = shape;
  raw.data = std::move(depth);
  result.outputs = {semseg, raw};
  return result;
}

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_KSERVE_TEST_UTIL_H_
