// The libtorch adapter costs nothing: magnitude pruning per row (50%) of a torch-owned
// 4096x11008 f32 tensor through nnprune::torch_layers-style views (torch_mutable_ref) beside the
// same memory viewed directly (matrix_view over data_ptr), and beside libtorch's own way of
// making the same mask (topk / sort of |W| per row, then a scatter into a bool mask), all on one
// thread. Every benchmark makes the mask of the whole tensor, without applying it.
// Quote the ratios: bm_torch_adapter / bm_direct_view (the adapter's cost), and
// bm_torch_topk / bm_torch_adapter (nnprune against libtorch).

#include <cstddef>
#include <torch/torch.h>
#include <tuple>
#include <vector>

#include <benchmark/benchmark.h>

#include <nnprune/adapters/torch.hpp>
#include <nnprune/prune/prune.hpp>
#include <nnprune/scorers/magnitude.hpp>

namespace {

constexpr std::int64_t k_rows = 4096, k_cols = 11008;

struct bench_data {
    bench_data() {
        torch::set_num_threads(1);
        torch::manual_seed(1);
        w = torch::randn({k_rows, k_cols});
    }

    torch::Tensor w;
    std::vector<float> scratch;  // nnprune's reused score buffer (no first touch in the loop)
};

bench_data& data() {
    static bench_data d;
    return d;
}

const std::int64_t k_pruned = static_cast<std::int64_t>(nnprune::count_to_prune(k_cols, 0.5));

void prune_rows(const nnprune::tensor_ref& weights, benchmark::State& state) {
    std::vector<nnprune::layer> layers{{"w", weights, {}, {}}};
    nnprune::prune_options o;
    o.scratch = &data().scratch;
    for (auto _ : state) {
        auto r = nnprune::prune(layers, nnprune::magnitude, nnprune::per_row{}, 0.5, o);
        benchmark::DoNotOptimize(r.masks[0].words().data());
    }
}

void bm_torch_adapter(benchmark::State& state) { prune_rows(nnprune::torch_mutable_ref(data().w), state); }

void bm_direct_view(benchmark::State& state) {
    prune_rows(nnprune::matrix_view<float>(data().w.data_ptr<float>(), k_rows, k_cols), state);
}

/// libtorch's way: the k smallest |w| of each row by topk, then a bool mask.
void bm_torch_topk(benchmark::State& state) {
    const torch::Tensor& w = data().w;
    {  // the same mask as nnprune's, up to the order of ties at the k-th value of a row
        const auto idx = std::get<1>(w.abs().topk(k_pruned, 1, false, false));
        const auto theirs = torch::ones({k_rows, k_cols}, torch::kBool).scatter_(1, idx, false);
        const auto mine = nnprune::prune(std::vector<nnprune::layer>{{"w", nnprune::torch_ref(w), {}, {}}},
                                         nnprune::magnitude, nnprune::per_row{}, 0.5);
        const auto kth = std::get<0>(w.abs().kthvalue(k_pruned, 1, /*keepdim=*/true));
        const auto differ = nnprune::to_torch(mine.masks[0]) != theirs;
        if (!torch::equal(differ, differ & (w.abs() == kth)))
            state.SkipWithError("libtorch's mask differs from nnprune's beyond ties");
    }
    for (auto _ : state) {
        const auto idx = std::get<1>(w.abs().topk(k_pruned, /*dim=*/1, /*largest=*/false, /*sorted=*/false));
        auto mask = torch::ones({k_rows, k_cols}, torch::kBool).scatter_(1, idx, false);
        benchmark::DoNotOptimize(mask.data_ptr());
    }
}

/// The same by a full sort of each row.
void bm_torch_sort(benchmark::State& state) {
    const torch::Tensor& w = data().w;
    for (auto _ : state) {
        const auto idx = std::get<1>(w.abs().sort(/*dim=*/1)).narrow(1, 0, k_pruned);
        auto mask = torch::ones({k_rows, k_cols}, torch::kBool).scatter_(1, idx, false);
        benchmark::DoNotOptimize(mask.data_ptr());
    }
}

}  // namespace

BENCHMARK(bm_direct_view)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_torch_adapter)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_torch_topk)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_torch_sort)->Unit(benchmark::kMillisecond)->UseRealTime();
