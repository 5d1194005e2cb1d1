// Structured compaction (compact/plan.hpp) of a LLaMA-shaped model: hidden 2048, 16 heads x
// head_dim 128 (MHA, or GQA with 4 KV heads), intermediate 5632, to 12 of 16 heads (25% removed)
// and 2816 of 5632 MLP channels (50% removed). In the same binary:
//  - bm_compact_block_gemm/{original,compacted}/{mha,gqa}: one decoder block's projections
//    (q, k, v, o, gate, up, down; the attention core and the elementwise ops are left out) as
//    Eigen float GEMMs Y = X W^T over a batch of 512 tokens, one thread (Eigen::setNbThreads(1);
//    this build has no OpenMP, so Eigen would not thread anyway). Counters: GFLOP per iteration,
//    GFLOP/s, and in the compacted case flop_ratio = original FLOPs / compacted FLOPs: the
//    speed-up original time / compacted time should come within 15% of it.
//  - bm_compact_fill/copy_baseline: memcpy of every input tensor of 4 bf16 layers (411 MB) into
//    output buffers of the same size; the target is compaction at most 2x this time.
//  - bm_compact_fill/compact: compact_plan::fill of every output of the same 4 layers, heads 3,
//    7, 11 and 15 removed and every other MLP channel kept (the worst case for runs: down_proj
//    keeps 2816 runs of one element per row). compact_contiguous keeps the first 2816 channels
//    instead (the best case), to show what the runs cost.
//    Counters: input_MB, output_MB, size_ratio (output / input); bytes_per_second counts the
//    bytes written (the output's size), so it compares per byte with the baseline.
// Every buffer is allocated and written once, before any timing (first touch is never timed).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <nnprune/compact/family.hpp>
#include <nnprune/compact/plan.hpp>
#include <nnprune/compact/selection.hpp>

namespace {

using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr std::size_t k_hidden = 2048, k_heads = 16, k_head_dim = 128, k_inter = 5632, k_tokens = 512;
constexpr std::size_t k_heads_kept = 12, k_inter_kept = 2816, k_layers = 4;

// ---------------------------------------------------------------------------------------------
// One decoder block's GEMMs

struct block_shape {
    std::size_t heads, kv_heads, inter;

    [[nodiscard]] std::size_t q() const { return heads * k_head_dim; }

    [[nodiscard]] std::size_t kv() const { return kv_heads * k_head_dim; }

    /// Multiply-adds x 2 of the seven projections for k_tokens tokens.
    [[nodiscard]] double flops() const {
        const double d = k_hidden, weights = d * static_cast<double>(q()) * 2 + d * static_cast<double>(kv()) * 2 +
                                             d * static_cast<double>(inter) * 3;
        return 2.0 * static_cast<double>(k_tokens) * weights;
    }
};

/// Original: 16 heads (16 or 4 KV heads), 5632 channels. Compacted: 12 heads, under MHA 12 KV
/// heads, under GQA (4 groups of 4) 3 heads in each of the 4 groups, so 4 KV heads; 2816 channels.
block_shape shape_of(bool compacted, std::size_t kv_heads) {
    if (!compacted) return {k_heads, kv_heads, k_inter};
    return {k_heads_kept, kv_heads == k_heads ? k_heads_kept : kv_heads, k_inter_kept};
}

row_major random_matrix(std::size_t rows, std::size_t cols, float scale, unsigned seed) {
    std::mt19937 g(seed);
    std::uniform_real_distribution<float> u(-scale, scale);
    row_major m(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = u(g);
    return m;
}

struct block_gemm {
    // weights as nn.Linear stores them, [out, in]
    row_major wq, wk, wv, wo, wg, wu, wd;
    row_major x, q, k, v, o, gate, up, down;

    explicit block_gemm(const block_shape& s)
        : wq(random_matrix(s.q(), k_hidden, 0.02f, 1)),
          wk(random_matrix(s.kv(), k_hidden, 0.02f, 2)),
          wv(random_matrix(s.kv(), k_hidden, 0.02f, 3)),
          wo(random_matrix(k_hidden, s.q(), 0.02f, 4)),
          wg(random_matrix(s.inter, k_hidden, 0.02f, 5)),
          wu(random_matrix(s.inter, k_hidden, 0.02f, 6)),
          wd(random_matrix(k_hidden, s.inter, 0.02f, 7)),
          x(random_matrix(k_tokens, k_hidden, 1.0f, 8)),
          q(row_major::Zero(static_cast<Eigen::Index>(k_tokens), wq.rows())),
          k(row_major::Zero(static_cast<Eigen::Index>(k_tokens), wk.rows())),
          v(row_major::Zero(static_cast<Eigen::Index>(k_tokens), wv.rows())),
          o(row_major::Zero(static_cast<Eigen::Index>(k_tokens), wo.rows())),
          gate(row_major::Zero(static_cast<Eigen::Index>(k_tokens), wg.rows())),
          up(row_major::Zero(static_cast<Eigen::Index>(k_tokens), wu.rows())),
          down(row_major::Zero(static_cast<Eigen::Index>(k_tokens), wd.rows())) {}

    void run() {
        q.noalias() = x * wq.transpose();
        k.noalias() = x * wk.transpose();
        v.noalias() = x * wv.transpose();
        o.noalias() = q * wo.transpose();  // the attention output has q's shape; q stands in for it
        gate.noalias() = x * wg.transpose();
        up.noalias() = x * wu.transpose();
        down.noalias() = gate * wd.transpose();  // silu(gate) * up has gate's shape
    }
};

void bm_compact_block_gemm(benchmark::State& state, bool compacted, std::size_t kv_heads) {
    Eigen::setNbThreads(1);
    const block_shape s = shape_of(compacted, kv_heads);
    block_gemm b(s);
    b.run();  // untimed warm-up: Eigen's packing buffers
    for (auto _ : state) {
        b.run();
        benchmark::DoNotOptimize(b.down.data());
        benchmark::ClobberMemory();
    }
    const double flops = s.flops();
    state.counters["GFLOP"] = flops * 1e-9;
    state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    if (compacted) state.counters["flop_ratio"] = shape_of(false, kv_heads).flops() / flops;
    state.SetLabel(std::string("threads:1 ") + (kv_heads == k_heads ? "MHA" : "GQA") + " heads " +
                   std::to_string(s.heads) + "/" + std::to_string(s.kv_heads) + " channels " + std::to_string(s.inter));
}

// ---------------------------------------------------------------------------------------------
// Compaction of 4 bf16 layers against a copy of them

nlohmann::json llama_config() {
    return {{"model_type", "llama"},          {"num_hidden_layers", k_layers},
            {"hidden_size", k_hidden},        {"num_attention_heads", k_heads},
            {"num_key_value_heads", k_heads}, {"head_dim", k_head_dim},
            {"intermediate_size", k_inter},   {"rms_norm_eps", 1e-5}};
}

std::vector<nnprune::tensor_desc> llama_tensors() {
    std::vector<nnprune::tensor_desc> t;
    const auto add = [&](const std::string& name, std::vector<std::uint64_t> shape) {
        t.push_back({name, nnprune::safetensors_dtype::BF16, std::move(shape)});
    };
    const std::uint64_t d = k_hidden, q = k_heads * k_head_dim, i = k_inter;
    for (std::size_t l = 0; l < k_layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        add(p + "input_layernorm.weight", {d});
        add(p + "self_attn.q_proj.weight", {q, d});
        add(p + "self_attn.k_proj.weight", {q, d});
        add(p + "self_attn.v_proj.weight", {q, d});
        add(p + "self_attn.o_proj.weight", {d, q});
        add(p + "post_attention_layernorm.weight", {d});
        add(p + "mlp.gate_proj.weight", {i, d});
        add(p + "mlp.up_proj.weight", {i, d});
        add(p + "mlp.down_proj.weight", {d, i});
    }
    return t;
}

/// Heads 3, 7, 11, 15 removed (by top_heads on scores); channels every other one (spread) or the
/// first k_inter_kept (contiguous).
std::vector<nnprune::layer_selection> llama_selection(bool spread) {
    std::vector<float> head_scores(k_heads, 1.0f);
    for (std::size_t h = 3; h < k_heads; h += 4) head_scores[h] = 0.0f;
    nnprune::layer_selection s;
    s.heads = nnprune::top_heads(head_scores, k_heads, k_heads_kept, 1);
    s.channels.resize(k_inter_kept);
    for (std::size_t c = 0; c < k_inter_kept; ++c) s.channels[c] = spread ? 2 * c : c;
    return std::vector<nnprune::layer_selection>(k_layers, s);
}

/// The input tensors in memory, written once; output buffers for the copy and for each plan.
struct fill_fixture {
    std::vector<nnprune::tensor_desc> inputs = llama_tensors();
    std::vector<std::vector<std::byte>> in_bufs, copy_bufs;
    std::map<std::string, std::span<const std::byte>, std::less<>> by_name;
    std::uint64_t in_bytes = 0;

    fill_fixture() {
        std::uint16_t bits = 0x3c00;
        for (const auto& t : inputs) {
            std::uint64_t n = 2;
            for (const auto e : t.shape) n *= e;
            in_bytes += n;
            auto& b = in_bufs.emplace_back(static_cast<std::size_t>(n));
            for (std::size_t i = 0; i < b.size(); i += 2, bits = static_cast<std::uint16_t>(bits * 33u + 7u))
                std::memcpy(b.data() + i, &bits, 2);
            copy_bufs.emplace_back(b.size(), std::byte{1});
            by_name.emplace(t.name, std::span<const std::byte>(b));
        }
    }

    [[nodiscard]] std::span<const std::byte> read(std::string_view name) const { return by_name.find(name)->second; }
};

fill_fixture& fixture() {
    static fill_fixture f;
    return f;
}

struct compaction {
    nnprune::compact_plan plan;
    std::vector<std::vector<std::byte>> out_bufs;
    std::uint64_t out_bytes = 0;

    explicit compaction(bool spread)
        : plan(nnprune::find_family("llama"), llama_config(), fixture().inputs, llama_selection(spread)) {
        for (const auto& o : plan.outputs()) {
            out_bytes += o.bytes();
            out_bufs.emplace_back(static_cast<std::size_t>(o.bytes()), std::byte{1});
        }
    }

    void fill() {
        const auto& f = fixture();
        const auto read = [&f](std::string_view name) { return f.read(name); };
        const auto& outs = plan.outputs();
        for (std::size_t i = 0; i < outs.size(); ++i) plan.fill(outs[i], read, out_bufs[i]);
    }

    /// down_proj of layer 0: output [r][j] is input [r][channel j] (a spot check of the gather).
    void check(bool spread) const {
        const auto& outs = plan.outputs();
        for (std::size_t i = 0; i < outs.size(); ++i) {
            if (outs[i].name != "model.layers.0.mlp.down_proj.weight") continue;
            const auto src = fixture().read(outs[i].name);
            for (const std::size_t r : {std::size_t{0}, std::size_t{1}, k_hidden - 1})
                for (const std::size_t j : {std::size_t{0}, std::size_t{1}, k_inter_kept - 1}) {
                    const std::size_t c = spread ? 2 * j : j;
                    if (std::memcmp(out_bufs[i].data() + (r * k_inter_kept + j) * 2, src.data() + (r * k_inter + c) * 2,
                                    2) != 0)
                        throw std::runtime_error("bench_compact: down_proj gather is wrong");
                }
            return;
        }
        throw std::runtime_error("bench_compact: no down_proj output");
    }
};

compaction& plan_for(bool spread) {
    static compaction spread_plan(true), contiguous_plan(false);
    return spread ? spread_plan : contiguous_plan;
}

void size_counters(benchmark::State& state, std::uint64_t written) {
    const auto& f = fixture();
    const auto& c = plan_for(true);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(written));
    state.counters["input_MB"] = static_cast<double>(f.in_bytes) * 1e-6;
    state.counters["output_MB"] = static_cast<double>(c.out_bytes) * 1e-6;
    state.counters["size_ratio"] = static_cast<double>(c.out_bytes) / static_cast<double>(f.in_bytes);
}

void bm_compact_fill_copy(benchmark::State& state) {
    auto& f = fixture();
    for (auto _ : state) {
        for (std::size_t i = 0; i < f.in_bufs.size(); ++i)
            std::memcpy(f.copy_bufs[i].data(), f.in_bufs[i].data(), f.in_bufs[i].size());
        benchmark::ClobberMemory();
    }
    size_counters(state, f.in_bytes);
}

void bm_compact_fill(benchmark::State& state, bool spread) {
    auto& c = plan_for(spread);
    c.fill();  // untimed: checks the result once
    c.check(spread);
    for (auto _ : state) {
        c.fill();
        benchmark::ClobberMemory();
    }
    size_counters(state, c.out_bytes);
}

const bool registered = [] {
    for (const std::size_t kv : {k_heads, std::size_t{4}})
        for (const bool compacted : {false, true})
            benchmark::RegisterBenchmark((std::string("bm_compact_block_gemm/") +
                                          (compacted ? "compacted" : "original") + (kv == k_heads ? "/mha" : "/gqa"))
                                             .c_str(),
                                         bm_compact_block_gemm, compacted, kv)
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
    benchmark::RegisterBenchmark("bm_compact_fill/copy_baseline", bm_compact_fill_copy)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark("bm_compact_fill/compact", bm_compact_fill, true)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark("bm_compact_fill/compact_contiguous", bm_compact_fill, false)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    return true;
}();

}  // namespace
