// Memory-bandwidth probe: the floor every selection and scoring benchmark is compared against.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

std::vector<float>& buffer(std::size_t n) {
    static std::vector<float> buf;
    if (buf.size() < n) buf.assign(n, 1.0f);  // touched once, outside the timed loops
    return buf;
}

void bm_bandwidth_read(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const float* p = buffer(n).data();
    for (auto _ : state) {
        float acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
        for (std::size_t i = 0; i + 4 <= n; i += 4) {
            acc0 += p[i];
            acc1 += p[i + 1];
            acc2 += p[i + 2];
            acc3 += p[i + 3];
        }
        benchmark::DoNotOptimize(acc0 + acc1 + acc2 + acc3);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0) * 4);
}

/// The same read split over state.range(1) threads (two halves on two cores): the ceiling of any
/// memory-bound two-thread speedup.
void bm_bandwidth_read_threads(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const auto parts = static_cast<std::size_t>(state.range(1));
    const float* p = buffer(n).data();
    auto sum = [&](std::size_t b, std::size_t e, float* out) {
        float acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
        for (std::size_t i = b; i + 4 <= e; i += 4) {
            acc0 += p[i];
            acc1 += p[i + 1];
            acc2 += p[i + 2];
            acc3 += p[i + 3];
        }
        *out = acc0 + acc1 + acc2 + acc3;
    };
    std::vector<float> out(parts);
    for (auto _ : state) {
        std::vector<std::thread> th;
        for (std::size_t t = 1; t < parts; ++t)
            th.emplace_back(sum, n / parts * t, t + 1 == parts ? n : n / parts * (t + 1), &out[t]);
        sum(0, n / parts, &out[0]);
        for (auto& t : th) t.join();
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0) * 4);
}

void bm_bandwidth_copy(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const float* src = buffer(2 * n).data();
    float* dst = buffer(2 * n).data() + n;
    for (auto _ : state) {
        std::memcpy(dst, src, n * sizeof(float));
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0) * 4 * 2);
}

}  // namespace

BENCHMARK(bm_bandwidth_read)->Arg(1 << 20)->Arg(100'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_bandwidth_read_threads)
    ->Args({100'000'000, 1})
    ->Args({100'000'000, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(bm_bandwidth_copy)->Arg(1 << 20)->Arg(50'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();
