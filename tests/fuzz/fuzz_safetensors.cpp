// libFuzzer target: the safetensors parser (header validation, tensor access) and the index parser.
// Built only with -DNNPRUNE_BUILD_FUZZERS=ON and clang++ (-fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <nnprune/io/safetensors_model.hpp>
#include <nnprune/io/safetensors_reader.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    try {
        const nnprune::safetensors_view v(bytes, "fuzz.safetensors");
        std::uint64_t sum = 0;
        for (std::size_t i = 0; i < v.size(); ++i) {
            const auto t = v.at(i);
            for (const std::byte b : t.bytes()) sum += static_cast<std::uint8_t>(b);  // every range readable
            if (v.tensor(t.name()).bytes().data() != t.bytes().data()) __builtin_trap();
            try {
                if (t.is_element()) {
                    const auto ref = t.ref();
                    if (ref.size() != t.numel()) __builtin_trap();
                    sum += static_cast<std::uint64_t>(nnprune::visit(ref, [](auto tv) {
                        double s = 0;
                        nnprune::for_each_indexed(tv, [&](std::size_t, auto x) { s += nnprune::is_nan(x) ? 0 : 1; });
                        return s;
                    }));
                } else if (t.dtype() == nnprune::safetensors_dtype::BOOL) {
                    sum += t.data<bool>().size();
                }
            } catch (const nnprune::error&) {
            }
        }
        if (sum == 0xFFFF'FFFF'FFFF'FFFFull) __builtin_trap();  // keep the reads alive
    } catch (const nnprune::error&) {
    }
    try {  // the same bytes as a sharded-checkpoint index
        (void)nnprune::parse_safetensors_index(std::string_view(reinterpret_cast<const char*>(data), size),
                                               "fuzz.index.json");
    } catch (const nnprune::error&) {
    }
    return 0;
}
