// libFuzzer target: the sharded-checkpoint index parser (model.safetensors.index.json), alone.
// Built only with -DNNPRUNE_BUILD_FUZZERS=ON and clang++ (-fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nnprune/io/safetensors_model.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const auto index = nnprune::parse_safetensors_index(text, "fuzz.index.json");
        for (const auto& [name, shard] : index.weight_map)  // what the parser promises of a shard name
            if (shard.empty() || shard == "." || shard == ".." ||
                shard.find_first_of(std::string_view("/\\\0", 3)) != std::string::npos)
                __builtin_trap();
    } catch (const nnprune::error&) {
    }
    return 0;
}
