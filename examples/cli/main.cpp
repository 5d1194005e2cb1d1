// nnprune: the command-line tool (prune, inspect, tokens). See examples/cli/README.md.
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

#include "common.hpp"
#include "output_directory.hpp"
#include "prune_command.hpp"
#include <nnprune/io/atomic_file.hpp>
#include <nnprune/io/safetensors_model.hpp>
#include <nnprune/io/safetensors_reader.hpp>
#include <nnprune/io/safetensors_writer.hpp>
#include <nnprune/scorers/random.hpp>
#include <nnprune/simd/isa.hpp>
#include <nnprune/tokens/attention_scores.hpp>
#include <nnprune/tokens/divprune.hpp>

namespace nnprune_cli {
namespace {

namespace fs = std::filesystem;
using nnprune::detail::str;

// ---------------------------------------------------------------------------------------------
// inspect

struct inspect_args {
    std::string model;
    bool json = false;
};

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
// tokens

struct tokens_args {
    std::string file, tensor, out, mode = "last";
    std::size_t keep = 0, start = 0, len = 0;
    double ratio = -1.0;
};

nnprune::token_keep budget(const tokens_args& a, const CLI::App& sub) {
    const bool has_keep = sub.count("--keep") > 0, has_ratio = sub.count("--ratio") > 0;
    if (has_keep == has_ratio) throw usage_error("tokens: give exactly one of --keep K or --ratio R");
    if (has_keep) return nnprune::keep_count{a.keep};
    if (!(a.ratio >= 0.0 && a.ratio <= 1.0)) throw usage_error(str("tokens: --ratio must be in [0, 1], got ", a.ratio));
    return a.ratio;
}

template <class F>
decltype(auto) with_typed(const nnprune::safetensors_tensor& t, F&& f) {
    switch (t.ref().dtype()) {
        case nnprune::dtype::f64:
            return f(double{});
        case nnprune::dtype::bf16:
            return f(nnprune::bfloat16{});
        case nnprune::dtype::f16:
            return f(nnprune::float16{});
        case nnprune::dtype::f32:
            break;
    }
    return f(float{});
}

void emit_tokens(const tokens_args& a, const std::string& method, std::size_t n, const std::vector<std::size_t>& kept) {
    if (a.out.empty()) {
        for (std::size_t i = 0; i < kept.size(); ++i) std::cout << (i ? " " : "") << kept[i];
        std::cout << '\n';
        return;
    }
    const fs::path out = a.out;
    if (out.extension() == ".json") {
        const nlohmann::ordered_json j = {
            {"method", method}, {"file", a.file}, {"tensor", a.tensor}, {"tokens", n}, {"kept", kept}};
        const std::string text = j.dump() + "\n";
        nnprune::atomic_file f(out);
        f.write(std::as_bytes(std::span<const char>(text.data(), text.size())));
        f.commit();
        return;
    }
    std::vector<std::int64_t> v(kept.begin(), kept.end());
    nnprune::safetensors_writer w;
    w.add_span<std::int64_t>("kept", nnprune::safetensors_dtype::I64, {v.size()}, v);
    w.set_metadata("nnprune.method", method);
    w.set_metadata("nnprune.tensor", a.tensor);
    w.set_metadata("nnprune.tokens", std::to_string(n));
    w.write(out);
}

void run_divprune(const tokens_args& a, const CLI::App& sub) {
    const auto keep = budget(a, sub);
    const nnprune::safetensors_file f(a.file);
    const auto t = f.tensor(a.tensor);
    if (!t.is_element() || t.rank() != 2)
        throw input_error(str("tokens divprune: tensor '", a.tensor, "' is ", nnprune::name_of(t.dtype()), " ",
                              shape_text(t.shape()), "; expected floating [N, d] features"));
    const auto kept = with_typed(t, [&](auto tag) { return nnprune::divprune(t.view<decltype(tag), 2>(), keep); });
    emit_tokens(a, "divprune", static_cast<std::size_t>(t.shape()[0]), kept);
}

void run_fastv(const tokens_args& a, const CLI::App& sub) {
    const auto keep = budget(a, sub);
    if (a.mode != "last" && a.mode != "mean") throw usage_error(str("tokens fastv: --mode '", a.mode, "' (last|mean)"));
    const nnprune::safetensors_file f(a.file);
    const auto t = f.tensor(a.tensor);
    if (!t.is_element() || t.rank() != 3)
        throw input_error(str("tokens fastv: tensor '", a.tensor, "' is ", nnprune::name_of(t.dtype()), " ",
                              shape_text(t.shape()), "; expected floating [heads, queries, keys] attention"));
    const std::size_t len = sub.count("--len")
                                ? a.len
                                : static_cast<std::size_t>(t.shape()[2]) - std::min<std::size_t>(a.start, t.shape()[2]);
    const auto mode = a.mode == "last" ? nnprune::fastv_mode::last_query : nnprune::fastv_mode::mean_queries;
    const auto kept = with_typed(t, [&](auto tag) {
        return nnprune::fastv(t.view<decltype(tag), 3>(), nnprune::image_range{a.start, len}, keep, mode);
    });
    emit_tokens(a, "fastv", len, kept);
}

// ---------------------------------------------------------------------------------------------
// make-test-model (hidden): a LLaMA-shaped random checkpoint, streamed to disk

struct gen_args {
    std::string out, dtype = "bf16", calib;
    std::size_t layers = 2, hidden = 64, inter = 128, vocab = 96, shards = 1, quantize = 0;
    std::uint64_t seed = 1;
    bool calib_gradients = true;
};

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

    std::size_t max_bytes = 0;
    for (const auto& t : ts) max_bytes = std::max(max_bytes, t.numel() * nnprune::size_of(t.dtype));
    const std::unique_ptr<std::byte[]> witness(new std::byte[max_bytes]);  // never touched: only its size is used
    const std::map<std::string, std::string> md{{"format", "pt"}, {"generator", "nnprune make-test-model"}};

    const fs::path out = a.out;
    if (S > 1) {
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
        write_streamed(S > 1 ? out / fname : out, entries, md,
                       [&](std::size_t i, byte_sink& sink) { fill_bytes(*which[i], a.seed, a.quantize, sink); });
    }
    if (S > 1) {
        const nlohmann::ordered_json idx = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
        const std::string text = idx.dump(2) + "\n";
        nnprune::atomic_file f(out / "model.safetensors.index.json");
        f.write(std::as_bytes(std::span<const char>(text.data(), text.size())));
        f.commit();
    }
    if (!a.calib.empty()) {  // statistics for every 2-D *.weight (built in memory: small models, or no gradients)
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

/// CLI11 reads an empty string as 0 (`--sparsity ''` would prune nothing and exit 0): every
/// numeric option of every subcommand refuses an empty value instead.
void reject_empty_numbers(CLI::App& app) {
    static const CLI::Validator non_empty(
        [](std::string& v) { return v.empty() ? std::string("an empty value is not a number") : std::string(); }, "");
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        for (CLI::Option* o : sub->get_options()) {
            const std::string type = o->get_type_name();
            if (type == "FLOAT" || type == "INT" || type == "UINT" || type == "NUMBER") o->check(non_empty);
        }
        reject_empty_numbers(*sub);
    }
}

}  // namespace
}  // namespace nnprune_cli

int main(int argc, char** argv) {
    using namespace nnprune_cli;
    CLI::App app{
        "nnprune: prune safetensors models (weights) and select tokens.\n"
        "Exit codes: 0 ok, 1 usage error, 2 bad input file, 3 I/O error, 4 other nnprune error."};
    app.name("nnprune");
    app.set_version_flag("--version", [] {  // the SIMD tier in use and the CPU's best (nnprune::simd::active_isa)
        return std::string("nnprune ") + std::to_string(NNPRUNE_VERSION_MAJOR) + "." +
               std::to_string(NNPRUNE_VERSION_MINOR) + "." + std::to_string(NNPRUNE_VERSION_PATCH) +
               "\nsimd: " + nnprune::simd::isa_name(nnprune::simd::active_isa()) +
               " (cpu: " + nnprune::simd::isa_name(nnprune::simd::supported_isa()) +
               "; NNPRUNE_ISA=scalar|avx2|avx512 lowers it)";
    });
    app.require_subcommand(1);

    prune_args pa;
    auto* prune = app.add_subcommand("prune", "Prune a model and write the pruned copy (streamed, bounded memory)");
    prune->add_option("model", pa.model, "MODEL: a .safetensors file, a model.safetensors.index.json or a directory")
        ->required();
    prune->add_option("-o,--output", pa.out, "OUT: output file (sharded input: output directory)")->required();
    prune->add_option("--method", pa.method, "magnitude|wanda|lamp|taylor|gblm|random")->capture_default_str();
    prune->add_option("--sparsity", pa.sparsity, "fraction pruned, in [0, 1] (ignored by N:M)")->capture_default_str();
    prune->add_option("--pattern", pa.pattern, "unstructured|row|N:M (keep N of every M, e.g. 2:4)|block:RxC|channel")
        ->capture_default_str();
    prune->add_option("--scope", pa.scope, "layer: each tensor at the sparsity; global: one exact threshold over all")
        ->capture_default_str();
    prune->add_option("--min-keep", pa.min_keep, "global scope: each tensor keeps at least this fraction")
        ->capture_default_str();
    prune->add_option("--allocation", pa.allocation, "uniform|lamp|owl (layer scope): per-tensor sparsities")
        ->capture_default_str();
    prune->add_option("--rounding", pa.rounding, "k = n * sparsity rounded: half-even|truncate|ceil")
        ->capture_default_str();
    prune->add_option("--owl-m", pa.owl_m, "OWL outlier multiple M")->capture_default_str();
    prune->add_option("--owl-lambda", pa.owl_lambda, "OWL lambda")->capture_default_str();
    prune->add_option("--include", pa.include,
                      "REGEX: prune only tensors whose name matches (searched); replaces the *.weight rule");
    prune->add_option("--exclude", pa.exclude, "REGEX: never prune tensors whose name matches (searched)");
    prune->add_option(
        "--calib", pa.calib,
        "STATS.safetensors: <weight>.act_sq_mean or <weight>.act_l2 [in], <weight>.grad, <weight>.grad_l2 [out, in]");
    prune->add_option("--masks", pa.masks, "MASKS.safetensors: also write the masks (nnprune mask file, bitpacked-v1)");
    prune->add_option("--report", pa.report, "REPORT.json: per-tensor and total counts, time");
    prune
        ->add_option(
            "--threads", pa.threads,
            "threads for scoring and selection, plus a reader and a writer from 2 on (results do not depend on it)")
        ->capture_default_str();
    prune->add_option("--seed", pa.seed, "seed of --method random")->capture_default_str();
    prune->add_flag("-q,--quiet", pa.quiet, "no progress bar");
    prune->add_flag("--fsync", pa.fsync, "make the outputs durable (fsync) before renaming them into place");

    inspect_args ia;
    auto* inspect = app.add_subcommand("inspect", "List tensors: name, dtype, shape, elements, sparsity (exact zeros)");
    inspect->add_option("model", ia.model, "MODEL: a .safetensors file, an index .json or a directory")->required();
    inspect->add_flag("--json", ia.json, "machine-readable output");

    tokens_args ta;
    auto* tokens = app.add_subcommand("tokens", "Select tokens with DivPrune or FastV; prints the kept indices");
    tokens->require_subcommand(1);
    auto* divp = tokens->add_subcommand("divprune", "DivPrune on [N, d] features: kept token indices, ascending");
    auto* fastv = tokens->add_subcommand(
        "fastv", "FastV on [heads, queries, keys] attention: kept image tokens (relative to --start)");
    for (auto* sub : {divp, fastv}) {
        sub->add_option("file", ta.file, "FILE.safetensors")->required();
        sub->add_option("--tensor", ta.tensor, "tensor name")->required();
        sub->add_option("--keep", ta.keep, "number of tokens kept");
        sub->add_option("--ratio", ta.ratio, "fraction of tokens kept (k = round half-even)");
        sub->add_option("-o,--output", ta.out, "OUT.json ({\"kept\": [...]}) or OUT.safetensors (I64 tensor \"kept\")");
    }
    fastv->add_option("--start", ta.start, "first image token (key index)")->capture_default_str();
    fastv->add_option("--len", ta.len, "number of image tokens (default: to the last key)");
    fastv->add_option("--mode", ta.mode, "last|mean: attention of the last query or the mean over queries")
        ->capture_default_str();

    gen_args ga;
    auto* gen = app.add_subcommand("make-test-model", "generate a random LLaMA-shaped test checkpoint")->group("");
    gen->add_option("out", ga.out)->required();
    gen->add_option("--layers", ga.layers);
    gen->add_option("--hidden", ga.hidden);
    gen->add_option("--inter", ga.inter);
    gen->add_option("--vocab", ga.vocab);
    gen->add_option("--dtype", ga.dtype);
    gen->add_option("--shards", ga.shards);
    gen->add_option("--seed", ga.seed);
    gen->add_option("--quantize", ga.quantize, "values rounded to 1/Q steps (ties and zeros)");
    gen->add_option("--calib", ga.calib, "also write calibration statistics here");
    gen->add_flag("!--no-calib-gradients", ga.calib_gradients, "--calib: the activation statistics only");

    reject_empty_numbers(app);
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
        else if (divp->parsed())
            run_divprune(ta, *divp);
        else if (fastv->parsed())
            run_fastv(ta, *fastv);
        else if (gen->parsed())
            run_make_test_model(ga);
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
