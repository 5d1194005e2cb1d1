#ifndef NNPRUNE_EXAMPLES_CLI_COMMAND_LINE_HPP
#define NNPRUNE_EXAMPLES_CLI_COMMAND_LINE_HPP

/// @file command_line.hpp
/// The tool's command line (CLI11): every subcommand, its options and where they are stored.
/// main() parses with it and runs the chosen command; the argument fuzzer parses with it too.

#include <cstddef>
#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "compact_command.hpp"
#include "prune_command.hpp"
#include "tokens_command.hpp"
#include <nnprune/config.hpp>
#include <nnprune/simd/isa.hpp>

namespace nnprune_cli {

struct inspect_args {
    std::string model;
    bool json = false;
};

struct gen_args {
    std::string out, dtype = "bf16", calib;
    std::string family = "llama";                       ///< --dir: llama|phi3|gpt2
    std::size_t heads = 4, kv_heads = 0, head_dim = 0;  ///< --dir: 0 = heads / hidden / heads
    bool dir = false;                                   ///< a model directory with config.json
    std::size_t layers = 2, hidden = 64, inter = 128, vocab = 96, shards = 1, quantize = 0;
    std::uint64_t seed = 1;
    bool calib_gradients = true;
    bool calib_reconstruction = false;
};

/// CLI11 reads an empty string as 0 (`--sparsity ''` would prune nothing and exit 0): every
/// numeric option of every subcommand refuses an empty value instead.
inline void reject_empty_numbers(CLI::App& app) {
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

/// The parser and the options it fills (not copyable: the parser points into the options).
struct command_line {
    CLI::App app{
        "nnprune: prune safetensors models (weights) and select tokens.\n"
        "Exit codes: 0 ok, 1 usage error, 2 bad input file, 3 I/O error, 4 other nnprune error."};
    prune_args prune_options;
    inspect_args inspect_options;
    tokens_args tokens_options;
    gen_args gen_options;
    compact_args compact_options;
    CLI::App* compact = nullptr;
    CLI::App *prune = nullptr, *inspect = nullptr, *divprune = nullptr, *fastv = nullptr, *gen = nullptr;
    CLI::App* tokens = nullptr;  ///< its parsed subcommand is the method (tokens_command.hpp)

    command_line() {
        app.name("nnprune");
        app.set_version_flag("--version", [] {  // the SIMD tier in use and the CPU's best (nnprune::simd::active_isa)
            return std::string("nnprune ") + std::to_string(NNPRUNE_VERSION_MAJOR) + "." +
                   std::to_string(NNPRUNE_VERSION_MINOR) + "." + std::to_string(NNPRUNE_VERSION_PATCH) +
                   "\nsimd: " + nnprune::simd::isa_name(nnprune::simd::active_isa()) +
                   " (cpu: " + nnprune::simd::isa_name(nnprune::simd::supported_isa()) +
                   "; NNPRUNE_ISA=scalar|avx2|avx512 lowers it)";
        });
        app.require_subcommand(1);

        prune = app.add_subcommand("prune", "Prune a model and write the pruned copy (streamed, bounded memory)");
        prune
            ->add_option("model", prune_options.model,
                         "MODEL: a .safetensors file, a model.safetensors.index.json or a directory")
            ->required();
        prune->add_option("-o,--output", prune_options.out, "OUT: output file (sharded input: output directory)")
            ->required();
        prune
            ->add_option("--method", prune_options.method,
                         "magnitude|wanda|lamp|taylor|gblm|random|sparsegpt (SparseGPT: mask and weight update, "
                         "needs <weight>.hessian in --calib)")
            ->capture_default_str();
        prune->add_option("--sparsity", prune_options.sparsity, "fraction pruned, in [0, 1] (ignored by N:M)")
            ->capture_default_str();
        prune
            ->add_option("--pattern", prune_options.pattern,
                         "unstructured|row|N:M (keep N of every M, e.g. 2:4)|block:RxC|channel")
            ->capture_default_str();
        prune
            ->add_option("--scope", prune_options.scope,
                         "layer: each tensor at the sparsity; global: one exact threshold over all")
            ->capture_default_str();
        prune
            ->add_option("--min-keep", prune_options.min_keep, "global scope: each tensor keeps at least this fraction")
            ->capture_default_str();
        prune
            ->add_option("--allocation", prune_options.allocation,
                         "uniform|lamp|owl (layer scope): per-tensor sparsities")
            ->capture_default_str();
        prune->add_option("--rounding", prune_options.rounding, "k = n * sparsity rounded: half-even|truncate|ceil")
            ->capture_default_str();
        prune->add_option("--owl-m", prune_options.owl_m, "OWL outlier multiple M")->capture_default_str();
        prune->add_option("--owl-lambda", prune_options.owl_lambda, "OWL lambda")->capture_default_str();
        prune->add_option("--include", prune_options.include,
                          "REGEX: prune only tensors whose name matches (searched); replaces the *.weight rule");
        prune->add_option("--exclude", prune_options.exclude,
                          "REGEX: never prune tensors whose name matches (searched)");
        prune->add_option("--calib", prune_options.calib,
                          "STATS.safetensors: <weight>.act_sq_mean or <weight>.act_l2 [in], <weight>.grad, "
                          "<weight>.grad_l2 [out, in], <weight>.hessian [in, in], <weight>.act_sum, .act_var [in]");
        prune
            ->add_option("--sparsegpt-mask", prune_options.sparsegpt_mask,
                         "--method sparsegpt, unstructured: block (exactly k per block of columns)|row (exactly k "
                         "per row of each block)|upstream (the reference's threshold)")
            ->capture_default_str();
        prune->add_option("--blocksize", prune_options.blocksize, "SparseGPT: columns per lazy batch")
            ->capture_default_str();
        prune->add_option("--percdamp", prune_options.percdamp, "SparseGPT: damping, a fraction of mean(diag H)")
            ->capture_default_str();
        prune->add_option("--refine", prune_options.refine,
                          "dsnot: refine each mask with DSnoT (needs <weight>.act_sum and .act_var in --calib)");
        prune->add_option("--update-masks", prune_options.update_masks,
                          "MASKS.safetensors: instead of choosing masks, apply these and update the kept weights "
                          "with SparseGPT's OBS step (needs <weight>.hessian in --calib)");
        prune->add_option("--masks", prune_options.masks,
                          "MASKS.safetensors: also write the masks (nnprune mask file, bitpacked-v1)");
        prune->add_option("--report", prune_options.report, "REPORT.json: per-tensor and total counts, time");
        prune
            ->add_option(
                "--threads", prune_options.threads,
                "threads for scoring and selection, plus a reader and a writer from 2 on (results do not depend on it)")
            ->capture_default_str();
        prune->add_option("--seed", prune_options.seed, "seed of --method random")->capture_default_str();
        prune->add_flag("-q,--quiet", prune_options.quiet, "no progress bar");
        prune->add_flag("--fsync", prune_options.fsync,
                        "make the outputs durable (fsync) before renaming them into place");

        compact = app.add_subcommand(
            "compact", "Remove attention heads, KV groups and MLP channels: write a smaller dense model directory");
        compact->add_option("model", compact_options.model, "MODEL_DIR: config.json and the (sharded) safetensors")
            ->required();
        compact->add_option("-o,--output", compact_options.out, "OUT_DIR: the compacted model directory")->required();
        compact->add_option("--heads-keep", compact_options.heads_keep,
                            "query heads kept per layer: a count (24) or a ratio (0.75); default all (or all of the "
                            "kept KV groups' heads)");
        compact->add_option("--kv-keep", compact_options.kv_keep,
                            "KV heads (GQA groups) kept per layer: a count or a ratio; default all");
        compact->add_option("--channels-keep", compact_options.channels_keep,
                            "MLP channels kept per layer: a count or a ratio; default all");
        compact
            ->add_option("--method", compact_options.method,
                         "magnitude|wanda|flap: how units are scored (wanda, flap: need --calib)")
            ->capture_default_str();
        compact->add_option("--calib", compact_options.calib,
                            "STATS.safetensors: <consumer weight>.act_sq_mean or .act_l2 (wanda), .flap_fluc "
                            "(flap), .flap_mean (--bias-compensation)");
        compact->add_option("--structure", compact_options.structure,
                            "FILE.json: the kept units of every layer (nnprune-structure v1) instead of the counts");
        compact->add_option("--save-structure", compact_options.save_structure,
                            "FILE.json: also write the selection used (committed with the model)");
        compact->add_flag("--make-uniform", compact_options.make_uniform,
                          "--structure not uniform: keep every layer's best units (by --method) at the mean counts");
        compact
            ->add_option("--bias-compensation", compact_options.bias_compensation,
                         "none|required|where-possible: FLAP's b += W[:, removed] * mean[removed] (needs "
                         "<weight>.flap_mean in --calib)")
            ->capture_default_str();
        compact->add_flag("--fsync", compact_options.fsync, "make the outputs durable before renaming them into place");

        inspect = app.add_subcommand("inspect", "List tensors: name, dtype, shape, elements, sparsity (exact zeros)");
        inspect->add_option("model", inspect_options.model, "MODEL: a .safetensors file, an index .json or a directory")
            ->required();
        inspect->add_flag("--json", inspect_options.json, "machine-readable output");

        add_tokens_commands();

        gen = app.add_subcommand("make-test-model", "generate a random LLaMA-shaped test checkpoint")->group("");
        gen->add_option("out", gen_options.out)->required();
        gen->add_option("--layers", gen_options.layers);
        gen->add_option("--hidden", gen_options.hidden);
        gen->add_option("--inter", gen_options.inter);
        gen->add_option("--vocab", gen_options.vocab);
        gen->add_option("--dtype", gen_options.dtype);
        gen->add_option("--shards", gen_options.shards);
        gen->add_option("--seed", gen_options.seed);
        gen->add_option("--quantize", gen_options.quantize, "values rounded to 1/Q steps (ties and zeros)");
        gen->add_option("--calib", gen_options.calib, "also write calibration statistics here");
        gen->add_flag("--dir", gen_options.dir,
                      "write a model directory: config.json and model.safetensors (or shards and an index)");
        gen->add_option("--family", gen_options.family, "--dir: llama|phi3|gpt2");
        gen->add_option("--heads", gen_options.heads, "--dir: attention heads");
        gen->add_option("--kv-heads", gen_options.kv_heads, "--dir: KV heads (default: --heads)");
        gen->add_option("--head-dim", gen_options.head_dim, "--dir: head_dim (default: hidden / heads; not gpt2)");
        gen->add_flag("!--no-calib-gradients", gen_options.calib_gradients, "--calib: the activation statistics only");
        gen->add_flag(
            "--calib-reconstruction", gen_options.calib_reconstruction,
            "--calib: also SparseGPT's <weight>.hessian (shared by k/v and up) and DSnoT's .act_sum, .act_var");
        reject_empty_numbers(app);
    }

    command_line(const command_line&) = delete;
    command_line& operator=(const command_line&) = delete;

    /// `tokens METHOD FILE ...`: one subcommand per method, each with the options it reads.
    void add_tokens_commands() {
        auto& t = tokens_options;
        tokens = app.add_subcommand("tokens", "Select or merge tokens (DivPrune, FastV, ToMe, SnapKV, ...)");
        tokens->require_subcommand(1);
        const auto method = [&](const char* name, const char* what) {
            auto* sub = tokens->add_subcommand(name, what);
            sub->add_option("file", t.file, "FILE.safetensors: the input tensors")->required();
            return sub;
        };
        const auto output = [&](CLI::App* sub) {
            sub->add_option("-o,--output", t.out, "OUT.safetensors: kept (I64) and the method's other outputs");
        };
        const auto budget = [&](CLI::App* sub, const char* unit) {
            sub->add_option("--keep", t.keep, std::string("number of ") + unit + " kept");
            sub->add_option("--ratio", t.ratio, std::string("fraction of ") + unit + " kept (k = round half-even)");
        };
        const auto threads = [&](CLI::App* sub) {
            sub->add_option("--threads", t.threads, "threads over the batch items (results do not depend on it)")
                ->capture_default_str();
        };

        divprune = method("divprune", "DivPrune on [N, d] features: kept token indices, ascending");
        fastv = method("fastv", "FastV on [heads, queries, keys] attention: kept image tokens (relative to --start)");
        for (auto* sub : {divprune, fastv}) {
            sub->add_option("--tensor", t.tensor, "tensor name")->required();
            budget(sub, "tokens");
            sub->add_option("-o,--output", t.out,
                            "OUT.json ({\"kept\": [...]}) or OUT.safetensors (I64 tensor \"kept\")");
        }
        fastv->add_option("--start", t.start, "first image token (key index)")->capture_default_str();
        fastv->add_option("--len", t.len, "number of image tokens (default: to the last key)");
        fastv->add_option("--mode", t.mode, "last|mean: attention of the last query or the mean over queries")
            ->capture_default_str();

        auto* tome = method("tome", "ToMe: bipartite soft matching and the size-weighted merge of x");
        tome->add_option("--r", t.r, "tokens merged away (clamped to (t - protected) / 2)");
        tome->add_flag("--class-token", t.class_token, "token 0 is [CLS]: never merged, stays first");
        tome->add_flag("--distill-token", t.distill_token, "token 1 is a distillation token: never merged into");

        auto* vzip = method("visionzip", "VisionZip: dominant tokens by [CLS] attention plus merged contextual tokens");
        vzip->add_option("--dominant", t.dominant, "dominant tokens, [CLS] included (default 191)");
        vzip->add_option("--contextual", t.contextual, "contextual (merged) tokens (default 30)");
        vzip->add_option("--cls", t.cls, "the [CLS] row")->capture_default_str();

        auto* snapkv = method("snapkv", "SnapKV: per head, the keys kept by the observation window's votes");
        snapkv->add_option("--window", t.window, "observation window w: the last w queries (default 32)");
        snapkv->add_option("--capacity", t.capacity, "keys kept per head, window included (default 2048)");
        snapkv->add_option("--kernel", t.kernel, "pooling kernel, odd (default 5)");
        snapkv->add_option("--pooling", t.pooling, "avg|max")->capture_default_str();
        snapkv->add_option("--kv-heads", t.kv_heads,
                           "G > 0: one selection per KV head, votes summed over its H/G query heads (not upstream)");

        auto* h2o = method("h2o", "H2O: the heavy-hitter cache after the attention steps attn.0, attn.1, ...");
        h2o->add_option("--hh-size", t.hh_size, "heavy hitters kept per KV head (default 1024)");
        h2o->add_option("--recent-size", t.recent_size, "the last tokens always kept (default 1024)");
        h2o->add_option("--kv-heads", t.kv_heads, "KV heads (GQA: the score sums each group; default: the heads)");
        h2o->add_option("--steps", t.steps, "use only the first N steps (default: all)");

        auto* think = method("think", "ThinK: per head, the key channels kept (query-driven)");
        think->add_option("--ratio,--pruning-ratio", t.ratio, "fraction of the channels PRUNED (default 0.4)");
        think->add_option("--query-window", t.query_window, "the last queries that score (default 32)");
        think->add_option("--recent-size", t.recent_size, "the last keys kept whole (default 32)");

        auto* cls = method("cls_attention", "FasterVLM / VTC-CLS: the image tokens of highest [CLS] attention");
        budget(cls, "image tokens");
        cls->add_option("--cls", t.cls, "the [CLS] position (query row and key column)")->capture_default_str();
        cls->add_option("--layers", t.layers, "FIRST:LAST: attn is [L, H, N+1, N+1]; the layers summed");
        cls->add_option("--start-layer", t.start_layer, "VTC-CLS: attn is [L, H, N+1, N+1]; layers START..L-2 summed");

        auto* pdrop = method("pyramid_drop", "PyramidDrop: the image tokens kept at one stage");
        pdrop->add_option("--img-start", t.img_start, "first image token (key index)")->capture_default_str();
        pdrop->add_option("--n-s", t.n_s, "image tokens now (default: to the last key, or the schedule's)");
        pdrop->add_option("--n-next", t.n_next, "image tokens kept");
        pdrop->add_option("--stage", t.stage, "S >= 1: keep the schedule's count of stage S (n_s: stage S - 1)");
        pdrop->add_option("--n0", t.n0, "--stage: the original image token count N0 (default: n_s)");
        pdrop->add_option("--layer-list", t.layer_list, "--stage: drop layers (default 8,16,24)");
        pdrop->add_option("--ratio-list", t.ratio_list,
                          "--stage: kept ratios of N0 (default 0.5,0.25,0.125; counts int(N0 * ratio))");

        auto* hip = method("hiprune", "HiPrune: anchors, their buffer and registers");
        hip->add_option("--budget", t.budget, "V: tokens kept (default 192)");
        hip->add_option("--alpha", t.alpha, "anchor share: n_a = round(V * alpha / 5) (default 0.1)");
        hip->add_option("--grid-width", t.grid_width, "patches per row (default 24)");
        hip->add_option("--cls", t.cls, "the [CLS] position")->capture_default_str();
        hip->add_option("--crops", t.crops, "B crops: the budget per crop is int(V / B)");

        auto* gp = method("gprune", "G-Prune: information flow on the similarity graph of the features");
        gp->add_option("--keep", t.keep, "number of tokens kept");
        gp->add_option("--ratio", t.ratio, "fraction kept: k = int((ratio * rows) * cols) (upstream)");
        gp->add_option("--rows", t.rows, "--ratio: grid rows (default N)");
        gp->add_option("--cols", t.cols, "--ratio: grid columns (default 1)");
        gp->add_option("--similarity", t.similarity, "edges below this cosine similarity dropped (default 0.5)");
        gp->add_option("--temperature", t.temperature, "softmax temperature (default 0.03)");
        gp->add_option("--iterations", t.iterations, "power of the transition matrix (default 5)");

        auto* holov = method("holov", "HoloV: crop-wise budget by attention and similarity variance");
        holov->add_option("--keep", t.keep, "K: tokens kept (upstream new_image_token_num)");
        holov->add_option("--crops", t.crops, "P: contiguous crops (default 16)");
        holov->add_option("--alpha", t.alpha, "weight of the similarity variance (default 0.09)");
        holov->add_option("--eps", t.eps, "upstream esp (default 1e-6)");

        for (auto* sub : {tome, vzip, snapkv, h2o, think, cls, pdrop, hip, gp, holov}) {
            output(sub);
            threads(sub);
        }
    }
};

}  // namespace nnprune_cli

#endif  // NNPRUNE_EXAMPLES_CLI_COMMAND_LINE_HPP
