#ifndef SLIMSERVE_ENGINE_RUNTIME_LATENCY_PROFILER_H_
#define SLIMSERVE_ENGINE_RUNTIME_LATENCY_PROFILER_H_

// Measures the supernet's latency on the device it runs on, for the
// admission controller's millisecond budgets and deadlines. Internal to
// engine/ (includes torch).

#include <functional>

#include "engine/model/latency_table.h"
#include "engine/runtime/inference_net.h"

namespace slimserve {

// Times every encoder width, and every (task, encoder width, decoder width)
// decoder up to its head output (InferenceNet::DecodeHead: what the
// executor runs; the upsampling and activation are post-processing's), on
// a batch of `batch_size` random images: the median of `repetitions` runs
// after one warm-up run. Where the net fuses decoders, also every task's
// decoder at each width as one DecodeHeads call (fused_decoder_ms).
// fixed_ms is left 0
// (per-request work outside the network is measured by the engine as it
// serves). Takes about (1 + repetitions) x the cost of running every
// configuration once: a second or two for the default model on 2 cores.
// REQUIRES: repetitions >= 1.
LatencyTable MeasureLatency(const InferenceNet& net, int batch_size,
                            int repetitions);

// The median, in milliseconds, of `repetitions` timed calls of `fn` after
// one untimed warm-up call (first-call allocations, lazy init, graph
// capture). `sync`, when set, is called before and after each timed call:
// device work is asynchronous and is timed to completion.
// REQUIRES: repetitions >= 1.
double MedianMs(int repetitions, const std::function<void()>& sync,
                const std::function<void()>& fn);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_RUNTIME_LATENCY_PROFILER_H_
