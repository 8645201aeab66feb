#include "engine/runtime/executor.h"

#include <map>
#include <utility>

namespace slimserve {

std::map<int, std::vector<ExecutorItem*>> ByEncoderWidth(
    const std::vector<ExecutorItem*>& items) {
  std::map<int, std::vector<ExecutorItem*>> by_encoder;
  for (ExecutorItem* item : items) {
    item->outputs.assign(item->tasks.size(), torch::Tensor());
    by_encoder[item->encoder_width].push_back(item);
  }
  return by_encoder;
}

std::map<std::pair<int, int>, std::vector<std::pair<int64_t, int>>>
DecoderGroups(const std::vector<ExecutorItem*>& rows) {
  std::map<std::pair<int, int>, std::vector<std::pair<int64_t, int>>> groups;
  for (size_t r = 0; r < rows.size(); ++r) {
    const ExecutorItem& row = *rows[r];
    for (size_t slot = 0; slot < row.tasks.size(); ++slot) {
      groups[{row.tasks[slot], row.decoder_widths[slot]}].push_back(
          {static_cast<int64_t>(r), static_cast<int>(slot)});
    }
  }
  return groups;
}

std::vector<DecoderRun> DecoderRuns(const std::vector<ExecutorItem*>& rows) {
  std::map<std::pair<int, std::vector<int64_t>>, DecoderRun> runs;
  for (const auto& [key, members] : DecoderGroups(rows)) {
    const auto [task, wd] = key;
    std::vector<int64_t> index;
    std::vector<int> slots;
    for (const auto& [row, slot] : members) {
      index.push_back(row);
      slots.push_back(slot);
    }
    DecoderRun& run = runs[{wd, index}];
    run.decoder_width = wd;
    run.rows = std::move(index);
    run.tasks.push_back(task);  // DecoderGroups' order: ascending
    run.slots.push_back(std::move(slots));
  }
  std::vector<DecoderRun> out;
  out.reserve(runs.size());
  for (auto& [key, run] : runs) out.push_back(std::move(run));
  return out;
}

void RunBatch(const InferenceNet& net, const std::vector<ExecutorItem*>& items) {
  const auto by_encoder = ByEncoderWidth(items);
  // The network's device (inputs arrive on the CPU; outputs go back there).
  const torch::Device device = net.device();
  for (const auto& [we, rows] : by_encoder) {
    std::vector<torch::Tensor> inputs;
    inputs.reserve(rows.size());
    for (ExecutorItem* item : rows) inputs.push_back(item->input);
    const std::vector<torch::Tensor> features =
        net.Encode(net.PrepareInput(torch::stack(inputs)), we);

    for (const DecoderRun& run : DecoderRuns(rows)) {
      std::vector<torch::Tensor> sub = features;
      if (run.rows.size() != rows.size()) {
        const torch::Tensor idx =
            torch::tensor(run.rows, torch::kLong).to(device);
        for (auto& f : sub) f = f.index_select(0, idx);
      }
      const std::vector<torch::Tensor> outs =
          net.DecodeHeads(run.tasks, sub, we, run.decoder_width);
      for (size_t t = 0; t < run.tasks.size(); ++t) {
        const torch::Tensor out = outs[t].to(torch::kCPU);
        for (size_t i = 0; i < run.rows.size(); ++i) {
          rows[run.rows[i]]->outputs[run.slots[t][i]] = out[i];
        }
      }
    }
  }
}

}  // namespace slimserve
