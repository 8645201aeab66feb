// Checks the objects nvcc made of kernels/*.cu (no GPU needed): each is an
// x86-64 ELF object whose host side has a launch stub per kernel and whose
// .nv_fatbin section holds, per kernel, SASS for every arch of nvcc.bzl's
// NVCC_ARCHS (in an EM_CUDA cubin for that arch) and PTX for the newest.
//
// Usage: cuda_objects_test --archs=80,90 PREPROCESS_OBJ POSTPROCESS_OBJ
//
// The fatbin layout read here (a 16-byte container header: magic 0xBA55ED50,
// u16 version, u16 header size, u64 payload size; then entries: u16 kind
// (1 PTX, 2 ELF), u16 version, u32 header size, u64 payload size, ..., u32
// arch at byte 28) is what nvcc 12 and 13 write; cuobjdump reads the same.
// nvcc.bzl passes --no-compress, so payloads are plain ELF and PTX text.

#include <cstdint>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

std::vector<std::string> g_objects;  // preprocess, postprocess
std::vector<int> g_archs;

template <typename T>
T Read(const std::string& data, uint64_t offset) {
  T value{};
  if (offset + sizeof(T) <= data.size()) {
    std::memcpy(&value, data.data() + offset, sizeof(T));
  }
  return value;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Section {
  std::string name;
  std::string data;
};

// Sections of a little-endian ELF64 file; empty if it is not one.
std::vector<Section> ElfSections(const std::string& elf, uint16_t* machine) {
  std::vector<Section> sections;
  if (elf.size() < 64 ||
      elf.compare(0, 4,
                  "\x7f"
                  "ELF") != 0 ||
      elf[4] != 2 /* ELFCLASS64 */ || elf[5] != 1 /* little endian */) {
    return sections;
  }
  *machine = Read<uint16_t>(elf, 18);
  const uint64_t shoff = Read<uint64_t>(elf, 40);
  const uint16_t shentsize = Read<uint16_t>(elf, 58);
  const uint16_t shnum = Read<uint16_t>(elf, 60);
  const uint16_t shstrndx = Read<uint16_t>(elf, 62);
  if (shentsize < 64 || shoff + uint64_t{shnum} * shentsize > elf.size()) {
    return sections;
  }
  auto header = [&](int i) { return shoff + uint64_t{shentsize} * i; };
  const uint64_t names_off = Read<uint64_t>(elf, header(shstrndx) + 24);
  for (int i = 0; i < shnum; ++i) {
    const uint32_t name = Read<uint32_t>(elf, header(i));
    const uint32_t type = Read<uint32_t>(elf, header(i) + 4);
    const uint64_t off = Read<uint64_t>(elf, header(i) + 24);
    const uint64_t size = Read<uint64_t>(elf, header(i) + 32);
    Section s;
    if (names_off + name < elf.size()) s.name = elf.c_str() + names_off + name;
    // SHT_NOBITS (8) has no bytes in the file.
    if (type != 8 && off + size <= elf.size()) s.data = elf.substr(off, size);
    sections.push_back(std::move(s));
  }
  return sections;
}

const Section* Find(const std::vector<Section>& sections,
                    const std::string& name) {
  for (const Section& s : sections) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

struct FatbinEntry {
  int kind;  // 1 PTX, 2 ELF
  int arch;  // e.g. 90
  std::string payload;
};

std::vector<FatbinEntry> ParseFatbin(const std::string& data) {
  std::vector<FatbinEntry> entries;
  uint64_t off = 0;
  while (off + 16 <= data.size()) {
    if (Read<uint32_t>(data, off) != 0xBA55ED50u) break;
    const uint16_t header_size = Read<uint16_t>(data, off + 6);
    const uint64_t size = Read<uint64_t>(data, off + 8);
    uint64_t p = off + header_size;
    const uint64_t end = p + size;
    while (p + 32 <= end && end <= data.size()) {
      const uint32_t entry_header = Read<uint32_t>(data, p + 4);
      const uint64_t payload = Read<uint64_t>(data, p + 8);
      FatbinEntry e;
      e.kind = Read<uint16_t>(data, p);
      e.arch = static_cast<int>(Read<uint32_t>(data, p + 28));
      e.payload = data.substr(p + entry_header, payload);
      entries.push_back(std::move(e));
      p += entry_header + payload;
    }
    off = end;
    while (off < data.size() && data[off] == 0) ++off;  // alignment padding
  }
  return entries;
}

// Mangled-name prefixes of every kernel each object must hold.
std::vector<std::string> ExpectedKernels(int object) {
  const std::string ns = "_ZN9slimserve13cuda_internal";
  const std::vector<std::string> types = {"f", "6__half", "13__nv_bfloat16"};
  std::vector<std::string> names;
  for (const std::string& t : types) {
    if (object == 0) {
      names.push_back(ns + "16PreprocessKernelI" + t + "Lb0E");
      names.push_back(ns + "16PreprocessKernelI" + t + "Lb1E");
    } else {
      names.push_back(ns + "30SegmentationArgmaxResizeKernelI" + t + "E");
      names.push_back(ns + "20ResizeBilinearKernelI" + t + "E");
      names.push_back(ns + "11DepthKernelI" + t + "E");
      names.push_back(ns + "22NormalizeNormalsKernelI" + t + "E");
      names.push_back(ns + "18NormalsToRgbKernelI" + t + "E");
      names.push_back(ns + "16EdgeLogitsKernelI" + t + "E");
    }
  }
  return names;
}

TEST(CudaObjectsTest, HostObjectsHaveALaunchStubPerKernel) {
  ASSERT_EQ(g_objects.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const std::string elf = ReadFile(g_objects[i]);
    uint16_t machine = 0;
    const std::vector<Section> sections = ElfSections(elf, &machine);
    ASSERT_FALSE(sections.empty()) << g_objects[i] << " is not an ELF64 file";
    EXPECT_EQ(machine, 62) << "not x86-64: " << g_objects[i];
    const Section* strtab = Find(sections, ".strtab");
    ASSERT_NE(strtab, nullptr) << g_objects[i];
    for (const std::string& kernel : ExpectedKernels(i)) {
      EXPECT_NE(strtab->data.find(kernel), std::string::npos)
          << kernel << " has no host stub in " << g_objects[i];
    }
    // The registration that makes the kernels launchable at run time.
    EXPECT_NE(strtab->data.find("__cudaRegisterFatBinary"), std::string::npos);
  }
}

TEST(CudaObjectsTest, FatbinHasSassForEveryArchAndPtxForTheNewest) {
  ASSERT_EQ(g_objects.size(), 2u);
  ASSERT_FALSE(g_archs.empty());
  const int newest = g_archs.back();
  for (int i = 0; i < 2; ++i) {
    uint16_t machine = 0;
    const std::vector<Section> sections =
        ElfSections(ReadFile(g_objects[i]), &machine);
    const Section* fatbin = Find(sections, ".nv_fatbin");
    ASSERT_NE(fatbin, nullptr) << "no device code in " << g_objects[i];
    const std::vector<FatbinEntry> entries = ParseFatbin(fatbin->data);
    std::set<int> sass_archs;
    bool has_ptx = false;
    for (const FatbinEntry& e : entries) {
      if (e.kind == 2) {
        sass_archs.insert(e.arch);
        uint16_t cubin_machine = 0;
        const std::vector<Section> cubin =
            ElfSections(e.payload, &cubin_machine);
        ASSERT_FALSE(cubin.empty())
            << "sm_" << e.arch << " cubin unreadable (compressed?)";
        EXPECT_EQ(cubin_machine, 190) << "not EM_CUDA: sm_" << e.arch;
        for (const std::string& kernel : ExpectedKernels(i)) {
          EXPECT_NE(e.payload.find(kernel), std::string::npos)
              << kernel << " missing from the sm_" << e.arch << " cubin of "
              << g_objects[i];
        }
      } else if (e.kind == 1 && e.arch == newest) {
        has_ptx = true;
        for (const std::string& kernel : ExpectedKernels(i)) {
          EXPECT_NE(e.payload.find(".entry " + kernel), std::string::npos)
              << kernel << " missing from the compute_" << newest << " PTX";
        }
      }
    }
    EXPECT_EQ(sass_archs, std::set<int>(g_archs.begin(), g_archs.end()))
        << g_objects[i];
    EXPECT_TRUE(has_ptx) << "no compute_" << newest << " PTX in "
                         << g_objects[i];
  }
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--archs=", 0) == 0) {
      std::stringstream list(arg.substr(8));
      std::string a;
      while (std::getline(list, a, ',')) g_archs.push_back(std::stoi(a));
    } else {
      g_objects.push_back(arg);
    }
  }
  return RUN_ALL_TESTS();
}
