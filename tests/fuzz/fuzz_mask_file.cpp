// libFuzzer target: the mask-file reader (safetensors container + mask validation).
// Built only with -DNNPRUNE_BUILD_FUZZERS=ON and clang++ (-fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <span>

#include <nnprune/io/mask_file.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    try {
        const nnprune::safetensors_view v(bytes, "fuzz.masks");
        const auto masks = nnprune::load_masks(v);
        for (const auto& [name, m] : masks) {
            // invariants of a loaded mask: tail bits zero, count within size
            if (m.count() > m.size()) __builtin_trap();
            if (m.size() % 64 && m.words().size() && (m.words().back() >> (m.size() % 64)) != 0) __builtin_trap();
            if (!v.contains(name)) __builtin_trap();
        }
    } catch (const nnprune::error&) {
    }
    return 0;
}
