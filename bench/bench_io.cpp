// Safetensors header parsing: nnprune's validating parser (a checking SAX pass, then the document)
// against its baseline, nlohmann's plain DOM parse of the same text, at 10k and 80k tensors.
// Counter tensors: tensors per second; linear growth keeps it about flat from 10k to 80k.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <nnprune/io/safetensors_header.hpp>

namespace {

/// A file of n one-element F32 tensors (header, then n * 4 zero bytes), built once per n.
const std::vector<std::byte>& many_tensors(std::size_t n) {
    static std::vector<std::byte> file;
    static std::size_t built = 0;
    if (built != n) {
        std::string text = "{";
        for (std::size_t i = 0; i < n; ++i) {
            if (i) text += ',';
            text += "\"model.layers." + std::to_string(i) +
                    ".weight\":{\"dtype\":\"F32\",\"shape\":[1,1],"
                    "\"data_offsets\":[" +
                    std::to_string(4 * i) + "," + std::to_string(4 * i + 4) + "]}";
        }
        text += '}';
        text.append((8 - text.size() % 8) % 8, ' ');
        file.assign(8 + text.size() + 4 * n, std::byte{0});
        for (std::size_t b = 0; b < 8; ++b) file[b] = static_cast<std::byte>((text.size() >> (8 * b)) & 0xFF);
        for (std::size_t c = 0; c < text.size(); ++c) file[8 + c] = static_cast<std::byte>(text[c]);
        built = n;
    }
    return file;
}

void bm_parse_safetensors_header(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const auto& f = many_tensors(n);
    for (auto _ : state) benchmark::DoNotOptimize(nnprune::parse_safetensors_header(f, "bench").tensors.data());
    state.counters["tensors"] =
        benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

void bm_parse_json_baseline(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const auto& f = many_tensors(n);
    const char* text = reinterpret_cast<const char*>(f.data() + 8);
    std::uint64_t len = 0;
    for (std::size_t b = 0; b < 8; ++b) len |= static_cast<std::uint64_t>(f[b]) << (8 * b);
    for (auto _ : state) benchmark::DoNotOptimize(nlohmann::json::parse(text, text + len).size());
    state.counters["tensors"] =
        benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(bm_parse_json_baseline)->Arg(10000)->Arg(80000)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_parse_safetensors_header)->Arg(10000)->Arg(80000)->Unit(benchmark::kMillisecond);
