// nnprune: the command-line tool (prune, compact, inspect, tokens). See examples/cli/README.md.
//
// Exit codes: 0 ok, 1 usage error, 2 bad input file, 3 I/O error, 4 other nnprune error.
// Every error message goes to stderr and starts with "nnprune: ".

#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "command_line.hpp"
#include "common.hpp"
#include "compact_command.hpp"
#include "output_directory.hpp"
#include "prune_command.hpp"
#include "tokens_command.hpp"
#include <nnprune/calibration/hessian_accumulator.hpp>
#include <nnprune/io/atomic_file.hpp>
#include <nnprune/io/safetensors_model.hpp>
#include <nnprune/io/safetensors_reader.hpp>
#include <nnprune/io/safetensors_writer.hpp>
#include <nnprune/scorers/random.hpp>
#include <nnprune/simd/isa.hpp>

namespace nnprune_cli {
namespace {

namespace fs = std::filesystem;
using nnprune::detail::str;

// ---------------------------------------------------------------------------------------------
// inspect

/// Exact zeros (+0 and -0 for floats, all-zero bytes otherwise) of a tensor.
std::size_t count_zeros(const nnprune::safetensors_tensor& t) {
    std::size_t z = 0;
    if (t.is_element() && t.rank() <= nnprune::max_rank) {
        nnprune::visit(t.ref(), [&](auto v) {
            nnprune::for_each_indexed(v, [&](std::size_t, auto x) { z += nnprune::to_float(x) == 0.0f; });
        });
    } else {
        const std::size_t es = nnprune::size_of(t.dtype());
        const auto b = t.bytes();
        for (std::size_t i = 0; i + es <= b.size(); i += es) {
            bool zero = true;
            for (std::size_t c = 0; c < es; ++c) zero = zero && b[i + c] == std::byte{0};
            z += zero;
        }
    }
    return z;
}

void run_inspect(const inspect_args& a) {
    const model_path mp = resolve_model_path(a.model);
    const nnprune::safetensors_model model(mp.path);

    struct row {
        std::string name, dtype, shape;
        std::vector<std::uint64_t> dims;
        std::size_t elements, zeros;
    };

    std::vector<row> rows;
    for (const auto& shard : model.shards()) {
        // the pages read are dropped every 64 MiB (tensors in data order are contiguous): bounded
        // memory without one madvise per tensor
        const std::byte* unreleased = nullptr;
        std::size_t pending = 0;
        for (std::size_t i = 0; i < shard.size(); ++i) {
            const auto t = shard.at(i);
            rows.push_back({t.name(), std::string(nnprune::name_of(t.dtype())), shape_text(t.shape()), t.shape(),
                            static_cast<std::size_t>(t.numel()), count_zeros(t)});
            if (!unreleased) unreleased = t.bytes().data();
            pending += t.bytes().size();
            if (pending >= (std::size_t{64} << 20) || i + 1 == shard.size()) {
                release_pages({unreleased, pending});
                unreleased = nullptr;
                pending = 0;
            }
        }
    }
    std::sort(rows.begin(), rows.end(), [](const row& x, const row& y) { return x.name < y.name; });
    std::size_t elems = 0, zeros = 0;
    for (const auto& r : rows) {
        elems += r.elements;
        zeros += r.zeros;
    }
    const auto frac = [](std::size_t z, std::size_t n) {
        return n ? static_cast<double>(z) / static_cast<double>(n) : 0.0;
    };
    if (a.json) {
        nlohmann::ordered_json j = {{"model", a.model}, {"tensors", nlohmann::ordered_json::array()}};
        for (const auto& r : rows)
            j["tensors"].push_back({{"name", r.name},
                                    {"dtype", r.dtype},
                                    {"shape", r.dims},
                                    {"elements", r.elements},
                                    {"zeros", r.zeros},
                                    {"sparsity", frac(r.zeros, r.elements)}});
        j["totals"] = {
            {"tensors", rows.size()}, {"elements", elems}, {"zeros", zeros}, {"sparsity", frac(zeros, elems)}};
        std::cout << j.dump(2) << '\n';
        return;
    }
    std::size_t w = 4;
    for (const auto& r : rows) w = std::max(w, r.name.size());
    std::printf("%-*s  %-7s  %-16s  %14s  %8s\n", static_cast<int>(w), "name", "dtype", "shape", "elements",
                "sparsity");
    for (const auto& r : rows)
        std::printf("%-*s  %-7s  %-16s  %14zu  %8.4f\n", static_cast<int>(w), r.name.c_str(), r.dtype.c_str(),
                    r.shape.c_str(), r.elements, frac(r.zeros, r.elements));
    std::printf("total: %zu tensors, %zu elements, %zu zeros, sparsity %.4f\n", rows.size(), elems, zeros,
                frac(zeros, elems));
}

// ---------------------------------------------------------------------------------------------
// make-test-model (hidden): a LLaMA-shaped random checkpoint, streamed to disk

struct gen_tensor {
    std::string name;
    nnprune::safetensors_dtype dtype;
    std::vector<std::uint64_t> shape;
    std::size_t shard;

    [[nodiscard]] std::size_t numel() const {
        std::size_t n = 1;
        for (auto e : shape) n *= static_cast<std::size_t>(e);
        return n;
    }
};

/// Deterministic value j of tensor `name` in [-0.05, 0.05) (quantized to 1/q steps when q > 0).
struct value_stream {
    nnprune::splitmix64 g;
    std::size_t q;

    value_stream(std::uint64_t seed, const std::string& name, std::size_t quant)
        : g(seed ^ nnprune::detail::fnv1a(name)), q(quant) {}

    double next() {
        double x = (static_cast<double>(g.uniform()) * 2.0 - 1.0);
        if (q) x = std::round(x * static_cast<double>(q)) / static_cast<double>(q);
        return x * 0.05;
    }
};

void fill_bytes(const gen_tensor& t, std::uint64_t seed, std::size_t quant, byte_sink& sink) {
    value_stream vs(seed, t.name, quant);
    const std::size_t n = t.numel();
    constexpr std::size_t slice = std::size_t{1} << 20;
    std::vector<std::byte> buf;
    for (std::size_t i0 = 0; i0 < n; i0 += slice) {
        const std::size_t len = std::min(slice, n - i0);
        buf.resize(len * nnprune::size_of(t.dtype));
        for (std::size_t i = 0; i < len; ++i) {
            const double x = vs.next();
            std::byte* p = buf.data() + i * nnprune::size_of(t.dtype);
            switch (t.dtype) {
                case nnprune::safetensors_dtype::BF16: {
                    const auto v = nnprune::bfloat16(x);
                    std::memcpy(p, &v, 2);
                    break;
                }
                case nnprune::safetensors_dtype::F16: {
                    const auto v = nnprune::float16(x);
                    std::memcpy(p, &v, 2);
                    break;
                }
                case nnprune::safetensors_dtype::F64:
                    std::memcpy(p, &x, 8);
                    break;
                case nnprune::safetensors_dtype::I64: {
                    const auto v = static_cast<std::int64_t>(i0 + i);
                    std::memcpy(p, &v, 8);
                    break;
                }
                default: {
                    const auto v = static_cast<float>(x);
                    std::memcpy(p, &v, 4);
                }
            }
        }
        sink.write(buf);
    }
}

/**
 * make-test-model --calib-reconstruction: per 2-D weight, SparseGPT's Hessian (<weight>.hessian,
 * [in, in] F32, from 2·in + 8 synthetic input tokens) and DSnoT's <weight>.act_sum and .act_var
 * [in] (random). k_proj and v_proj read q_proj's input, up_proj gate_proj's: they share its
 * Hessian through __metadata__ ('<weight>.hessian' -> the tensor that holds it).
 */
void add_reconstruction_stats(nnprune::safetensors_writer& w, const std::vector<gen_tensor>& ts, std::uint64_t seed,
                              std::vector<std::vector<float>>& keep) {
    auto shares_with = [](const std::string& n) -> std::string {
        for (const auto& [from, to] : {std::pair<std::string, std::string>{"self_attn.k_proj", "self_attn.q_proj"},
                                       {"self_attn.v_proj", "self_attn.q_proj"},
                                       {"mlp.up_proj", "mlp.gate_proj"}})
            if (const auto at = n.find(from); at != std::string::npos)
                return n.substr(0, at) + to + n.substr(at + from.size());
        return "";
    };
    for (const auto& t : ts) {
        if (t.shape.size() != 2 || t.dtype == nnprune::safetensors_dtype::I64) continue;
        const std::size_t cols = t.shape[1];
        value_stream vs(seed + 11, t.name + ".reconstruction", 0);
        auto& sum = keep.emplace_back(cols);
        for (auto& x : sum) x = static_cast<float>(vs.next() * 400.0);
        w.add_span<float>(t.name + ".act_sum", nnprune::safetensors_dtype::F32, {cols}, sum);
        auto& var = keep.emplace_back(cols);
        for (auto& x : var) x = static_cast<float>(std::abs(vs.next()) * 20.0 + 0.05);
        w.add_span<float>(t.name + ".act_var", nnprune::safetensors_dtype::F32, {cols}, var);
        if (const std::string owner = shares_with(t.name); !owner.empty()) {
            w.set_metadata(t.name + ".hessian", owner + ".hessian");
            continue;
        }
        const std::size_t tokens = 2 * cols + 8;
        std::vector<float> x(tokens * cols);
        for (std::size_t i = 0; i < x.size(); ++i)
            x[i] = static_cast<float>(vs.next() * 20.0) + (i % cols % 7 == 0 ? 0.5f : 0.0f);
        nnprune::hessian_accumulator h(cols);
        h.add(nnprune::matrix_view<const float>(x.data(), tokens, cols));
        const auto hv = h.hessian().as_matrix<const float>();
        auto& hb = keep.emplace_back(cols * cols);
        for (std::size_t i = 0; i < cols; ++i)
            for (std::size_t j = 0; j < cols; ++j) hb[i * cols + j] = hv(i, j);
        w.add_span<float>(t.name + ".hessian", nnprune::safetensors_dtype::F32, {cols, cols}, hb);
    }
}

/// make-test-model --dir: the tensors of a model of --family (llama, phi3 or gpt2) and its config.json.
std::vector<gen_tensor> family_tensors(const gen_args& a, nnprune::safetensors_dtype dt,
                                       nlohmann::ordered_json& config) {
    const std::size_t d = a.hidden, I = a.inter, V = a.vocab, S = a.shards, L = a.layers;
    const std::size_t H = a.heads, KV = a.kv_heads ? a.kv_heads : a.heads;
    if (H == 0 || d == 0 || I == 0)
        throw usage_error("make-test-model: --heads, --hidden and --inter must be positive");
    if (H % KV != 0) throw usage_error(str("make-test-model: --heads ", H, " is not a multiple of --kv-heads ", KV));
    if (!a.head_dim && d % H != 0)
        throw usage_error(
            str("make-test-model: --hidden ", d, " is not a multiple of --heads ", H, ": give --head-dim"));
    const std::size_t hd = a.head_dim ? a.head_dim : d / H;
    std::vector<gen_tensor> ts;
    const auto last = S - 1;
    if (a.family == "llama" || a.family == "phi3") {
        const bool phi3 = a.family == "phi3";
        ts.push_back({"model.embed_tokens.weight", dt, {V, d}, 0});
        for (std::size_t l = 0; l < L; ++l) {
            const std::size_t s = l * S / L;
            const std::string p = "model.layers." + std::to_string(l) + ".";
            if (phi3) {
                ts.push_back({p + "self_attn.qkv_proj.weight", dt, {(H + 2 * KV) * hd, d}, s});
                ts.push_back({p + "mlp.gate_up_proj.weight", dt, {2 * I, d}, s});
            } else {
                ts.push_back({p + "self_attn.q_proj.weight", dt, {H * hd, d}, s});
                ts.push_back({p + "self_attn.k_proj.weight", dt, {KV * hd, d}, s});
                ts.push_back({p + "self_attn.v_proj.weight", dt, {KV * hd, d}, s});
                ts.push_back({p + "mlp.gate_proj.weight", dt, {I, d}, s});
                ts.push_back({p + "mlp.up_proj.weight", dt, {I, d}, s});
            }
            ts.push_back({p + "self_attn.o_proj.weight", dt, {d, H * hd}, s});
            ts.push_back({p + "mlp.down_proj.weight", dt, {d, I}, s});
            ts.push_back({p + "input_layernorm.weight", dt, {d}, s});
            ts.push_back({p + "post_attention_layernorm.weight", dt, {d}, s});
        }
        ts.push_back({"model.norm.weight", dt, {d}, last});
        ts.push_back({"lm_head.weight", dt, {V, d}, last});
        ts.push_back({"model.rotary_emb.inv_freq", nnprune::safetensors_dtype::F32, {hd / 2}, last});
        config = {{"architectures", {phi3 ? "Phi3ForCausalLM" : "LlamaForCausalLM"}},
                  {"model_type", a.family},
                  {"hidden_size", d},
                  {"intermediate_size", I},
                  {"num_attention_heads", H},
                  {"num_key_value_heads", KV},
                  {"num_hidden_layers", L},
                  {"vocab_size", V},
                  {"rms_norm_eps", 1e-5},
                  {"tie_word_embeddings", false}};
        if (a.head_dim) config["head_dim"] = hd;
    } else if (a.family == "gpt2") {
        if (a.head_dim || a.kv_heads)
            throw usage_error("make-test-model --family gpt2: head_dim is hidden / heads and KV heads = heads");
        ts.push_back({"wte.weight", dt, {V, d}, 0});
        ts.push_back({"wpe.weight", dt, {16, d}, 0});
        for (std::size_t l = 0; l < L; ++l) {
            const std::size_t s = l * S / L;
            const std::string p = "h." + std::to_string(l) + ".";
            for (const char* n :
                 {"ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias", "attn.c_proj.bias", "mlp.c_proj.bias"})
                ts.push_back({p + n, dt, {d}, s});
            ts.push_back({p + "attn.c_attn.weight", dt, {d, 3 * d}, s});  // Conv1D: [in, out]
            ts.push_back({p + "attn.c_attn.bias", dt, {3 * d}, s});
            ts.push_back({p + "attn.c_proj.weight", dt, {d, d}, s});
            ts.push_back({p + "mlp.c_fc.weight", dt, {d, I}, s});
            ts.push_back({p + "mlp.c_fc.bias", dt, {I}, s});
            ts.push_back({p + "mlp.c_proj.weight", dt, {I, d}, s});
        }
        ts.push_back({"ln_f.weight", dt, {d}, last});
        ts.push_back({"ln_f.bias", dt, {d}, last});
        config = {{"architectures", {"GPT2LMHeadModel"}},
                  {"model_type", "gpt2"},
                  {"n_embd", d},
                  {"n_head", H},
                  {"n_layer", L},
                  {"n_inner", I},
                  {"n_positions", 16},
                  {"vocab_size", V}};
    } else {
        throw usage_error(str("make-test-model --family '", a.family, "' (llama|phi3|gpt2)"));
    }
    config["torch_dtype"] = a.dtype == "bf16"  ? "bfloat16"
                            : a.dtype == "f16" ? "float16"
                            : a.dtype == "f64" ? "float64"
                                               : "float32";
    return ts;
}

void run_make_test_model(const gen_args& a) {
    const auto dt = nnprune::parse_safetensors_dtype(a.dtype == "bf16"  ? "BF16"
                                                     : a.dtype == "f16" ? "F16"
                                                     : a.dtype == "f32" ? "F32"
                                                     : a.dtype == "f64" ? "F64"
                                                                        : "?");
    if (!dt) throw usage_error(str("make-test-model: --dtype '", a.dtype, "' (bf16|f16|f32|f64)"));
    if (a.shards == 0 || a.layers == 0) throw usage_error("make-test-model: --layers and --shards must be positive");
    const std::size_t H = a.hidden, I = a.inter, V = a.vocab, S = a.shards;
    std::vector<gen_tensor> ts;
    nlohmann::ordered_json config;
    if (a.dir) {
        ts = family_tensors(a, *dt, config);
    } else {
        ts.push_back({"model.embed_tokens.weight", *dt, {V, H}, 0});
        for (std::size_t l = 0; l < a.layers; ++l) {
            const std::size_t s = l * S / a.layers;
            const std::string p = "model.layers." + std::to_string(l) + ".";
            for (const char* q : {"q_proj", "k_proj", "v_proj", "o_proj"})
                ts.push_back({p + "self_attn." + q + ".weight", *dt, {H, H}, s});
            ts.push_back({p + "mlp.gate_proj.weight", *dt, {I, H}, s});
            ts.push_back({p + "mlp.up_proj.weight", *dt, {I, H}, s});
            ts.push_back({p + "mlp.down_proj.weight", *dt, {H, I}, s});
            ts.push_back({p + "input_layernorm.weight", *dt, {H}, s});
        }
        ts.push_back({"model.norm.weight", *dt, {H}, S - 1});
        ts.push_back({"lm_head.weight", *dt, {V, H}, S - 1});
        ts.push_back({"model.rotary_emb.inv_freq", nnprune::safetensors_dtype::F32, {H / 2}, S - 1});
        ts.push_back({"model.position_ids", nnprune::safetensors_dtype::I64, {16}, 0});
    }

    std::size_t max_bytes = 0;
    for (const auto& t : ts) max_bytes = std::max(max_bytes, t.numel() * nnprune::size_of(t.dtype));
    const std::unique_ptr<std::byte[]> witness(new std::byte[max_bytes]);  // never touched: only its size is used
    const std::map<std::string, std::string> md{{"format", "pt"}, {"generator", "nnprune make-test-model"}};

    const fs::path out = a.out;
    const bool in_dir = S > 1 || a.dir;
    if (in_dir) {
        std::error_code ec;
        fs::create_directories(out, ec);
        if (ec)
            NNPRUNE_THROW(nnprune::io_error, str("make-test-model: cannot create ", out.string(), ": ", ec.message()));
    }
    nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
    std::size_t total = 0;
    for (std::size_t s = 0; s < S; ++s) {
        char fname[64];
        std::snprintf(fname, sizeof fname, "model-%05zu-of-%05zu.safetensors", s + 1, S);
        std::vector<stream_entry> entries;
        std::vector<const gen_tensor*> which;
        for (const auto& t : ts)
            if (t.shard == s) {
                entries.push_back({t.name, t.dtype, t.shape, {witness.get(), t.numel() * nnprune::size_of(t.dtype)}});
                which.push_back(&t);
                weight_map[t.name] = fname;
                total += t.numel() * nnprune::size_of(t.dtype);
            }
        write_streamed(S > 1   ? out / fname
                       : a.dir ? out / "model.safetensors"
                               : out,
                       entries, md,
                       [&](std::size_t i, byte_sink& sink) { fill_bytes(*which[i], a.seed, a.quantize, sink); });
    }
    if (S > 1) {
        const nlohmann::ordered_json idx = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
        const std::string text = idx.dump(2) + "\n";
        nnprune::atomic_file f(out / "model.safetensors.index.json");
        f.write(std::as_bytes(std::span<const char>(text.data(), text.size())));
        f.commit();
    }
    if (a.dir) {
        for (const auto& [name, text] : {std::pair<std::string, std::string>{"config.json", config.dump(2) + "\n"},
                                         {"generation_config.json", "{\n  \"_from_model_config\": true\n}\n"}}) {
            nnprune::atomic_file f(out / name);
            f.write(std::as_bytes(std::span<const char>(text.data(), text.size())));
            f.commit();
        }
    }
    if (!a.calib.empty() && a.dir) {  // compact's statistics per 2-D weight, over its inputs
        nnprune::safetensors_writer w;
        std::vector<std::vector<float>> keep;
        for (const auto& t : ts) {
            if (t.shape.size() != 2 || t.dtype == nnprune::safetensors_dtype::I64) continue;
            const std::size_t in = a.family == "gpt2" && t.name.rfind("h.", 0) == 0 ? t.shape[0] : t.shape[1];
            value_stream vs(a.seed + 7, t.name + ".calib", 0);
            for (const char* suffix : {".act_sq_mean", ".flap_mean", ".flap_fluc"}) {
                auto& v = keep.emplace_back(in);
                for (auto& x : v)
                    x = static_cast<float>(std::string(suffix) == ".flap_mean" ? vs.next() * 20.0
                                                                               : std::abs(vs.next()) * 40.0 + 0.01);
                w.add_span<float>(t.name + suffix, nnprune::safetensors_dtype::F32, {in}, v);
            }
        }
        w.write(a.calib);
    } else if (!a.calib
                    .empty()) {  // statistics for every 2-D *.weight (built in memory: small models, or no gradients)
        nnprune::safetensors_writer w;
        std::vector<std::vector<float>> keep;
        for (const auto& t : ts) {
            if (t.shape.size() != 2 || t.dtype == nnprune::safetensors_dtype::I64) continue;
            const std::size_t rows = t.shape[0], cols = t.shape[1];
            value_stream vs(a.seed + 7, t.name + ".calib", 0);
            auto& act = keep.emplace_back(cols);
            for (auto& x : act) x = static_cast<float>(std::abs(vs.next()) * 40.0 + 0.01);
            w.add_span<float>(t.name + ".act_sq_mean", nnprune::safetensors_dtype::F32, {cols}, act);
            if (!a.calib_gradients) continue;
            auto& grad = keep.emplace_back(rows * cols);
            for (auto& x : grad) x = static_cast<float>(vs.next());
            w.add_span<float>(t.name + ".grad", nnprune::safetensors_dtype::F32, {rows, cols}, grad);
            auto& gl2 = keep.emplace_back(rows * cols);
            for (auto& x : gl2) x = static_cast<float>(std::abs(vs.next()));
            w.add_span<float>(t.name + ".grad_l2", nnprune::safetensors_dtype::F32, {rows, cols}, gl2);
        }
        if (a.calib_reconstruction) add_reconstruction_stats(w, ts, a.seed, keep);
        w.write(a.calib);
    }
}

// ---------------------------------------------------------------------------------------------

int fail(int code, const std::string& msg) {
    std::cerr << "nnprune: " << msg << '\n';
    return code;
}

/// SIGINT, SIGTERM, SIGHUP: the temporary files of the outputs being written (and the output
/// directory, if this run created it) are removed, then the signal takes its default action (the
/// exit status still says which signal ended the run).
void remove_temporaries_and_die(int sig) {
    nnprune::remove_atomic_temporaries();
    remove_created_directories();
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

/// SIGBUS: a mapped input (a header being parsed) was truncated by another process. The same
/// cleanup, a message, and exit code 3 (an I/O error). The tensors themselves are read with
/// pread, where truncation is an ordinary read error.
void truncated_input(int) {
    nnprune::remove_atomic_temporaries();
    remove_created_directories();
    constexpr char msg[] = "nnprune: an input file was truncated while it was read (SIGBUS); nothing was written\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(exit_io);
}

void install_signal_cleanup() {
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGBUS}) {
        struct sigaction sa {};

        sa.sa_handler = sig == SIGBUS ? truncated_input : remove_temporaries_and_die;
        sigemptyset(&sa.sa_mask);
        (void)::sigaction(sig, &sa, nullptr);
    }
}

#if NNPRUNE_FAULT_INJECTION
/// The fault-injection build (nnprune_fault_cli): NNPRUNE_FAULT_AT=N fails the N-th failable
/// call; at exit the number of calls made goes to stderr, so a test knows when N went past them.
struct fault_setup {
    fault_setup() {
        if (const char* at = std::getenv("NNPRUNE_FAULT_AT")) nnprune::detail::io_faults::fail_at = std::stoull(at);
    }

    ~fault_setup() {
        std::fprintf(stderr, "nnprune-faults: %llu calls\n",
                     static_cast<unsigned long long>(nnprune::detail::io_faults::calls.load()));
    }
};
#endif

}  // namespace
}  // namespace nnprune_cli

int main(int argc, char** argv) {
    using namespace nnprune_cli;
    command_line cl;
    CLI::App& app = cl.app;
    auto& pa = cl.prune_options;
    auto& ia = cl.inspect_options;
    auto& ga = cl.gen_options;
    auto *prune = cl.prune, *inspect = cl.inspect, *gen = cl.gen;
    install_signal_cleanup();
#if NNPRUNE_FAULT_INJECTION
    const fault_setup faults;
#endif
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help
        return fail(exit_usage, std::string(e.what()) + " (run with --help for usage)");
    }
    try {
        if (prune->parsed())
            run_prune(pa);
        else if (inspect->parsed())
            run_inspect(ia);
        else if (cl.tokens->parsed())
            run_tokens(cl.tokens_options, *cl.tokens->get_subcommands().at(0));
        else if (gen->parsed()) {
            for (const char* o : {"--family", "--heads", "--kv-heads", "--head-dim"})
                if (gen->count(o) && !ga.dir) throw usage_error(str("make-test-model ", o, " needs --dir"));
            run_make_test_model(ga);
        } else if (cl.compact->parsed())
            run_compact(cl.compact_options);
    } catch (const usage_error& e) {
        return fail(exit_usage, e.what());
    } catch (const input_error& e) {
        return fail(exit_format, e.what());
    } catch (const nnprune::format_error& e) {
        return fail(exit_format, e.what());
    } catch (const nnprune::io_error& e) {
        return fail(exit_io, e.what());
    } catch (const std::filesystem::filesystem_error& e) {
        return fail(exit_io, e.what());
    } catch (const std::exception& e) {
        return fail(exit_other, e.what());
    }
    return exit_ok;
}
