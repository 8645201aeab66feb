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

    for (const auto& [key, members] : DecoderGroups(rows)) {
      const auto [task, wd] = key;
      std::vector<torch::Tensor> sub = features;
      if (members.size() != rows.size()) {
        std::vector<int64_t> index;
        for (const auto& m : members) index.push_back(m.first);
        const torch::Tensor idx =
            torch::tensor(index, torch::kLong).to(device);
        for (auto& f : sub) f = f.index_select(0, idx);
      }
      const torch::Tensor out =
          net.DecodeHead(task, sub, we, wd).to(torch::kCPU);
      for (size_t i = 0; i < members.size(); ++i) {
        rows[members[i].first]->outputs[members[i].second] = out[i];
      }
    }
  }
}

}  // namespace slimserve
