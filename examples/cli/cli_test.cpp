// End-to-end tests of the nnprune command-line tool: run it on small generated models and check
// exit codes, messages, JSON reports and the written files against the library computed in memory.
// Usage: nnprune_cli_test PATH/TO/nnprune CASE WORKDIR

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include <nnprune/compact/family.hpp>
#include <nnprune/compact/selection.hpp>
#include <nnprune/io/mask_file.hpp>
#include <nnprune/io/safetensors_model.hpp>
#include <nnprune/io/safetensors_reader.hpp>
#include <nnprune/io/safetensors_writer.hpp>
#include <nnprune/prune/prune.hpp>
#include <nnprune/reconstruct/dsnot.hpp>
#include <nnprune/reconstruct/sparsegpt.hpp>
#include <nnprune/scorers/lamp.hpp>
#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/random.hpp>
#include <nnprune/scorers/wanda.hpp>
#include <nnprune/select/select.hpp>
#include <nnprune/simd/isa.hpp>
#include <nnprune/tokens/attention_scores.hpp>
#include <nnprune/tokens/cls_attention.hpp>
#include <nnprune/tokens/divprune.hpp>
#include <nnprune/tokens/gprune.hpp>
#include <nnprune/tokens/h2o.hpp>
#include <nnprune/tokens/hiprune.hpp>
#include <nnprune/tokens/holov.hpp>
#include <nnprune/tokens/pyramid_drop.hpp>
#include <nnprune/tokens/snapkv.hpp>
#include <nnprune/tokens/think.hpp>
#include <nnprune/tokens/tome.hpp>
#include <nnprune/tokens/visionzip.hpp>

namespace fs = std::filesystem;

namespace {

int g_failures = 0;
std::string g_exe;
fs::path g_dir;

#define EXPECT(cond, msg)                                                                      \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            ++g_failures;                                                                      \
            std::cerr << __FILE__ << ":" << __LINE__ << ": FAILED " #cond ": " << msg << '\n'; \
        }                                                                                      \
    } while (false)

struct run_result {
    int code;
    std::string out, err;
};

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

/// Runs `ENV nnprune ARGS` in the work directory (ENV: variable assignments, or empty).
run_result run_with(const std::string& env, const std::string& args) {
    const std::string cmd =
        "cd '" + g_dir.string() + "' && " + env + " '" + g_exe + "' " + args + " > out.txt 2> err.txt";
    const int st = std::system(cmd.c_str());
    run_result r{WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(g_dir / "out.txt"), slurp(g_dir / "err.txt")};
    std::cerr << "$ nnprune " << args << "  -> " << r.code << (r.err.empty() ? "" : "  stderr: " + r.err);
    if (r.err.empty()) std::cerr << '\n';
    return r;
}

/// Runs `nnprune ARGS` in the work directory.
run_result run(const std::string& args) { return run_with("", args); }

void expect_ok(const run_result& r) { EXPECT(r.code == 0, "exit " << r.code << ": " << r.err); }

void expect_fail(const run_result& r, int code, const std::string& needle) {
    EXPECT(r.code == code, "exit " << r.code << ", expected " << code);
    EXPECT(r.err.rfind("nnprune: ", 0) == 0, "stderr does not start with 'nnprune: ': " << r.err);
    EXPECT(r.err.find(needle) != std::string::npos, "stderr lacks '" << needle << "': " << r.err);
}

nlohmann::json read_json(const std::string& name) { return nlohmann::json::parse(slurp(g_dir / name)); }

/// Every file and directory under the work directory (but the runs' out.txt and err.txt), with
/// the files' bytes.
std::map<std::string, std::string> snapshot() {
    std::map<std::string, std::string> m;
    for (const auto& e : fs::recursive_directory_iterator(g_dir)) {
        const std::string rel = fs::relative(e.path(), g_dir).string();
        if (rel == "out.txt" || rel == "err.txt") continue;
        m[rel] = e.is_directory() ? std::string("<dir>") : slurp(e.path());
    }
    return m;
}

void make_model(const std::string& args) { expect_ok(run("make-test-model " + args)); }

bool default_selected(const nnprune::safetensors_tensor& t) {
    const std::string& n = t.name();
    return t.is_element() && t.rank() == 2 && n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0;
}

/// In-memory layers of the selected tensors, sorted by name (the CLI's list order).
struct model_layers {
    nnprune::safetensors_model model;
    std::optional<nnprune::safetensors_file> calib;
    std::vector<nnprune::layer> layers;

    model_layers(const fs::path& p, const std::string& grad_suffix = "", const fs::path& calib_path = {}) : model(p) {
        if (!calib_path.empty()) calib.emplace(calib_path);
        for (const auto& n : model.names()) {
            const auto t = model.tensor(n);
            if (!default_selected(t)) continue;
            nnprune::layer l{n, t.ref(), std::nullopt, std::nullopt};
            if (calib) {
                l.input_stat = calib->tensor(n + ".act_sq_mean").ref();
                if (!grad_suffix.empty()) l.gradient = calib->tensor(n + grad_suffix).ref();
            }
            layers.push_back(l);
        }
    }
};

/// Output checks shared by every prune: every tensor present with its dtype and shape, metadata
/// kept, unselected tensors byte-identical, selected ones equal to the input where the mask keeps
/// and +0 where it prunes, and the mask file equal to `want` (name -> mask).
void check_output(const fs::path& in, const fs::path& out, const fs::path& masks_file,
                  const std::map<std::string, nnprune::mask>& want) {
    const nnprune::safetensors_model a(in), b(out);
    EXPECT(a.names() == b.names(), "tensor names differ");
    EXPECT(a.metadata() == b.metadata(), "metadata differs");
    const auto masks = nnprune::load_masks(masks_file);
    EXPECT(masks.size() == want.size(), masks.size() << " masks, expected " << want.size());
    for (const auto& n : a.names()) {
        const auto x = a.tensor(n), y = b.tensor(n);
        EXPECT(x.dtype() == y.dtype() && x.shape() == y.shape(), n << ": dtype/shape differ");
        const auto it = want.find(n);
        if (it == want.end()) {
            EXPECT(x.bytes().size() == y.bytes().size() &&
                       std::equal(x.bytes().begin(), x.bytes().end(), y.bytes().begin()),
                   n << ": unselected tensor not byte-identical");
            continue;
        }
        const auto mit = masks.find(n);
        EXPECT(mit != masks.end() && mit->second == it->second, n << ": mask differs from the library's");
        const std::size_t es = nnprune::size_of(x.dtype());
        std::size_t bad = 0, zeros = 0;
        for (std::size_t i = 0; i < x.numel(); ++i) {
            const auto* px = x.bytes().data() + i * es;
            const auto* py = y.bytes().data() + i * es;
            const bool is_zero = std::all_of(py, py + es, [](std::byte c) { return c == std::byte{0}; });
            zeros += is_zero;
            if (it->second.test(i) ? std::memcmp(px, py, es) != 0 : !is_zero) ++bad;
        }
        EXPECT(bad == 0, n << ": " << bad << " elements differ from input * mask");
        // the generated models have no exact zeros unless quantized: then zeros == pruned exactly
        (void)zeros;
    }
}

std::map<std::string, nnprune::mask> by_name(const std::vector<nnprune::layer>& layers,
                                             std::vector<nnprune::mask> masks) {
    std::map<std::string, nnprune::mask> m;
    for (std::size_t i = 0; i < layers.size(); ++i) m.emplace(layers[i].name, std::move(masks[i]));
    return m;
}

template <class S, class P>
std::map<std::string, nnprune::mask> layer_masks(const model_layers& ml, const S& s, const P& p, double sparsity,
                                                 nnprune::rounding r = nnprune::rounding::half_even) {
    std::vector<nnprune::mask> out;
    for (const auto& l : ml.layers) {
        const auto sc = nnprune::score(s, l);
        nnprune::mask m(l.weights.shape());
        nnprune::select_options o;
        o.round = r;
        if constexpr (std::is_same_v<P, nnprune::n_of_m>)
            (void)nnprune::select_mask(sc.ref(), p, m.view(), o);
        else
            (void)nnprune::select_mask(sc.ref(), p, sparsity, m.view(), o);
        out.push_back(std::move(m));
    }
    return by_name(ml.layers, std::move(out));
}

template <class S>
std::map<std::string, nnprune::mask> global_masks(const model_layers& ml, const S& s, double sparsity,
                                                  double min_keep = 0.0) {
    std::vector<nnprune::score_tensor> sc;
    std::vector<nnprune::tensor_ref> refs;
    std::vector<nnprune::mask> out;
    std::vector<nnprune::mask_view> views;
    for (const auto& l : ml.layers) {
        sc.push_back(nnprune::score(s, l));
        out.emplace_back(l.weights.shape());
    }
    for (auto& x : sc) refs.push_back(x.ref());
    for (auto& m : out) views.push_back(m.view());
    nnprune::global_options o;
    o.min_keep_fraction = min_keep;
    (void)nnprune::select_global(refs, sparsity, views, o);
    return by_name(ml.layers, std::move(out));
}

/// The tool's OWL blocks: model.layers.N. is a block; every other tensor is a block of its own.
std::vector<std::size_t> owl_blocks(const std::vector<nnprune::layer>& layers) {
    std::vector<std::size_t> block_of;
    std::map<std::string, std::size_t> ids;
    for (const auto& l : layers) {
        const auto p = l.name.find(".layers.");
        const std::string key = p == std::string::npos ? l.name : l.name.substr(0, l.name.find('.', p + 8) + 1);
        block_of.push_back(ids.emplace(key, ids.size()).first->second);
    }
    return block_of;
}

void check_report(const std::string& report, const std::map<std::string, nnprune::mask>& want, std::size_t n_tensors) {
    const auto r = read_json(report);
    EXPECT(r["command"] == "prune", "report command");
    EXPECT(r["isa"] == nnprune::simd::isa_name(nnprune::simd::active_isa()), "report isa " << r["isa"]);
    EXPECT(r["tensors"].size() == n_tensors, "report lists " << r["tensors"].size() << " tensors");
    std::size_t elems = 0, kept = 0;
    for (const auto& t : r["tensors"]) {
        const std::string n = t["name"];
        const auto it = want.find(n);
        EXPECT(t["pruned"] == (it != want.end()), n << ": report 'pruned'");
        if (it == want.end()) continue;
        EXPECT(t["kept"] == it->second.count() && t["elements"] == it->second.size(), n << ": report kept/elements");
        EXPECT(std::abs(t["sparsity"].get<double>() - it->second.sparsity()) < 1e-12, n << ": report sparsity");
        EXPECT(t.contains("shape") && t.contains("dtype"), n << ": report shape/dtype");
        elems += it->second.size();
        kept += it->second.count();
    }
    EXPECT(r["totals"]["elements"] == elems && r["totals"]["kept"] == kept, "report totals");
    EXPECT(r["time_seconds"].get<double>() >= 0.0, "report time");
}

// ---------------------------------------------------------------------------------------------

void case_usage() {
    expect_fail(run(""), 1, "");
    expect_fail(run("prune"), 1, "");
    expect_ok(run("--help"));
    expect_ok(run("prune --help"));
    {  // --version names the tier in use and the CPU's best; NNPRUNE_ISA=scalar lowers the first
        const auto v = run("--version");
        expect_ok(v);
        const std::string cpu = std::string("(cpu: ") + nnprune::simd::isa_name(nnprune::simd::supported_isa());
        EXPECT(v.out.find(std::string("simd: ") + nnprune::simd::isa_name(nnprune::simd::active_isa())) !=
                       std::string::npos &&
                   v.out.find(cpu) != std::string::npos,
               "--version: " << v.out);
        EXPECT(run("--version").out.find("nnprune 0.") == 0, "--version starts with the version");
    }
    make_model("m.safetensors");
    expect_fail(run("prune m.safetensors -o o.safetensors --method nope"), 1, "unknown method 'nope'");
    expect_fail(run("prune m.safetensors -o o.safetensors --pattern 5:4"), 1, "N <= M");
    expect_fail(run("prune m.safetensors -o o.safetensors --pattern row --scope global"), 1,
                "--scope global needs --pattern unstructured");
    expect_fail(run("prune m.safetensors -o o.safetensors --sparsity 1.5"), 1, "--sparsity must be in [0, 1]");
    expect_fail(run("prune m.safetensors -o o.safetensors --min-keep 0.2"), 1, "--min-keep needs --scope global");
    expect_fail(run("prune m.safetensors -o o.safetensors --method wanda"), 1, "needs calibration statistics");
    expect_fail(run("prune m.safetensors -o o.safetensors --include '('"), 1, "invalid regular expression");
    expect_fail(run("prune m.safetensors -o o.safetensors --include nothing_matches"), 1, "no tensor selected");
    EXPECT(!fs::exists(g_dir / "o.safetensors"), "output written despite a usage error");
}

void case_inspect() {
    make_model("m.safetensors --quantize 8");
    const auto r = run("inspect m.safetensors --json");
    expect_ok(r);
    const auto j = nlohmann::json::parse(r.out);
    const nnprune::safetensors_file f(g_dir / "m.safetensors");
    EXPECT(j["totals"]["tensors"] == f.size(), "inspect tensor count");
    std::size_t zeros = 0, elems = 0;
    for (const auto& t : j["tensors"]) {
        const auto x = f.tensor(t["name"].get<std::string>());
        std::size_t z = 0;
        if (x.is_element())
            nnprune::visit(x.ref(), [&](auto v) {
                nnprune::for_each_indexed(v, [&](std::size_t, auto e) { z += nnprune::to_float(e) == 0.0f; });
            });
        else
            for (auto v : x.data<std::int64_t>()) z += v == 0;
        EXPECT(t["zeros"] == z && t["elements"] == x.numel(), t["name"] << ": zeros " << t["zeros"] << " vs " << z);
        zeros += z;
        elems += x.numel();
    }
    EXPECT(j["totals"]["zeros"] == zeros && j["totals"]["elements"] == elems, "inspect totals");
    const auto txt = run("inspect m.safetensors");
    expect_ok(txt);
    EXPECT(txt.out.find("model.layers.1.mlp.down_proj.weight") != std::string::npos &&
               txt.out.find("total: ") != std::string::npos,
           "inspect table");
}

void case_layer() {
    make_model("m.safetensors --dtype bf16");
    expect_ok(run("prune m.safetensors -o o.safetensors --sparsity 0.3 --masks k.safetensors --report r.json -q"));
    const model_layers ml(g_dir / "m.safetensors");
    const auto want = layer_masks(ml, nnprune::magnitude_scorer{}, nnprune::per_tensor{}, 0.3);
    check_output(g_dir / "m.safetensors", g_dir / "o.safetensors", g_dir / "k.safetensors", want);
    check_report("r.json", want, nnprune::safetensors_file(g_dir / "m.safetensors").size());
    for (const auto& [n, m] : want)
        EXPECT(m.pruned() == nnprune::count_to_prune(m.size(), 0.3), n << ": not exactly k pruned");
    // exact sparsity of the written tensors: continuous data has no zeros, so zeros == pruned
    const auto j = nlohmann::json::parse(run("inspect o.safetensors --json").out);
    for (const auto& t : j["tensors"]) {
        const auto it = want.find(t["name"].get<std::string>());
        if (it != want.end()) EXPECT(t["zeros"] == it->second.pruned(), t["name"] << ": output zeros " << t["zeros"]);
    }
    // f32 and random with a seed, --include/--exclude
    make_model("m32.safetensors --dtype f32 --seed 5");
    expect_ok(
        run("prune m32.safetensors -o o32.safetensors --method random --seed 9 --sparsity 0.6 --exclude lm_head "
            "--masks k32.safetensors -q --threads 2"));
    model_layers m32(g_dir / "m32.safetensors");
    std::erase_if(m32.layers, [](const nnprune::layer& l) { return l.name == "lm_head.weight"; });
    check_output(g_dir / "m32.safetensors", g_dir / "o32.safetensors", g_dir / "k32.safetensors",
                 layer_masks(m32, nnprune::random_scorer{9}, nnprune::per_tensor{}, 0.6));
    expect_ok(run("prune m32.safetensors -o o33.safetensors --include 'mlp\\.' --masks k33.safetensors -q"));
    EXPECT(nnprune::load_masks(g_dir / "k33.safetensors").size() == 6, "--include selects the 6 mlp weights");
}

void case_patterns() {
    make_model("m.safetensors --dtype f16 --quantize 16");
    const model_layers ml(g_dir / "m.safetensors");
    const fs::path in = g_dir / "m.safetensors";
    expect_ok(run("prune m.safetensors -o o1.safetensors --pattern row --sparsity 0.25 --masks k1.safetensors -q"));
    check_output(in, g_dir / "o1.safetensors", g_dir / "k1.safetensors",
                 layer_masks(ml, nnprune::magnitude_scorer{}, nnprune::per_row{}, 0.25));
    expect_ok(run("prune m.safetensors -o o2.safetensors --pattern 2:4 --masks k2.safetensors -q"));
    const auto nm = layer_masks(ml, nnprune::magnitude_scorer{}, nnprune::n_of_m{2, 4}, 0.0);
    check_output(in, g_dir / "o2.safetensors", g_dir / "k2.safetensors", nm);
    for (const auto& [n, m] : nm)
        for (std::size_t g = 0; g < m.size(); g += 4)
            EXPECT(m.test(g) + m.test(g + 1) + m.test(g + 2) + m.test(g + 3) == 2,
                   n << ": group " << g << " does not keep 2 of 4");
    expect_ok(
        run("prune m.safetensors -o o3.safetensors --pattern block:4x8 --sparsity 0.5 --masks k3.safetensors -q"));
    check_output(in, g_dir / "o3.safetensors", g_dir / "k3.safetensors",
                 layer_masks(ml, nnprune::magnitude_scorer{}, nnprune::blocks{4, 8}, 0.5));
    expect_ok(
        run("prune m.safetensors -o o4.safetensors --pattern channel --sparsity 0.5 --masks k4.safetensors -q "
            "--rounding truncate"));
    check_output(in, g_dir / "o4.safetensors", g_dir / "k4.safetensors",
                 layer_masks(ml, nnprune::magnitude_scorer{}, nnprune::channels{0}, 0.5, nnprune::rounding::truncate));
    make_model("odd.safetensors --hidden 18 --inter 30");
    expect_fail(run("prune odd.safetensors -o x.safetensors --pattern 2:4"), 4, "not a multiple of M = 4");
}

void case_global() {
    // quantized values: many ties, so the tie rule (lower tensor in name order, then lower index) is exercised
    make_model("m.safetensors --quantize 20 --layers 3");
    const model_layers ml(g_dir / "m.safetensors");
    expect_ok(
        run("prune m.safetensors -o o.safetensors --scope global --sparsity 0.45 --masks k.safetensors --report r.json "
            "-q"));
    const auto want = global_masks(ml, nnprune::magnitude_scorer{}, 0.45);
    check_output(g_dir / "m.safetensors", g_dir / "o.safetensors", g_dir / "k.safetensors", want);
    check_report("r.json", want, nnprune::safetensors_file(g_dir / "m.safetensors").size());
    const auto r = read_json("r.json");
    EXPECT(r["global"]["k"] == r["totals"]["elements"].get<std::size_t>() - r["totals"]["kept"].get<std::size_t>(),
           "global k");
    // LAMP scores (continuous), sparsities 0 and 1
    expect_ok(run(
        "prune m.safetensors -o o2.safetensors --scope global --method lamp --sparsity 0.7 --masks k2.safetensors -q"));
    check_output(g_dir / "m.safetensors", g_dir / "o2.safetensors", g_dir / "k2.safetensors",
                 global_masks(ml, nnprune::lamp_scorer{}, 0.7));
    for (const char* s : {"0", "1"}) {
        expect_ok(run(
            std::string("prune m.safetensors -o o3.safetensors --scope global --masks k3.safetensors -q --sparsity ") +
            s));
        check_output(g_dir / "m.safetensors", g_dir / "o3.safetensors", g_dir / "k3.safetensors",
                     global_masks(ml, nnprune::magnitude_scorer{}, std::stod(s)));
    }
}

void case_global_min_keep() {
    make_model("m.safetensors --quantize 30 --layers 2");
    const model_layers ml(g_dir / "m.safetensors");
    for (const char* mk : {"0.5", "0.48", "0.3"}) {
        expect_ok(run(std::string("prune m.safetensors -o o.safetensors --scope global --sparsity 0.5 --masks "
                                  "k.safetensors -q --min-keep ") +
                      mk));
        check_output(g_dir / "m.safetensors", g_dir / "o.safetensors", g_dir / "k.safetensors",
                     global_masks(ml, nnprune::magnitude_scorer{}, 0.5, std::stod(mk)));
    }
    expect_fail(run("prune m.safetensors -o o.safetensors --scope global --sparsity 0.6 --min-keep 0.5"), 4,
                "the minimum kept per tensor allows only");
}

/// What write_calib_variant does with one tensor of the calibration file.
enum calib_edit { same, drop, to_l2, also_l2, to_old, negative_l2 };

/// Writes a copy of `from` (in the work directory) with each tensor edited as edit(name) says:
/// to_l2 replaces W.act_sq_mean by W.act_l2 = 2 * sqrt(act_sq_mean) (float32), also_l2 adds it,
/// to_old renames it W.act_norm, negative_l2 writes W.act_l2 = -1, 2, 2, ...
void write_calib_variant(const std::string& name, const std::function<calib_edit(const std::string&)>& edit,
                         const std::string& from = "c.safetensors") {
    const nnprune::safetensors_file c(g_dir / from);
    nnprune::safetensors_writer w;
    std::vector<std::vector<float>> keep;
    for (const auto& n : c.names()) {
        const auto t = c.tensor(n);
        const auto e = edit(n);
        const std::string base = n.substr(0, n.rfind('.'));
        if (e == same || e == also_l2) w.add_raw(n, t.dtype(), t.shape(), t.bytes());
        if (e == to_old) w.add_raw(base + ".act_norm", t.dtype(), t.shape(), t.bytes());
        if (e == to_l2 || e == also_l2 || e == negative_l2) {
            auto& v = keep.emplace_back(nnprune::detail::to_float_vector(t.ref()));
            for (std::size_t j = 0; j < v.size(); ++j)
                v[j] = e == negative_l2 ? (j ? 2.0f : -1.0f) : 2.0f * std::sqrt(v[j]);
            w.add_span<float>(base + ".act_l2", nnprune::safetensors_dtype::F32, t.shape(), v);
        }
    }
    w.write(g_dir / name);
}

void case_calib() {
    make_model("m.safetensors --calib c.safetensors --dtype bf16");
    const fs::path in = g_dir / "m.safetensors";
    {
        const model_layers ml(in, "", g_dir / "c.safetensors");
        expect_ok(
            run("prune m.safetensors -o o.safetensors --method wanda --pattern row --rounding truncate --calib "
                "c.safetensors "
                "--masks k.safetensors -q"));
        check_output(in, g_dir / "o.safetensors", g_dir / "k.safetensors",
                     layer_masks(ml, nnprune::wanda_scorer{}, nnprune::per_row{}, 0.5, nnprune::rounding::truncate));
    }
    {
        const model_layers ml(in, ".grad", g_dir / "c.safetensors");
        expect_ok(
            run("prune m.safetensors -o o.safetensors --method taylor --calib c.safetensors --masks k.safetensors -q"));
        check_output(in, g_dir / "o.safetensors", g_dir / "k.safetensors",
                     layer_masks(ml, nnprune::taylor_scorer{}, nnprune::per_tensor{}, 0.5));
    }
    {
        const model_layers ml(in, ".grad_l2", g_dir / "c.safetensors");
        expect_ok(
            run("prune m.safetensors -o o.safetensors --method gblm --scope global --calib c.safetensors --masks "
                "k.safetensors -q"));
        check_output(in, g_dir / "o.safetensors", g_dir / "k.safetensors",
                     global_masks(ml, nnprune::gblm_scorer{}, 0.5));
    }
    // a statistic missing for one tensor: exit 2 naming it, nothing written
    const std::string up = "model.layers.1.mlp.up_proj.weight";
    fs::remove(g_dir / "o.safetensors");
    write_calib_variant("c2.safetensors", [&](const std::string& n) { return n == up + ".act_sq_mean" ? drop : same; });
    expect_fail(run("prune m.safetensors -o o.safetensors --method wanda --calib c2.safetensors"), 2,
                "no statistic '" + up + ".act_sq_mean' or '" + up + ".act_l2' for tensor '" + up + "'");
    EXPECT(!fs::exists(g_dir / "o.safetensors"), "output written despite a missing statistic");
}

/// The two names of the activation statistic: W.act_sq_mean (Wanda's scaler_row) and W.act_l2
/// (the per-column L2 norm); both or neither is an error naming the tensor, the old W.act_norm is
/// refused with the new names, and gblm (whose score adds the statistic to |G|) takes only the
/// exact one.
void case_calib_names() {
    make_model("m.safetensors --calib c.safetensors --dtype bf16 --quantize 40");
    const fs::path in = g_dir / "m.safetensors";
    const model_layers ml(in, "", g_dir / "c.safetensors");
    const std::string up = "model.layers.1.mlp.up_proj.weight";
    // act_l2 = 2 * sqrt(act_sq_mean) (four sequences): Wanda's masks are identical, ties included
    write_calib_variant("l2.safetensors",
                        [](const std::string& n) { return n.ends_with(".act_sq_mean") ? to_l2 : same; });
    for (const char* pattern : {"row", "unstructured", "2:4"}) {
        expect_ok(run(
            std::string(
                "prune m.safetensors -o o.safetensors --method wanda --calib l2.safetensors --masks k.safetensors -q "
                "--pattern ") +
            pattern));
        const std::string p = pattern;
        const auto want = p == "row"   ? layer_masks(ml, nnprune::wanda_scorer{}, nnprune::per_row{}, 0.5)
                          : p == "2:4" ? layer_masks(ml, nnprune::wanda_scorer{},
                                                     nnprune::n_of_m{2, 4, nnprune::nm_tail::reject}, 0.5)
                                       : layer_masks(ml, nnprune::wanda_scorer{}, nnprune::per_tensor{}, 0.5);
        check_output(in, g_dir / "o.safetensors", g_dir / "k.safetensors", want);
    }
    fs::remove(g_dir / "o.safetensors");
    expect_fail(run("prune m.safetensors -o o.safetensors --method gblm --calib l2.safetensors -q"), 2,
                "--method gblm needs '");
    // both names for one tensor
    write_calib_variant("both.safetensors",
                        [&](const std::string& n) { return n == up + ".act_sq_mean" ? also_l2 : same; });
    expect_fail(run("prune m.safetensors -o o.safetensors --method wanda --calib both.safetensors -q"), 2,
                "both '" + up + ".act_sq_mean' and '" + up + ".act_l2' are present for tensor '" + up + "'");
    // neither (the gradients alone)
    write_calib_variant("neither.safetensors",
                        [&](const std::string& n) { return n == up + ".act_sq_mean" ? drop : same; });
    expect_fail(run("prune m.safetensors -o o.safetensors --method gblm --calib neither.safetensors -q"), 2,
                "no statistic '" + up + ".act_sq_mean' or '" + up + ".act_l2' for tensor '" + up + "'");
    // the old name: refused, with the new names
    write_calib_variant("old.safetensors",
                        [](const std::string& n) { return n.ends_with(".act_sq_mean") ? to_old : same; });
    expect_fail(run("prune m.safetensors -o o.safetensors --method wanda --calib old.safetensors -q"), 2,
                "is no longer read");
    const auto r = run("prune m.safetensors -o o.safetensors --method wanda --calib old.safetensors -q");
    EXPECT(r.err.find(".act_sq_mean'") != std::string::npos && r.err.find(".act_l2'") != std::string::npos,
           "the old-name message lacks the new names: " << r.err);
    // a negative "norm" is refused naming the column
    write_calib_variant("neg.safetensors",
                        [&](const std::string& n) { return n == up + ".act_sq_mean" ? negative_l2 : same; });
    write_calib_variant(
        "neg2.safetensors",
        [&](const std::string& n) { return n.ends_with(".act_sq_mean") && n != up + ".act_sq_mean" ? to_l2 : same; },
        "neg.safetensors");
    expect_fail(run("prune m.safetensors -o o.safetensors --method wanda --calib neg2.safetensors -q"), 2,
                "'" + up + ".act_l2' column 0 is -");
    EXPECT(!fs::exists(g_dir / "o.safetensors"), "output written despite a bad statistic");
}

void case_allocation() {
    make_model("m.safetensors --calib c.safetensors --layers 4");
    const fs::path in = g_dir / "m.safetensors";
    const model_layers ml(in, "", g_dir / "c.safetensors");
    const auto block_of = owl_blocks(ml.layers);
    expect_ok(
        run("prune m.safetensors -o o.safetensors --method wanda --calib c.safetensors --allocation owl --owl-m 1.5 "
            "--sparsity 0.6 "
            "--masks k.safetensors --report r.json -q"));
    {
        const auto res = nnprune::prune(ml.layers, nnprune::wanda_scorer{}, nnprune::per_tensor{},
                                        nnprune::owl{0.6, 1.5, 0.08, block_of});
        check_output(in, g_dir / "o.safetensors", g_dir / "k.safetensors", by_name(ml.layers, res.masks));
        const auto r = read_json("r.json");
        for (const auto& t : r["tensors"])
            if (t["pruned"] == true) {
                const auto it = std::find_if(res.layers.begin(), res.layers.end(),
                                             [&](const auto& x) { return x.name == t["name"]; });
                EXPECT(std::abs(t["target"].get<double>() - it->target) < 1e-12, t["name"] << ": owl target");
            }
    }
    expect_ok(run("prune m.safetensors -o o.safetensors --allocation lamp --sparsity 0.6 --masks k.safetensors -q"));
    const model_layers plain(in);
    const auto res =
        nnprune::prune(plain.layers, nnprune::magnitude_scorer{}, nnprune::per_tensor{}, nnprune::lamp_global{0.6});
    check_output(in, g_dir / "o.safetensors", g_dir / "k.safetensors", by_name(plain.layers, res.masks));
}

void case_sharded() {
    make_model("shards --shards 3 --layers 3 --quantize 10");
    make_model("single.safetensors --layers 3 --quantize 10");
    for (const char* scope : {"layer", "global"}) {
        expect_ok(run(std::string("prune shards -o out --masks k1.safetensors -q --scope ") + scope));
        expect_ok(
            run(std::string("prune single.safetensors -o one.safetensors --masks k2.safetensors -q --scope ") + scope));
        EXPECT(nnprune::load_masks(g_dir / "k1.safetensors") == nnprune::load_masks(g_dir / "k2.safetensors"),
               scope << ": sharded and single-file masks differ");
        EXPECT(
            slurp(g_dir / "shards/model.safetensors.index.json") == slurp(g_dir / "out/model.safetensors.index.json"),
            "index copied");
        const model_layers ml(g_dir / "shards/model.safetensors.index.json");
        check_output(g_dir / "shards/model.safetensors.index.json", g_dir / "out/model.safetensors.index.json",
                     g_dir / "k1.safetensors",
                     std::string(scope) == "global"
                         ? global_masks(ml, nnprune::magnitude_scorer{}, 0.5)
                         : layer_masks(ml, nnprune::magnitude_scorer{}, nnprune::per_tensor{}, 0.5));
        for (int s = 1; s <= 3; ++s) {
            const std::string f = "/model-0000" + std::to_string(s) + "-of-00003.safetensors";
            EXPECT(fs::exists(g_dir / ("out" + f)), f << " missing");
        }
    }
    expect_ok(run("inspect out --json"));
    // a second run writing to the same directory fails at once instead of interleaving its shards
    {
        const auto before = snapshot();
        const int fd = ::open((g_dir / "out").c_str(), O_RDONLY | O_DIRECTORY);
        EXPECT(fd >= 0 && ::flock(fd, LOCK_EX) == 0, "cannot lock out/");
        expect_fail(run("prune shards -o out -q"), 3, "another process is writing to this directory");
        ::close(fd);
        EXPECT(snapshot() == before, "a refused run changed files");
    }
    // a failing sharded run leaves no directory it created
    expect_fail(run("prune shards -o fresh/dir --masks no/such/dir/k.safetensors"), 3, "no/such/dir/k.safetensors");
    EXPECT(!fs::exists(g_dir / "fresh"), "the output directory was created by a failing run");
}

void case_tokens() {
    std::vector<float> feat(40 * 8), attn(2 * 5 * 12);
    nnprune::splitmix64 g(3);
    for (auto& x : feat) x = g.uniform() - 0.5f;
    for (auto& x : attn) x = g.uniform();
    {
        nnprune::safetensors_writer w;
        w.add("features", nnprune::matrix_view<const float>(feat.data(), 40, 8));
        w.add("attn", nnprune::tensor_view<const float, 3>(attn.data(), 2, 5, 12));
        w.write(g_dir / "t.safetensors");
    }
    const auto join = [](const std::vector<std::size_t>& v) {
        std::string s;
        for (std::size_t i = 0; i < v.size(); ++i) {  // piece by piece: GCC 12 -O3 misreads " " + string&&
            if (i) s += ' ';
            s += std::to_string(v[i]);
        }
        return s + "\n";
    };
    const auto dp = nnprune::divprune(nnprune::matrix_view<const float>(feat.data(), 40, 8), nnprune::keep_count{7});
    auto r = run("tokens divprune t.safetensors --tensor features --keep 7");
    expect_ok(r);
    EXPECT(r.out == join(dp), "divprune: " << r.out);
    const auto dp2 = nnprune::divprune(nnprune::matrix_view<const float>(feat.data(), 40, 8), 0.25);
    expect_ok(run("tokens divprune t.safetensors --tensor features --ratio 0.25 -o kept.json"));
    EXPECT(read_json("kept.json")["kept"].get<std::vector<std::size_t>>() == dp2, "divprune json");
    const auto fv =
        nnprune::fastv(nnprune::tensor_view<const float, 3>(attn.data(), 2, 5, 12), nnprune::image_range{3, 8}, 0.5);
    r = run("tokens fastv t.safetensors --tensor attn --start 3 --len 8 --ratio 0.5");
    expect_ok(r);
    EXPECT(r.out == join(fv), "fastv: " << r.out);
    expect_ok(run("tokens fastv t.safetensors --tensor attn --start 3 --len 8 --ratio 0.5 -o kept.safetensors"));
    const nnprune::safetensors_file kf(g_dir / "kept.safetensors");
    const auto kv = kf.tensor("kept").data<std::int64_t>();
    EXPECT(std::vector<std::size_t>(kv.begin(), kv.end()) == fv, "fastv safetensors output");
    expect_fail(run("tokens divprune t.safetensors --tensor features"), 1, "exactly one of --keep K or --ratio R");
    expect_fail(run("tokens divprune t.safetensors --tensor attn --keep 2"), 2, "expected floating [N, d] features");
    expect_fail(run("tokens divprune t.safetensors --tensor features --keep 41"), 4, "exceeds N = 40");
    expect_fail(run("tokens fastv t.safetensors --tensor attn --start 10 --len 8 --keep 2"), 4, "outside the 12 keys");
}

// ---------------------------------------------------------------------------------------------
// tokens METHOD FILE -o OUT.safetensors: every wave-2 method against the library called here

/// n values in [lo, hi) from seed.
std::vector<float> random_values(std::size_t n, std::uint64_t seed, float lo = 0.0f, float hi = 1.0f) {
    nnprune::splitmix64 g(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = lo + (hi - lo) * g.uniform();
    return v;
}

/// Attention probabilities: `rows` rows of `keys` positive values summing to 1.
std::vector<float> random_attention(std::size_t rows, std::size_t keys, std::uint64_t seed) {
    auto v = random_values(rows * keys, seed, 0.01f, 1.0f);
    for (std::size_t r = 0; r < rows; ++r) {
        float s = 0.0f;
        for (std::size_t j = 0; j < keys; ++j) s += v[r * keys + j];
        for (std::size_t j = 0; j < keys; ++j) v[r * keys + j] /= s;
    }
    return v;
}

/// One output tensor of the tool: its shape and its values (I64 as int64, floats as f32).
struct out_tensor {
    std::vector<std::uint64_t> shape;
    std::vector<std::int64_t> i;
    std::vector<float> f;
    std::string dtype;
};

out_tensor read_out(const std::string& file, const std::string& name) {
    const nnprune::safetensors_file f(g_dir / file);
    out_tensor o;
    if (!f.contains(name)) {
        EXPECT(false, file << " has no tensor " << name);
        return o;
    }
    const auto t = f.tensor(name);
    o.shape = t.shape();
    o.dtype = std::string(nnprune::name_of(t.dtype()));
    if (t.dtype() == nnprune::safetensors_dtype::I64) {
        const auto d = t.data<std::int64_t>();
        o.i.assign(d.begin(), d.end());
    } else if (t.dtype() == nnprune::safetensors_dtype::BOOL) {
        const auto d = t.data<std::uint8_t>();
        o.i.assign(d.begin(), d.end());
    } else {
        nnprune::visit(t.ref(), [&](auto v) {
            nnprune::for_each_indexed(v, [&](std::size_t, auto x) { o.f.push_back(nnprune::to_float(x)); });
        });
    }
    return o;
}

std::string meta_of(const std::string& file, const std::string& key) {
    const nnprune::safetensors_file f(g_dir / file);
    const auto it = f.metadata().find(key);
    return it == f.metadata().end() ? std::string("<none>") : it->second;
}

template <class V>
std::vector<std::int64_t> i64s(const V& v) {
    return std::vector<std::int64_t>(v.begin(), v.end());
}

template <class V>
std::vector<float> f32s(const V& v) {
    std::vector<float> out;
    for (auto x : v) out.push_back(static_cast<float>(x));
    return out;
}

using shape_t = std::vector<std::uint64_t>;

void case_tokens_merge() {
    // ToMe, one item: metric [10, 4], x [10, 6], size [10, 1]
    const auto metric = random_values(10 * 4, 21, -1.0f, 1.0f), x = random_values(10 * 6, 22, -1.0f, 1.0f);
    std::vector<float> size(10, 1.0f);
    size[3] = 2.0f;
    size[8] = 3.0f;
    {
        nnprune::safetensors_writer w;
        w.add("metric", nnprune::matrix_view<const float>(metric.data(), 10, 4));
        w.add("x", nnprune::matrix_view<const float>(x.data(), 10, 6));
        w.add("size", nnprune::matrix_view<const float>(size.data(), 10, 1));
        w.write(g_dir / "tome.safetensors");
    }
    const nnprune::matrix_view<const float> mv(metric.data(), 10, 4), xv(x.data(), 10, 6);
    const nnprune::tensor_view<const float, 1> sv(size.data(), 10);
    {
        const auto m = nnprune::tome_match(mv, 3, nnprune::tome_options{true, false});
        const auto merged = nnprune::tome_merge_wavg(m, xv, sv);
        expect_ok(run("tokens tome tome.safetensors --r 3 --class-token -o tome_out.safetensors"));
        const auto kx = read_out("tome_out.safetensors", "x"), ks = read_out("tome_out.safetensors", "size");
        EXPECT(kx.shape == (shape_t{7, 6}) && kx.dtype == "F32" && kx.f == merged.x, "tome x");
        EXPECT(ks.shape == (shape_t{7, 1}) && ks.f == merged.size, "tome size");
        auto sorted = m.positions;
        std::sort(sorted.begin(), sorted.end());
        EXPECT(read_out("tome_out.safetensors", "kept").i == i64s(sorted), "tome kept");
        EXPECT(read_out("tome_out.safetensors", "positions").i == i64s(m.positions), "tome positions");
        EXPECT(read_out("tome_out.safetensors", "row_of").i == i64s(m.row_of), "tome row_of");
        EXPECT(read_out("tome_out.safetensors", "src_idx").i == i64s(m.src_idx), "tome src_idx");
        EXPECT(read_out("tome_out.safetensors", "dst_idx").i == i64s(m.dst_idx), "tome dst_idx");
        EXPECT(read_out("tome_out.safetensors", "unm_idx").i == i64s(m.unm_idx), "tome unm_idx");
        EXPECT(meta_of("tome_out.safetensors", "nnprune.method") == "tome", "tome metadata");
        EXPECT(m.positions.front() == 0, "tome: the class token stays first");
    }
    // a batch of 2 ([B, t, c], [B, t, C], no size) on 2 threads == item by item with unit sizes
    const auto metric2 = random_values(2 * 12 * 4, 23, -1.0f, 1.0f), x2 = random_values(2 * 12 * 5, 24, -1.0f, 1.0f);
    {
        nnprune::safetensors_writer w;
        w.add("metric", nnprune::tensor_view<const float, 3>(metric2.data(), 2, 12, 4));
        w.add("x", nnprune::tensor_view<const float, 3>(x2.data(), 2, 12, 5));
        w.write(g_dir / "tome2.safetensors");
    }
    expect_ok(run("tokens tome tome2.safetensors --r 4 --threads 2 -o tome2_out.safetensors"));
    {
        const auto kx = read_out("tome2_out.safetensors", "x"), kp = read_out("tome2_out.safetensors", "positions");
        EXPECT(kx.shape == (shape_t{2, 8, 5}) && kp.shape == (shape_t{2, 8}), "tome batch shapes");
        const std::vector<float> ones(12, 1.0f);
        std::vector<float> want_x;
        std::vector<std::int64_t> want_p;
        for (std::size_t b = 0; b < 2; ++b) {
            const auto m = nnprune::tome_match(nnprune::matrix_view<const float>(metric2.data() + b * 48, 12, 4), 4);
            const auto merged =
                nnprune::tome_merge_wavg(m, nnprune::matrix_view<const float>(x2.data() + b * 60, 12, 5),
                                         nnprune::tensor_view<const float, 1>(ones.data(), 12));
            want_x.insert(want_x.end(), merged.x.begin(), merged.x.end());
            for (auto p : m.positions) want_p.push_back(static_cast<std::int64_t>(p));
        }
        EXPECT(kx.f == want_x, "tome batch x");
        EXPECT(kp.i == want_p, "tome batch positions");
    }
    // bf16 inputs: the merged tensors come back in BF16 (the f32 merge rounded)
    {
        std::vector<nnprune::bfloat16> mb, xb;
        for (auto v : metric) mb.emplace_back(v);
        for (auto v : x) xb.emplace_back(v);
        nnprune::safetensors_writer w;
        w.add("metric", nnprune::matrix_view<const nnprune::bfloat16>(mb.data(), 10, 4));
        w.add("x", nnprune::matrix_view<const nnprune::bfloat16>(xb.data(), 10, 6));
        w.write(g_dir / "tome_bf16.safetensors");
        const nnprune::matrix_view<const nnprune::bfloat16> mbv(mb.data(), 10, 4), xbv(xb.data(), 10, 6);
        const auto m = nnprune::tome_match(mbv, 2);
        const std::vector<float> ones(10, 1.0f);
        const auto merged = nnprune::tome_merge_wavg(m, xbv, nnprune::tensor_view<const float, 1>(ones.data(), 10));
        std::vector<float> want;
        for (auto v : merged.x) want.push_back(nnprune::to_float(nnprune::bfloat16(v)));
        expect_ok(run("tokens tome tome_bf16.safetensors --r 2 -o tome_bf16_out.safetensors"));
        const auto kx = read_out("tome_bf16_out.safetensors", "x");
        EXPECT(kx.dtype == "BF16" && kx.f == want, "tome bf16 x: " << kx.dtype);
        EXPECT(read_out("tome_bf16_out.safetensors", "size").shape == (shape_t{8}), "tome size without input size");
    }
    // VisionZip: hidden [17, 5], attn [2, 17, 17], metric [17, 3]
    const auto hidden = random_values(17 * 5, 25, -1.0f, 1.0f), vattn = random_attention(2 * 17, 17, 26),
               vmetric = random_values(17 * 3, 27, -1.0f, 1.0f);
    {
        nnprune::safetensors_writer w;
        w.add("hidden", nnprune::matrix_view<const float>(hidden.data(), 17, 5));
        w.add("attn", nnprune::tensor_view<const float, 3>(vattn.data(), 2, 17, 17));
        w.add("metric", nnprune::matrix_view<const float>(vmetric.data(), 17, 3));
        w.write(g_dir / "vz.safetensors");
    }
    {
        nnprune::visionzip_options o;
        o.dominant = 5;
        o.contextual = 3;
        const auto r = nnprune::visionzip(nnprune::matrix_view<const float>(hidden.data(), 17, 5),
                                          nnprune::tensor_view<const float, 3>(vattn.data(), 2, 17, 17),
                                          nnprune::matrix_view<const float>(vmetric.data(), 17, 3), o);
        expect_ok(run("tokens visionzip vz.safetensors --dominant 5 --contextual 3 -o vz_out.safetensors"));
        const auto h = read_out("vz_out.safetensors", "hidden");
        EXPECT(h.shape == (shape_t{8, 5}) && h.f == r.tokens, "visionzip hidden");
        EXPECT(read_out("vz_out.safetensors", "kept").i == i64s(r.dominant), "visionzip kept");
        EXPECT(read_out("vz_out.safetensors", "targets").i == i64s(r.targets), "visionzip targets");
        EXPECT(read_out("vz_out.safetensors", "assignment").i == i64s(r.assignment), "visionzip assignment");
        EXPECT(read_out("vz_out.safetensors", "dominant_ranked").i == i64s(r.dominant_ranked), "visionzip ranked");
    }
    // errors: the missing tensor named with the method's names, wrong rank, mixed dtypes, options
    expect_fail(run("tokens tome vz.safetensors --r 2 -o e.safetensors"), 2, "has no tensor 'x'");
    expect_fail(run("tokens tome vz.safetensors --r 2 -o e.safetensors"), 2, "metric [t, c], x [t, C]");
    {
        nnprune::safetensors_writer w;
        w.add("metric", nnprune::tensor_view<const float, 1>(metric.data(), 10));
        w.add("x", nnprune::matrix_view<const float>(x.data(), 10, 6));
        w.write(g_dir / "bad_rank.safetensors");
        std::vector<double> xd(x.begin(), x.end());
        nnprune::safetensors_writer w2;
        w2.add("metric", nnprune::matrix_view<const float>(metric.data(), 10, 4));
        w2.add("x", nnprune::matrix_view<const double>(xd.data(), 10, 6));
        w2.add("size", nnprune::matrix_view<const double>(xd.data(), 10, 6));
        w2.write(g_dir / "bad_dtype.safetensors");
    }
    {
        nnprune::safetensors_writer w;  // size [10, 2]: not [t] or [t, 1]
        w.add("metric", nnprune::matrix_view<const float>(metric.data(), 10, 4));
        w.add("x", nnprune::matrix_view<const float>(x.data(), 10, 6));
        w.add("size", nnprune::matrix_view<const float>(x.data(), 10, 2));
        w.write(g_dir / "bad_size.safetensors");
        nnprune::safetensors_writer w2;  // a batched metric with one item's x
        w2.add("metric", nnprune::tensor_view<const float, 3>(metric2.data(), 2, 12, 4));
        w2.add("x", nnprune::matrix_view<const float>(x2.data(), 12, 5));
        w2.write(g_dir / "bad_batch.safetensors");
    }
    expect_fail(run("tokens tome bad_size.safetensors --r 2 -o e.safetensors"), 2,
                "tensor 'size' has shape 10x2; expected [10] or [10, 1]");
    expect_fail(run("tokens tome bad_batch.safetensors --r 2 -o e.safetensors"), 2,
                "tensor 'x' has shape 12x5; the other inputs are batched (expected [2, t, C])");
    expect_fail(run("tokens tome bad_rank.safetensors --r 2 -o e.safetensors"), 2,
                "tensor 'metric' has shape 10 (rank 1); expected [t, c] or [B, t, c]");
    expect_fail(run("tokens tome bad_dtype.safetensors --r 2 -o e.safetensors"), 2, "the inputs share one dtype");
    expect_fail(run("tokens tome tome.safetensors -o e.safetensors"), 1, "--r");
    expect_fail(run("tokens tome tome.safetensors --r 2"), 1, "-o OUT.safetensors");
    expect_fail(run("tokens tome tome.safetensors --r 2 --bogus -o e.safetensors"), 1, "--bogus");
    expect_fail(run("tokens visionzip vz.safetensors --dominant 5 --contextual 0 -o e.safetensors"), 4, "visionzip");
    EXPECT(!fs::exists(g_dir / "e.safetensors"), "a failing run wrote its output");
}

void case_tokens_kv() {
    // SnapKV: q, k [2, 40, 8]
    const auto q = random_values(2 * 40 * 8, 31, -1.0f, 1.0f), k = random_values(2 * 40 * 8, 32, -1.0f, 1.0f);
    {
        nnprune::safetensors_writer w;
        w.add("q", nnprune::tensor_view<const float, 3>(q.data(), 2, 40, 8));
        w.add("k", nnprune::tensor_view<const float, 3>(k.data(), 2, 40, 8));
        w.write(g_dir / "kv.safetensors");
        nnprune::safetensors_writer w2;
        w2.add("q", nnprune::tensor_view<const float, 4>(q.data(), 2, 1, 40, 8));
        w2.add("k", nnprune::tensor_view<const float, 4>(k.data(), 2, 1, 40, 8));
        w2.write(g_dir / "kv2.safetensors");
    }
    const nnprune::tensor_view<const float, 3> qv(q.data(), 2, 40, 8), kv(k.data(), 2, 40, 8);
    {
        nnprune::snapkv_options o;
        o.window = 4;
        o.capacity = 12;
        o.kernel = 3;
        o.pooling = nnprune::snapkv_pooling::max;
        const auto r = nnprune::snapkv(qv, kv, o);
        expect_ok(
            run("tokens snapkv kv.safetensors --window 4 --capacity 12 --kernel 3 --pooling max -o s.safetensors"));
        const auto kept = read_out("s.safetensors", "kept");
        EXPECT(kept.shape == (shape_t{2, 12}) && kept.i == i64s(r.keep), "snapkv kept");
        EXPECT(read_out("s.safetensors", "upstream_order").i == i64s(r.upstream_order), "snapkv upstream_order");
        // the batch [2, 1, 40, 8] on 2 threads: item b = head b of the single call
        o.pooling = nnprune::snapkv_pooling::avg;
        const auto ra = nnprune::snapkv(qv, kv, o);
        expect_ok(
            run("tokens snapkv kv2.safetensors --window 4 --capacity 12 --kernel 3 --threads 2 -o s2.safetensors"));
        const auto k2 = read_out("s2.safetensors", "kept");
        EXPECT(k2.shape == (shape_t{2, 1, 12}) && k2.i == i64s(ra.keep), "snapkv batch kept");
    }
    {  // F16 inputs: the library's F16 call
        std::vector<nnprune::float16> qh, kh;
        for (auto v : q) qh.emplace_back(v);
        for (auto v : k) kh.emplace_back(v);
        nnprune::safetensors_writer w;
        w.add("q", nnprune::tensor_view<const nnprune::float16, 3>(qh.data(), 2, 40, 8));
        w.add("k", nnprune::tensor_view<const nnprune::float16, 3>(kh.data(), 2, 40, 8));
        w.write(g_dir / "kv16.safetensors");
        nnprune::snapkv_options o;
        o.window = 8;
        o.capacity = 20;
        const auto r = nnprune::snapkv(nnprune::tensor_view<const nnprune::float16, 3>(qh.data(), 2, 40, 8),
                                       nnprune::tensor_view<const nnprune::float16, 3>(kh.data(), 2, 40, 8), o);
        expect_ok(run("tokens snapkv kv16.safetensors --window 8 --capacity 20 -o s16.safetensors"));
        EXPECT(read_out("s16.safetensors", "kept").i == i64s(r.keep), "snapkv f16 kept");
        EXPECT(meta_of("s16.safetensors", "nnprune.compressed") == "true", "snapkv compressed");
        expect_ok(run("tokens snapkv kv16.safetensors --window 8 --capacity 64 -o s64.safetensors"));
        EXPECT(read_out("s64.safetensors", "kept").shape == (shape_t{2, 40}), "snapkv T < capacity keeps all");
    }
    expect_fail(run("tokens snapkv kv.safetensors --window 4 --capacity 12 --kernel 4 -o e.safetensors"), 4, "kernel");
    expect_fail(run("tokens snapkv kv.safetensors --pooling median -o e.safetensors"), 1, "--pooling 'median'");
    // ThinK: q [2, 40, 8] (the last 32 score), k [2, 40, 8]
    {
        nnprune::think_options o;
        o.ratio = 0.25;
        o.recent_size = 4;
        const auto r = nnprune::think(qv, kv, o);
        expect_ok(run("tokens think kv.safetensors --ratio 0.25 --recent-size 4 -o t.safetensors"));
        const auto kept = read_out("t.safetensors", "kept");
        EXPECT(kept.shape == (shape_t{2, 6}) && kept.i == i64s(r.channels), "think channels");
        EXPECT(read_out("t.safetensors", "mask").i == i64s(r.mask), "think mask");
        std::vector<float> pk(2 * 36 * 6);
        nnprune::think_gather_keys(kv, r, 4, nnprune::tensor_view<float, 3>(pk.data(), 2, 36, 6));
        const auto got = read_out("t.safetensors", "pruned_keys");
        EXPECT(got.shape == (shape_t{2, 36, 6}) && got.f == pk, "think pruned_keys");
    }
    expect_fail(run("tokens think kv.safetensors --ratio 1 -o e.safetensors"), 4, "think");
    // H2O: a prefill of 6 tokens, then 3 decode steps, 2 heads; hh 2 + recent 3
    std::vector<std::vector<float>> steps;
    {
        nnprune::safetensors_writer w;
        std::size_t kvn = 6;
        steps.push_back(random_attention(2 * 6, 6, 40));
        w.add("attn.0", nnprune::tensor_view<const float, 3>(steps[0].data(), 2, 6, 6));
        for (std::size_t s = 1; s <= 3; ++s) {
            const std::size_t size = std::min<std::size_t>(kvn, 5) + 1;  // the cache after eviction, + 1
            steps.push_back(random_attention(2, size, 40 + s));
            kvn = size;
        }
        w.add("attn.1", nnprune::tensor_view<const float, 3>(steps[1].data(), 2, 1, 6));
        w.add("attn.2", nnprune::tensor_view<const float, 3>(steps[2].data(), 2, 1, 6));
        w.add("attn.3", nnprune::tensor_view<const float, 3>(steps[3].data(), 2, 1, 6));
        w.write(g_dir / "h2o.safetensors");
    }
    {
        nnprune::h2o_options o;
        o.hh_size = 2;
        o.recent_size = 3;
        o.heads = 2;
        nnprune::h2o_cache c(o);
        std::vector<std::vector<std::size_t>> pos(2);
        std::size_t total = 0;
        for (std::size_t s = 0; s < 4; ++s) {
            const std::size_t qn = s == 0 ? 6 : 1, kn = steps[s].size() / 2 / qn;
            c.step(nnprune::tensor_view<const float, 3>(steps[s].data(), 2, qn, kn));
            for (std::size_t g = 0; g < 2; ++g) {
                for (std::size_t i = 0; i < qn; ++i) pos[g].push_back(total + i);
                std::vector<std::size_t> next;
                for (auto j : c.kept(g)) next.push_back(pos[g][j]);
                pos[g] = next;
            }
            total += qn;
        }
        std::vector<std::int64_t> want;
        std::vector<float> scores;
        for (std::size_t g = 0; g < 2; ++g) {
            for (auto p : pos[g]) want.push_back(static_cast<std::int64_t>(p));
            for (auto v : c.scores(g)) scores.push_back(v);
            EXPECT(pos[g].back() == 8 && std::is_sorted(pos[g].begin(), pos[g].end()), "h2o positions");
        }
        expect_ok(run("tokens h2o h2o.safetensors --hh-size 2 --recent-size 3 -o h.safetensors"));
        const auto kept = read_out("h.safetensors", "kept");
        EXPECT(kept.shape == (shape_t{2, 5}) && kept.i == want, "h2o kept");
        EXPECT(read_out("h.safetensors", "scores").f == scores, "h2o scores");
        EXPECT(meta_of("h.safetensors", "nnprune.steps") == "4", "h2o steps");
        // GQA: one KV head for both query heads, the first two steps only
        o.kv_heads = 1;
        nnprune::h2o_cache c1(o);
        c1.step(nnprune::tensor_view<const float, 3>(steps[0].data(), 2, 6, 6));
        c1.step(nnprune::tensor_view<const float, 3>(steps[1].data(), 2, 1, 6));
        expect_ok(
            run("tokens h2o h2o.safetensors --hh-size 2 --recent-size 3 --kv-heads 1 --steps 2 -o h1.safetensors"));
        const auto s1 = read_out("h1.safetensors", "scores");
        EXPECT(s1.shape == (shape_t{1, 5}) && s1.f == f32s(c1.scores(0)), "h2o kv-heads scores");
    }
    expect_fail(run("tokens h2o kv.safetensors -o e.safetensors"), 2, "has no tensor 'attn'");
    expect_fail(run("tokens h2o h2o.safetensors --hh-size 1 --recent-size 1 --steps 9 -o e.safetensors"), 1,
                "--steps 9");
    expect_fail(run("tokens h2o h2o.safetensors --hh-size 3 --recent-size 3 -o e.safetensors"), 4, "h2o");
    EXPECT(!fs::exists(g_dir / "e.safetensors"), "a failing run wrote its output");
}

void case_tokens_attention() {
    // [CLS] attention: attn [2, 13, 13] (12 image tokens), a 3-layer stack, a batch of 2
    const auto attn = random_attention(3 * 2 * 13, 13, 51);
    {
        nnprune::safetensors_writer w;
        w.add("attn", nnprune::tensor_view<const float, 3>(attn.data(), 2, 13, 13));
        w.write(g_dir / "cls.safetensors");
        nnprune::safetensors_writer w3;
        w3.add("attn", nnprune::tensor_view<const float, 4>(attn.data(), 3, 2, 13, 13));
        w3.write(g_dir / "cls3.safetensors");
    }
    const nnprune::tensor_view<const float, 3> a1(attn.data(), 2, 13, 13);
    const nnprune::tensor_view<const float, 4> a3(attn.data(), 3, 2, 13, 13);
    {
        const auto kept = nnprune::cls_attention(a1, nnprune::keep_count{4});
        expect_ok(run("tokens cls_attention cls.safetensors --keep 4 -o c.safetensors"));
        EXPECT(read_out("c.safetensors", "kept").i == i64s(kept), "cls_attention kept");
        EXPECT(read_out("c.safetensors", "scores").f == nnprune::cls_attention_scores(a1), "cls_attention scores");
        const auto vtc = nnprune::cls_attention(a3, nnprune::vtc_cls_layers(3, 0), 0.5);
        expect_ok(run("tokens cls_attention cls3.safetensors --start-layer 0 --ratio 0.5 -o c3.safetensors"));
        EXPECT(read_out("c3.safetensors", "kept").i == i64s(vtc), "vtc-cls kept");
        const auto l12 = nnprune::cls_attention(a3, nnprune::layer_range{1, 3}, nnprune::keep_count{5});
        expect_ok(run("tokens cls_attention cls3.safetensors --layers 1:3 --keep 5 -o c4.safetensors"));
        EXPECT(read_out("c4.safetensors", "kept").i == i64s(l12), "cls_attention --layers");
        // rank 4 without a layer option: a batch of 3 items [2, 13, 13]
        expect_ok(run("tokens cls_attention cls3.safetensors --keep 3 --cls 2 --threads 3 -o cb.safetensors"));
        std::vector<std::int64_t> want;
        for (std::size_t b = 0; b < 3; ++b) {
            nnprune::cls_attention_options o;
            o.cls = 2;
            const auto kb =
                nnprune::cls_attention(nnprune::tensor_view<const float, 3>(attn.data() + b * 2 * 13 * 13, 2, 13, 13),
                                       nnprune::keep_count{3}, o);
            for (auto i : kb) want.push_back(static_cast<std::int64_t>(i));
        }
        const auto kb = read_out("cb.safetensors", "kept");
        EXPECT(kb.shape == (shape_t{3, 3}) && kb.i == want, "cls_attention batch");
    }
    expect_fail(run("tokens cls_attention cls.safetensors -o e.safetensors"), 1,
                "exactly one of --keep K or --ratio R");
    expect_fail(run("tokens cls_attention cls.safetensors --keep 13 -o e.safetensors"), 4, "cls_attention");
    expect_fail(run("tokens cls_attention cls.safetensors --keep 2 --layers 0:1 -o e.safetensors"), 2,
                "expected [L, H, N+1, N+1]");
    expect_fail(run("tokens cls_attention cls3.safetensors --keep 2 --layers 2 -o e.safetensors"), 1, "FIRST:LAST");
    // PyramidDrop: row [2, 30], image tokens [5, 25)
    const auto row = random_attention(2, 30, 52);
    {
        nnprune::safetensors_writer w;
        w.add("row", nnprune::matrix_view<const float>(row.data(), 2, 30));
        w.write(g_dir / "pd.safetensors");
    }
    {
        const nnprune::matrix_view<const float> rv(row.data(), 2, 30);
        const auto kept = nnprune::pdrop_select(rv, 5, 20, 7);
        expect_ok(run("tokens pyramid_drop pd.safetensors --img-start 5 --n-s 20 --n-next 7 -o p.safetensors"));
        EXPECT(read_out("p.safetensors", "kept").i == i64s(kept), "pyramid_drop kept");
        const auto sched = nnprune::pyramid_drop_schedule(20);
        const auto k2 = nnprune::pdrop_select(rv, 5, sched.counts[1], sched.counts[2]);
        expect_ok(run("tokens pyramid_drop pd.safetensors --img-start 5 --stage 2 --n0 20 -o p2.safetensors"));
        const auto got = read_out("p2.safetensors", "kept");
        EXPECT(got.shape == (shape_t{sched.counts[2]}) && got.i == i64s(k2), "pyramid_drop --stage");
    }
    expect_fail(run("tokens pyramid_drop pd.safetensors -o e.safetensors"), 1, "--n-next");
    expect_fail(run("tokens pyramid_drop pd.safetensors --img-start 5 --n-s 20 --n-next 21 -o e.safetensors"), 4,
                "pdrop_select");
    expect_fail(run("tokens pyramid_drop pd.safetensors --stage 1 --ratio-list 0.5,x -o e.safetensors"), 1,
                "not a number");
    // HiPrune: two [2, 37, 37] maps (36 patches on a 6-wide grid)
    const auto ob = random_attention(2 * 37, 37, 53), dp = random_attention(2 * 37, 37, 54);
    {
        nnprune::safetensors_writer w;
        w.add("attn_object", nnprune::tensor_view<const float, 3>(ob.data(), 2, 37, 37));
        w.add("attn_deep", nnprune::tensor_view<const float, 3>(dp.data(), 2, 37, 37));
        w.write(g_dir / "hp.safetensors");
    }
    {
        nnprune::hiprune_options o;
        o.budget = 12;
        o.alpha = 0.5;
        o.grid_width = 6;
        nnprune::hiprune_result r;
        nnprune::hiprune_workspace ws;
        nnprune::hiprune(nnprune::tensor_view<const float, 3>(ob.data(), 2, 37, 37),
                         nnprune::tensor_view<const float, 3>(dp.data(), 2, 37, 37), o, r, ws);
        expect_ok(run("tokens hiprune hp.safetensors --budget 12 --alpha 0.5 --grid-width 6 -o hp_out.safetensors"));
        EXPECT(read_out("hp_out.safetensors", "kept").i == i64s(r.kept), "hiprune kept");
        EXPECT(read_out("hp_out.safetensors", "anchors").i == i64s(r.anchors), "hiprune anchors");
        EXPECT(read_out("hp_out.safetensors", "object").i == i64s(r.object), "hiprune object");
    }
    {  // the object layer's attention peaks at token 15 (key 16): one anchor whose buffer has 5 tokens > V = 3
        std::vector<float> peak(2 * 37 * 37, 0.01f);
        for (std::size_t r = 0; r < 2 * 37; ++r) peak[r * 37 + 16] = 0.64f;
        nnprune::safetensors_writer w;
        w.add("attn_object", nnprune::tensor_view<const float, 3>(peak.data(), 2, 37, 37));
        w.add("attn_deep", nnprune::tensor_view<const float, 3>(dp.data(), 2, 37, 37));
        w.write(g_dir / "hp_peak.safetensors");
    }
    expect_fail(run("tokens hiprune hp_peak.safetensors --budget 3 --alpha 1 --grid-width 6 -o e.safetensors"), 4,
                "smaller than the anchors");
    expect_fail(run("tokens hiprune pd.safetensors -o e.safetensors"), 2, "has no tensor 'attn_object'");
    EXPECT(!fs::exists(g_dir / "e.safetensors"), "a failing run wrote its output");
}

void case_tokens_graph() {
    // G-Prune: features [30, 6], and a batch [2, 30, 6]
    const auto feat = random_values(2 * 30 * 6, 61, -1.0f, 1.0f);
    {
        nnprune::safetensors_writer w;
        w.add("features", nnprune::matrix_view<const float>(feat.data(), 30, 6));
        w.write(g_dir / "g.safetensors");
        nnprune::safetensors_writer w2;
        w2.add("features", nnprune::tensor_view<const float, 3>(feat.data(), 2, 30, 6));
        w2.write(g_dir / "g2.safetensors");
    }
    const nnprune::matrix_view<const float> fv(feat.data(), 30, 6);
    {
        const auto r = nnprune::gprune(fv, 8);
        expect_ok(run("tokens gprune g.safetensors --keep 8 -o gp.safetensors"));
        EXPECT(read_out("gp.safetensors", "kept").i == i64s(r.kept), "gprune kept");
        EXPECT(read_out("gp.safetensors", "score").f == r.score, "gprune score");
        const auto r2 = nnprune::gprune(fv, nnprune::gprune_keep_count(0.3, 5, 6));
        expect_ok(run("tokens gprune g.safetensors --ratio 0.3 --rows 5 --cols 6 -o gp2.safetensors"));
        EXPECT(read_out("gp2.safetensors", "kept").i == i64s(r2.kept), "gprune ratio");
        nnprune::gprune_options o;
        o.similarity = 0.2;
        o.iterations = 2;
        std::vector<std::int64_t> want;
        for (std::size_t b = 0; b < 2; ++b)
            for (auto i : nnprune::gprune(nnprune::matrix_view<const float>(feat.data() + b * 180, 30, 6), 5, o).kept)
                want.push_back(static_cast<std::int64_t>(i));
        expect_ok(
            run("tokens gprune g2.safetensors --keep 5 --similarity 0.2 --iterations 2 --threads 2 -o gb.safetensors"));
        const auto kb = read_out("gb.safetensors", "kept");
        EXPECT(kb.shape == (shape_t{2, 5}) && kb.i == want, "gprune batch");
    }
    expect_fail(run("tokens gprune g.safetensors --keep 31 -o e.safetensors"), 4, "gprune");
    expect_fail(run("tokens gprune g.safetensors --ratio 0.5 --rows 4 --cols 6 -o e.safetensors"), 1, "is not N = 30");
    // HoloV: features [30, 6], attention [30]; a batch with peaked attention (padding)
    std::vector<float> att = random_values(2 * 30, 62, 0.0f, 1.0f);
    for (std::size_t i = 30; i < 60; ++i) att[i] = i == 33 ? 50.0f : 1e-4f * static_cast<float>(i % 3);
    {
        nnprune::safetensors_writer w;
        w.add("features", nnprune::matrix_view<const float>(feat.data(), 30, 6));
        w.add("attention", nnprune::tensor_view<const float, 1>(att.data(), 30));
        w.write(g_dir / "hv.safetensors");
        nnprune::safetensors_writer w2;
        w2.add("features", nnprune::tensor_view<const float, 3>(feat.data(), 2, 30, 6));
        w2.add("attention", nnprune::matrix_view<const float>(att.data(), 2, 30));
        w2.write(g_dir / "hv2.safetensors");
    }
    {
        nnprune::holov_options o;
        o.crops = 4;
        const auto r = nnprune::holov(fv, nnprune::tensor_view<const float, 1>(att.data(), 30), 10, o);
        expect_ok(run("tokens holov hv.safetensors --keep 10 --crops 4 -o hv_out.safetensors"));
        EXPECT(read_out("hv_out.safetensors", "kept").i == i64s(r.kept), "holov kept");
        EXPECT(read_out("hv_out.safetensors", "order").i == i64s(r.order), "holov order");
        EXPECT(read_out("hv_out.safetensors", "n_pad").i ==
                   (std::vector<std::int64_t>{static_cast<std::int64_t>(r.n_pad)}),
               "holov n_pad");
        expect_ok(run("tokens holov hv2.safetensors --keep 20 --crops 4 --threads 2 -o hv2_out.safetensors"));
        const auto kept = read_out("hv2_out.safetensors", "kept"), pad = read_out("hv2_out.safetensors", "n_pad");
        std::vector<std::int64_t> want, want_pad;
        std::size_t width = 0;
        std::vector<nnprune::holov_result> rs;
        for (std::size_t b = 0; b < 2; ++b) {
            rs.push_back(nnprune::holov(nnprune::matrix_view<const float>(feat.data() + b * 180, 30, 6),
                                        nnprune::tensor_view<const float, 1>(att.data() + b * 30, 30), 20, o));
            width = std::max(width, rs.back().kept.size());
            want_pad.push_back(static_cast<std::int64_t>(rs.back().n_pad));
        }
        for (const auto& r1 : rs) {
            for (auto i : r1.kept) want.push_back(static_cast<std::int64_t>(i));
            want.resize(want.size() + width - r1.kept.size(), -1);
        }
        EXPECT(kept.shape == (shape_t{2, width}) && kept.i == want, "holov batch kept (rows padded with -1)");
        EXPECT(pad.i == want_pad, "holov batch n_pad");
        EXPECT(want_pad[1] > 0, "the peaked item pads (the test exercises padding)");
    }
    expect_fail(run("tokens holov hv.safetensors -o e.safetensors"), 1, "--keep K");
    expect_fail(run("tokens holov g.safetensors --keep 3 -o e.safetensors"), 2, "has no tensor 'attention'");
    expect_fail(run("tokens holov hv2.safetensors --keep 3 --crops 0 -o e.safetensors"), 4, "holov");
    EXPECT(!fs::exists(g_dir / "e.safetensors"), "a failing run wrote its output");
}

void case_errors() {
    expect_fail(run("inspect missing.safetensors"), 3, "missing.safetensors");
    expect_fail(run("prune missing.safetensors -o o.safetensors"), 3, "cannot open");
    {
        std::ofstream f(g_dir / "bad.safetensors", std::ios::binary);
        f << "garbage that is not a safetensors file";
    }
    expect_fail(run("prune bad.safetensors -o o.safetensors"), 2, "header length");
    make_model("m.safetensors");
    expect_fail(run("prune m.safetensors -o no/such/dir/o.safetensors"), 3, "cannot create a temporary file");
    // a NaN weight: value_error naming the tensor, exit 4, no output
    {
        std::vector<float> w(16 * 8, 0.25f);
        w[37] = std::numeric_limits<float>::quiet_NaN();
        nnprune::safetensors_writer wr;
        wr.add("x.weight", nnprune::matrix_view<const float>(w.data(), 16, 8));
        wr.write(g_dir / "nan.safetensors");
    }
    for (const char* scope : {"layer", "global"}) {
        expect_fail(run(std::string("prune nan.safetensors -o o.safetensors --scope ") + scope), 4, "x.weight");
        EXPECT(!fs::exists(g_dir / "o.safetensors"), "output left behind after an error");
    }
    for (const auto& e : fs::directory_iterator(g_dir))
        EXPECT(e.path().filename().string().find(".tmp.") == std::string::npos, "temporary file left: " << e.path());
}

/// Hostile and careless inputs are refused up front, with a usage or I/O error, never a hang, a
/// crash or a replaced file: empty and out-of-range numbers, huge block extents, FIFOs as inputs,
/// colliding output paths and outputs that are not regular files.
void case_hostile() {
    make_model("m.safetensors --calib c.safetensors --layers 1 --hidden 32 --inter 48 --vocab 64");
    const std::string model = slurp(g_dir / "m.safetensors"), calib = slurp(g_dir / "c.safetensors");
    expect_fail(run("prune m.safetensors -o o.safetensors --sparsity ''"), 1, "empty value");
    expect_fail(run("prune m.safetensors -o o.safetensors --threads ''"), 1, "empty value");
    expect_fail(run("prune m.safetensors -o o.safetensors --pattern 1:99999999999999999999999"), 1,
                "99999999999999999999999 is out of range");
    expect_fail(run("prune m.safetensors -o o.safetensors --pattern block:1x99999999999999999999999"), 1,
                "out of range");
    EXPECT(!fs::exists(g_dir / "o.safetensors"), "output written despite a usage error");
    // a block wider than any tensor is one block per row: whole rows pruned, exactly as prune() does
    const std::string huge = std::to_string(std::numeric_limits<std::size_t>::max());
    expect_ok(
        run("prune m.safetensors -o o.safetensors -q --sparsity 0.5 --masks k.safetensors --pattern block:1x" + huge));
    check_output(
        g_dir / "m.safetensors", g_dir / "o.safetensors", g_dir / "k.safetensors",
        layer_masks(model_layers(g_dir / "m.safetensors"), nnprune::magnitude_scorer{}, nnprune::channels{0}, 0.5));
    fs::remove(g_dir / "o.safetensors");
    fs::remove(g_dir / "k.safetensors");
    // FIFOs as the model or the statistics: refused at once (a blocking open would wait forever)
    EXPECT(::mkfifo((g_dir / "fifo.safetensors").c_str(), 0600) == 0, "mkfifo");
    expect_fail(run("prune fifo.safetensors -o o.safetensors"), 3, "not a regular file");
    expect_fail(run("prune m.safetensors -o o.safetensors --method wanda --calib fifo.safetensors"), 3,
                "not a regular file");
    expect_fail(run("inspect fifo.safetensors"), 3, "not a regular file");
    // colliding paths: nothing is written, the inputs stay as they were
    expect_fail(run("prune m.safetensors -o o.safetensors --masks o.safetensors"), 1, "are the same file");
    expect_fail(run("prune m.safetensors -o o.safetensors --report ./o.safetensors"), 1, "are the same file");
    expect_fail(run("prune m.safetensors -o o.safetensors --masks k.safetensors --report k.safetensors"), 1,
                "are the same file");
    expect_fail(run("prune m.safetensors -o o.safetensors --report m.safetensors"), 1, "would replace the input");
    expect_fail(run("prune m.safetensors -o o.safetensors --method wanda --calib c.safetensors --masks c.safetensors"),
                1, "would replace the input --calib");
    // outputs that exist and are not regular files are never renamed over
    expect_fail(run("prune m.safetensors -o fifo.safetensors"), 1, "not a regular file");
    expect_fail(run("prune m.safetensors -o o.safetensors --report /dev/null"), 1, "not a regular file");
    EXPECT(!fs::exists(g_dir / "o.safetensors") && !fs::exists(g_dir / "k.safetensors"),
           "output written despite a usage error");
    EXPECT(fs::is_fifo(g_dir / "fifo.safetensors"), "the FIFO was replaced");
    EXPECT(slurp(g_dir / "m.safetensors") == model && slurp(g_dir / "c.safetensors") == calib, "an input changed");
    // empty tensors (selected or not) share their data offset with a neighbour: copied as they are
    {
        std::vector<float> w(8 * 16);
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 7) - 3.0f;
        const std::vector<float> none;
        nnprune::safetensors_writer wr;
        wr.add("a.weight", nnprune::matrix_view<const float>(w.data(), 8, 16));
        wr.add("b.bias", nnprune::tensor_view<const float, 1>(none.data(), {0}));
        wr.add("c.weight", nnprune::matrix_view<const float>(none.data(), 0, 16));
        wr.add("d.weight", nnprune::matrix_view<const float>(w.data(), 16, 8));
        wr.write(g_dir / "empty.safetensors");
    }
    for (const char* args : {"", "--scope global", "--pattern row", "--pattern 2:4"}) {
        expect_ok(run(std::string("prune empty.safetensors -o e.safetensors -q --masks ke.safetensors ") + args));
        const nnprune::safetensors_model e(g_dir / "e.safetensors");
        EXPECT(e.names() == nnprune::safetensors_model(g_dir / "empty.safetensors").names(), args << ": names");
        EXPECT(e.tensor("c.weight").nn_shape() == (nnprune::shape{0, 16}), args << ": c.weight shape");
    }
    // a 200,000-character tensor name under --include, --exclude and OWL's block names (a
    // recursive regex engine overflows the stack on it)
    {
        std::vector<float> w(8 * 16);
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 5) - 2.0f;
        const std::string longname = "model.layers.3." + std::string(200000, 'x') + ".weight";
        nnprune::safetensors_writer wr;
        wr.add(longname, nnprune::matrix_view<const float>(w.data(), 8, 16));
        std::vector<float> w2 = w;
        w2[3] = 100.0f;  // an outlier: OWL's two blocks differ
        wr.add("model.layers.4.short.weight", nnprune::matrix_view<const float>(w2.data(), 16, 8));
        wr.write(g_dir / "long.safetensors");
    }
    expect_ok(
        run("prune long.safetensors -o l.safetensors -q --include 'x+\\.weight$' --exclude 'y{2}' --report "
            "lr.json"));
    EXPECT(read_json("lr.json")["totals"]["elements"] == 128, "--include on the long name");
    expect_ok(run("prune long.safetensors -o l.safetensors -q --allocation owl"));
    expect_fail(run("prune long.safetensors -o l.safetensors --include '('"), 1, "invalid regular expression");
    // an unwritable --masks or --report fails before the model is written or replaced
    {
        std::ofstream(g_dir / "old.safetensors") << "an earlier output";
        expect_fail(run("prune m.safetensors -o old.safetensors --masks no/such/dir/k.safetensors"), 3,
                    "no/such/dir/k.safetensors");
        expect_fail(run("prune m.safetensors -o old.safetensors --report no/such/dir/r.json"), 3, "no/such/dir/r.json");
        EXPECT(slurp(g_dir / "old.safetensors") == "an earlier output", "an existing output was replaced");
    }
    // in place (-o = MODEL) stays allowed
    expect_ok(run("prune m.safetensors -o m.safetensors -q"));
}

/// A pid that is certainly no running process: a child's, once reaped.
pid_t dead_pid() {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    int status = 0;
    ::waitpid(child, &status, 0);
    return child;
}

bool any_temporary() {
    for (const auto& e : fs::directory_iterator(g_dir))
        if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
    return false;
}

/// Starts `nnprune ARGS...` in the work directory (stdout discarded, stderr to err.txt); returns
/// the pid.
pid_t spawn(const std::vector<std::string>& args) {
    std::cout.flush();  // or the child's stdout would repeat what is buffered
    std::cerr.flush();
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (::chdir(g_dir.c_str()) != 0) ::_exit(126);
        std::freopen("/dev/null", "w", stdout);
        std::freopen((g_dir / "err.txt").c_str(), "w", stderr);
        std::vector<char*> argv{const_cast<char*>("nnprune")};
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(g_exe.c_str(), argv.data());
        ::_exit(127);
    }
    return pid;
}

/// Starts `nnprune ARGS...` and returns once its temporary output `out` exists (the run is under
/// way); returns the pid.
pid_t start_run(const std::vector<std::string>& args, const std::string& out) {
    const pid_t pid = spawn(args);
    const std::string own = "." + out + ".tmp." + std::to_string(pid) + ".";
    bool seen = false;
    for (int i = 0; i < 20000 && !seen; ++i) {
        for (const auto& e : fs::directory_iterator(g_dir))
            seen = seen || e.path().filename().string().rfind(own, 0) == 0;
        if (!seen) ::usleep(500);
    }
    EXPECT(seen, "the run's temporary output never appeared");
    return pid;
}

/// The exit code of run `pid` (-1 when a signal ended it).
int wait_run(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT(WIFEXITED(status), "ended by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// SIGTERM in the middle of a run removes its temporary files (the exit status still says
/// SIGTERM), and a temporary a killed run left behind is removed by the next run.
void case_signals() {
    make_model("big.safetensors --layers 1 --hidden 1024 --inter 4096 --vocab 4000 --dtype f32");
    std::ofstream(g_dir / (".o.safetensors.tmp." + std::to_string(dead_pid()) + ".Zz9Qq1")) << "left by a SIGKILL";
    // signal it once its own temporary output exists (the stale one is gone by then)
    const pid_t pid = start_run(
        {"prune", "big.safetensors", "-o", "o.safetensors", "--masks", "k.safetensors", "--report", "r.json", "-q"},
        "o.safetensors");
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "the run was not ended by SIGTERM: status " << status);
    EXPECT(!any_temporary(), "temporary files left after SIGTERM");
    EXPECT(!fs::exists(g_dir / "o.safetensors") && !fs::exists(g_dir / "k.safetensors"), "outputs after SIGTERM");
}

/// SQLite-style I/O error test, with the fault-injection build of the tool: for N = 1, 2, ...
/// the N-th failable call (open, read, write, fsync, close, rename, link, mkdir, lock, buffer
/// allocation) fails, and each time the run must exit 3 or 4 with a message and leave every file
/// (inputs, existing outputs, directories) byte-identical and no temporary file; once N is past
/// the calls a run makes, it succeeds with the outputs a clean run writes.
void case_faults() {
    make_model("m.safetensors --layers 1 --hidden 32 --inter 48 --vocab 64 --quantize 10");
    make_model("shards --shards 3 --layers 2 --hidden 32 --inter 48 --vocab 64 --quantize 10");
    make_model(
        "cdir --dir --shards 2 --layers 2 --hidden 32 --inter 48 --vocab 64 --heads 4 --kv-heads 2 "
        "--head-dim 8 --quantize 10");
    const auto inputs = snapshot();
    auto restore = [&] {  // the inputs as generated, no outputs
        for (const auto& e : fs::directory_iterator(g_dir))
            if (e.path().filename() != "out.txt" && e.path().filename() != "err.txt") fs::remove_all(e.path());
        for (const auto& [rel, bytes] : inputs) {
            if (bytes == "<dir>")
                fs::create_directories(g_dir / rel);
            else
                std::ofstream(g_dir / rel, std::ios::binary) << bytes;
        }
    };
    auto old_outputs = [](const std::string& model, const std::string& dir) {
        if (!dir.empty()) fs::create_directories(g_dir / dir);
        std::ofstream(g_dir / model) << "an earlier model";
        std::ofstream(g_dir / "k.safetensors") << "earlier masks";
        std::ofstream(g_dir / "r.json") << "an earlier report";
        if (!dir.empty()) std::ofstream(g_dir / dir / "config.json") << "not nnprune's";
    };
    const std::string extra = " --masks k.safetensors --report r.json -q";

    struct scenario {
        std::string name, args;
        std::function<void()> setup;
        std::vector<std::string> outputs;  ///< compared with a clean run's
    };

    const std::vector<std::string> shard_files{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                               "model-00003-of-00003.safetensors", "model.safetensors.index.json"};
    auto in_dir = [&](const std::string& dir) {
        std::vector<std::string> v{"k.safetensors"};
        for (const auto& f : shard_files) v.push_back(dir + "/" + f);
        return v;
    };
    auto compact_files = [](const std::string& dir) {
        std::vector<std::string> v;
        for (const char* f : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                              "model.safetensors.index.json", "config.json", "generation_config.json"})
            v.push_back(dir + "/" + f);
        return v;
    };
    const std::vector<scenario> scenarios{
        {"single, new outputs",
         "prune m.safetensors -o o.safetensors" + extra,
         [] {},
         {"o.safetensors", "k.safetensors"}},
        {"single, replacing outputs",
         "prune m.safetensors -o o.safetensors --pattern 2:4" + extra,
         [&] { old_outputs("o.safetensors", ""); },
         {"o.safetensors", "k.safetensors"}},
        {"single, in place",
         "prune m.safetensors -o m.safetensors --scope global" + extra,
         [] {},
         {"m.safetensors", "k.safetensors"}},
        {"sharded, new directories", "prune shards -o new/out" + extra, [] {}, in_dir("new/out")},
        {"sharded, replacing outputs", "prune shards -o out --scope global --threads 3" + extra,
         [&] { old_outputs("out/model-00002-of-00003.safetensors", "out"); }, in_dir("out")},
        {"sharded, in place", "prune shards -o shards --pattern row" + extra, [] {}, in_dir("shards")},
        {"compact, new directory", "compact cdir -o cnew --heads-keep 2 --channels-keep 0.5", [] {},
         compact_files("cnew")},
        {"compact, replacing outputs", "compact cdir -o cout --kv-keep 1 --save-structure cout/s.json",
         [&] { old_outputs("cout/model-00002-of-00002.safetensors", "cout"); }, compact_files("cout")},
    };
    for (const auto& sc : scenarios) {
        restore();
        sc.setup();
        expect_ok(run(sc.args));  // the reference: the same run with no fault
        std::map<std::string, std::string> reference;
        for (const auto& f : sc.outputs) reference[f] = slurp(g_dir / f);
        std::uint64_t calls = 0;
        for (std::uint64_t n = 1;; ++n) {
            restore();
            sc.setup();
            const auto before = snapshot();
            const run_result r = run_with("NNPRUNE_FAULT_AT=" + std::to_string(n), sc.args);
            const auto at = r.err.rfind("nnprune-faults: ");
            EXPECT(at != std::string::npos, sc.name << ": no call count");
            if (at == std::string::npos) break;
            calls = std::stoull(r.err.substr(at + 16));
            if (n > calls) {  // no fault hit: a normal run
                expect_ok(r);
                for (const auto& [f, bytes] : reference) EXPECT(slurp(g_dir / f) == bytes, sc.name << ": " << f);
                break;
            }
            EXPECT(r.code == 3 || r.code == 4, sc.name << ", fault at call " << n << ": exit " << r.code);
            EXPECT(r.err.rfind("nnprune: ", 0) == 0, sc.name << ", fault at call " << n << ": " << r.err);
            const auto after = snapshot();
            EXPECT(after == before, sc.name << ", fault at call " << n << ": the files changed");
            if (after != before)
                for (const auto& [f, bytes] : after)
                    if (!before.count(f) || before.at(f) != bytes) std::cerr << "  changed or new: " << f << '\n';
            if (n > 5000) break;  // a run that never ends its calls
        }
        EXPECT(calls >= 10, sc.name << ": only " << calls << " failable calls");
        std::cout << "faults: " << sc.name << ": " << calls << " failable calls, each failed in turn\n";
    }
}

/// Another process writes to or truncates the input mid-run: a clear error (exit 3), never a
/// SIGBUS or a silently wrong output; nothing is written.
void case_modified() {
    for (const char* how : {"rewritten", "truncated"}) {
        make_model("big.safetensors --layers 1 --hidden 1024 --inter 4096 --vocab 4000 --dtype f32");
        const pid_t pid = start_run(
            {"prune", "big.safetensors", "-o", "o.safetensors", "--scope", "global", "--masks", "k.safetensors", "-q"},
            "o.safetensors");
        const std::string path = (g_dir / "big.safetensors").string();
        if (std::string(how) == "rewritten") {  // the same bytes written again: only the time changes
            std::string head(4096, '\0');
            std::ifstream(path, std::ios::binary).read(head.data(), 4096);
            std::ofstream(path, std::ios::binary | std::ios::in) << head;
        } else {
            fs::resize_file(path, fs::file_size(path) / 2);
        }
        const int code = wait_run(pid);
        const std::string err = slurp(g_dir / "err.txt");
        std::cerr << how << ": exit " << code << ": " << err;
        EXPECT(code == 3, how << ": exit " << code);
        EXPECT(err.find("was modified while nnprune read it") != std::string::npos ||
                   err.find("unexpected end of file") != std::string::npos,
               how << ": " << err);
        EXPECT(!any_temporary(), how << ": temporary files left");
        EXPECT(!fs::exists(g_dir / "o.safetensors") && !fs::exists(g_dir / "k.safetensors"), how << ": outputs");
        fs::remove(g_dir / "o.safetensors");
        fs::remove(g_dir / "k.safetensors");
    }
    // a SIGBUS (a mapped header truncated while it is parsed: too short a window to hit from
    // here, so the signal is sent) ends the run with exit 3, a message and no temporary
    make_model("big.safetensors --layers 1 --hidden 1024 --inter 4096 --vocab 4000 --dtype f32");
    const pid_t pid = start_run({"prune", "big.safetensors", "-o", "o.safetensors", "--masks", "k.safetensors", "-q"},
                                "o.safetensors");
    ::kill(pid, SIGBUS);
    const int code = wait_run(pid);
    const std::string err = slurp(g_dir / "err.txt");
    EXPECT(code == 3, "SIGBUS: exit " << code);
    EXPECT(err.find("nnprune: an input file was truncated while it was read (SIGBUS)") != std::string::npos,
           "SIGBUS: " << err);
    EXPECT(!any_temporary(), "SIGBUS: temporary files left");
    EXPECT(!fs::exists(g_dir / "o.safetensors") && !fs::exists(g_dir / "k.safetensors"), "SIGBUS: outputs");
}

/// Runs `nnprune ARGS...` in the work directory; returns its exit code and peak RSS (bytes).
std::pair<int, std::uint64_t> run_measured(const std::vector<std::string>& args) {
    const pid_t pid = spawn(args);
    int status = 0;

    struct rusage ru {};

    ::wait4(pid, &status, 0, &ru);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return {code, static_cast<std::uint64_t>(ru.ru_maxrss) * 1024};
}

/// The README's memory bound on models whose size is in their header: many tensors (100,000),
/// a 40 MB __metadata__ value; and on LAMP over one large tensor. Peak RSS measured with wait4's
/// rusage, against 128 MiB + 4 KiB per tensor + 6 x the header's bytes + the terms of the largest
/// tensor (B bytes, L elements: B + 4 L for the scores, 12 L for LAMP, L / 8 for the masks).
void case_memory() {
    constexpr std::size_t tensors = 100'000;
    std::vector<float> one{1.5f};
    {
        nnprune::safetensors_writer w;
        for (std::size_t i = 0; i < tensors; ++i)
            w.add("model.layers." + std::to_string(i) + ".mlp.weight",
                  nnprune::matrix_view<const float>(one.data(), 1, 1));
        w.write(g_dir / "many.safetensors");
    }
    {
        nnprune::safetensors_writer w;
        w.add("a.weight", nnprune::matrix_view<const float>(one.data(), 1, 1));
        w.set_metadata("long", std::string(40'000'000, 'm'));
        w.write(g_dir / "meta.safetensors");
    }
    constexpr std::size_t rows = 8192, cols = 2048, big = rows * cols;  // bf16: 32 MiB
    {
        std::vector<nnprune::bfloat16> w(big);
        for (std::size_t i = 0; i < big; ++i) w[i] = nnprune::bfloat16(static_cast<float>((i * 7919) % 4093) - 2046.0f);
        nnprune::safetensors_writer wr;
        wr.add("big.weight", nnprune::matrix_view<const nnprune::bfloat16>(w.data(), rows, cols));
        wr.write(g_dir / "lamp.safetensors");
    }

    struct check {
        std::vector<std::string> args;
        std::size_t tensors;
        std::string model;
        std::uint64_t largest = 0;  ///< the largest tensor's terms
    };

    const std::vector<check> checks{
        {{"prune", "many.safetensors", "-o", "o1.safetensors", "-q"}, tensors, "many.safetensors"},
        {{"prune", "many.safetensors", "-o", "o2.safetensors", "--scope", "global", "--masks", "k2.safetensors",
          "--report", "r2.json", "-q"},
         tensors,
         "many.safetensors"},
        {{"inspect", "many.safetensors"}, tensors, "many.safetensors"},
        {{"prune", "meta.safetensors", "-o", "o3.safetensors", "--masks", "k3.safetensors", "-q"},
         1,
         "meta.safetensors"},
        {{"inspect", "meta.safetensors"}, 1, "meta.safetensors"},
        {{"prune", "lamp.safetensors", "-o", "o4.safetensors", "--allocation", "lamp", "-q"},
         1,
         "lamp.safetensors",
         2 * big + 4 * big + 12 * big + big / 8},
    };
    for (const auto& c : checks) {
        const auto [code, rss] = run_measured(c.args);
        std::uint64_t header = 0;
        {
            std::ifstream f(g_dir / c.model, std::ios::binary);
            unsigned char b[8] = {};
            f.read(reinterpret_cast<char*>(b), 8);
            for (int i = 7; i >= 0; --i) header = header << 8 | b[i];
        }
        const std::uint64_t bound = (std::uint64_t{128} << 20) + 4096 * c.tensors + 6 * header + c.largest;
        std::string cmd;
        for (const auto& a : c.args) cmd += " " + a;
        std::cout << "memory:" << cmd << ": peak RSS " << rss / (1 << 20) << " MiB, bound " << bound / (1 << 20)
                  << " MiB\n";
        EXPECT(code == 0, cmd << ": exit " << code << ": " << slurp(g_dir / "err.txt"));
#if defined(__SANITIZE_ADDRESS__)
        (void)bound;  // AddressSanitizer's shadow memory and quarantine are not the tool's
#else
        EXPECT(rss <= bound, cmd << ": peak RSS " << rss << " over the bound " << bound);
#endif
    }
    EXPECT(slurp(g_dir / "o3.safetensors") == slurp(g_dir / "meta.safetensors"), "metadata kept byte for byte");
}

/// The bench/cli_rss.sh flow on a small model (no RSS measurement): generate, prune globally, check.
void case_stream() {
    make_model("m.safetensors --layers 2 --hidden 192 --inter 512 --vocab 1000 --dtype bf16");
    expect_ok(run("prune m.safetensors -o o.safetensors --scope global --sparsity 0.5 --report r.json -q"));
    const auto r = read_json("r.json");
    const std::size_t n = r["totals"]["elements"];
    EXPECT(r["totals"]["kept"] == n - nnprune::count_to_prune(n, 0.5), "global totals");
    const auto j = nlohmann::json::parse(run("inspect o.safetensors --json").out);
    std::size_t zeros_sel = 0;
    for (const auto& t : j["tensors"])
        for (const auto& rt : r["tensors"])
            if (rt["name"] == t["name"] && rt["pruned"] == true) zeros_sel += t["zeros"].get<std::size_t>();
    EXPECT(zeros_sel == nnprune::count_to_prune(n, 0.5), "output zeros " << zeros_sel);
}

/// --threads 3 (split scoring, reader and writer threads) writes the same bytes as --threads 1,
/// for every method, pattern, scope and allocation.
void case_threads() {
    make_model("m.safetensors --calib c.safetensors --quantize 30 --layers 3 --hidden 96 --inter 160 --vocab 200");
    for (const std::string args :
         {"", "--pattern row", "--pattern 2:4", "--pattern block:4x8", "--pattern channel", "--scope global",
          "--scope global --min-keep 0.45", "--method wanda --pattern row", "--method taylor",
          "--method gblm --scope global", "--method random --seed 3", "--method lamp", "--allocation lamp",
          "--method wanda --allocation owl --owl-m 1.5"}) {
        const std::string cmd = "prune m.safetensors --calib c.safetensors -q " + args;
        expect_ok(run(cmd + " -o o1.safetensors --masks k1.safetensors --threads 1"));
        expect_ok(run(cmd + " -o o3.safetensors --masks k3.safetensors --threads 3"));
        EXPECT(slurp(g_dir / "o1.safetensors") == slurp(g_dir / "o3.safetensors"),
               args << ": outputs differ by thread count");
        EXPECT(slurp(g_dir / "k1.safetensors") == slurp(g_dir / "k3.safetensors"),
               args << ": masks differ by thread count");
    }
}

}  // namespace

/// Every method under every pattern, global scope and both non-uniform allocations: the tool's
/// masks and output equal nnprune::prune() over the same layers in memory (1 and 2 threads).
void case_matrix() {
    make_model("m.safetensors --calib c.safetensors --dtype bf16 --layers 2");
    const fs::path in = g_dir / "m.safetensors";

    struct method_case {
        const char* name;
        const char* grad;
    };

    const method_case methods[] = {{"magnitude", ""},   {"wanda", ""},        {"lamp", ""},
                                   {"taylor", ".grad"}, {"gblm", ".grad_l2"}, {"random", ""}};
    const char* runs[] = {"unstructured", "row", "2:4", "block:4x8", "channel", "global", "owl", "lamp"};
    int n = 0;
    for (const auto& mc : methods) {
        const std::string method = mc.name;
        const bool calib = method == "wanda" || method == "taylor" || method == "gblm";
        const model_layers ml(in, mc.grad, calib ? g_dir / "c.safetensors" : fs::path{});
        const auto block_of = owl_blocks(ml.layers);
        auto with_scorer = [&](auto&& f) {
            if (method == "magnitude") return f(nnprune::magnitude_scorer{});
            if (method == "wanda") return f(nnprune::wanda_scorer{});
            if (method == "lamp") return f(nnprune::lamp_scorer{});
            if (method == "taylor") return f(nnprune::taylor_scorer{});
            if (method == "gblm") return f(nnprune::gblm_scorer{});
            return f(nnprune::random_scorer{3});
        };
        for (const std::string r : runs) {
            std::string args =
                "prune m.safetensors -o o.safetensors --masks k.safetensors -q --sparsity 0.6 --seed 3 --method " +
                method;
            if (calib) args += " --calib c.safetensors";
            args += " --threads " + std::to_string(1 + n++ % 2);
            if (r == "global")
                args += " --scope global";
            else if (r == "owl")
                args += " --allocation owl --owl-m 1.5";  // outliers at 1.5x the mean score in every method
            else if (r == "lamp")
                args += " --allocation lamp";
            else
                args += " --pattern " + r;
            const auto want = with_scorer([&](const auto& s) {
                if (r == "unstructured") return nnprune::prune(ml.layers, s, nnprune::per_tensor{}, 0.6);
                if (r == "row") return nnprune::prune(ml.layers, s, nnprune::per_row{}, 0.6);
                if (r == "2:4") return nnprune::prune(ml.layers, s, nnprune::n_of_m{2, 4});
                if (r == "block:4x8") return nnprune::prune(ml.layers, s, nnprune::blocks{4, 8}, 0.6);
                if (r == "channel") return nnprune::prune(ml.layers, s, nnprune::channels{0}, 0.6);
                if (r == "global") return nnprune::prune(ml.layers, s, nnprune::per_tensor{}, nnprune::global{0.6});
                if (r == "owl")
                    return nnprune::prune(ml.layers, s, nnprune::per_tensor{}, nnprune::owl{0.6, 1.5, 0.08, block_of});
                return nnprune::prune(ml.layers, s, nnprune::per_tensor{}, nnprune::lamp_global{0.6});
            });
            std::cerr << "matrix: " << method << " " << r << "\n";
            expect_ok(run(args));
            check_output(in, g_dir / "o.safetensors", g_dir / "k.safetensors", by_name(ml.layers, want.masks));
        }
    }
}

/// SparseGPT and DSnoT through the tool: --method sparsegpt, --update-masks and --refine dsnot
/// give the masks and weights of nnprune::prune() with sparsegpt_step / dsnot_step over the same
/// layers (Hessians shared through the calibration file's __metadata__); missing or bad
/// statistics and conflicting options are refused before anything is written.
void case_reconstruct() {
    make_model("m.safetensors --calib c.safetensors --calib-reconstruction --dtype f32 --layers 1");
    const fs::path in = g_dir / "m.safetensors";
    const nnprune::safetensors_file calib(g_dir / "c.safetensors");
    auto hessian_of = [&](const std::string& n) {
        const std::string key = n + ".hessian";
        return calib.tensor(calib.contains(key) ? key : calib.metadata().at(key)).ref();
    };

    // the selected tensors as writable copies, with their statistics
    struct copy {
        model_layers ml;
        std::vector<std::vector<float>> w;
        std::vector<nnprune::layer> layers;

        explicit copy(const fs::path& p, const std::function<nnprune::tensor_ref(const std::string&)>& h,
                      const fs::path& c)
            : ml(p, "", c) {
            for (const auto& l : ml.layers) w.push_back(nnprune::detail::to_float_vector(l.weights));
            for (std::size_t i = 0; i < ml.layers.size(); ++i) {
                const auto& s = ml.layers[i].weights.shape();
                layers.push_back({ml.layers[i].name, nnprune::matrix_view<float>(w[i].data(), s[0], s[1]),
                                  ml.layers[i].input_stat, std::nullopt, h(ml.layers[i].name)});
            }
        }
    };

    // the tool's output and masks equal the copies' weights and masks, bit for bit
    auto check_same = [&](const copy& want, const nnprune::prune_result& r, const char* what) {
        const nnprune::safetensors_model out(g_dir / "o.safetensors");
        const auto masks = nnprune::load_masks(g_dir / "k.safetensors");
        for (std::size_t i = 0; i < want.layers.size(); ++i) {
            const std::string& n = want.layers[i].name;
            EXPECT(masks.at(n) == r.masks[i], what << ": " << n << ": mask differs from prune()'s");
            const auto b = out.tensor(n).bytes();
            EXPECT(b.size() == want.w[i].size() * 4 && std::memcmp(b.data(), want.w[i].data(), b.size()) == 0,
                   what << ": " << n << ": weights differ from prune()'s");
        }
    };
    {  // SparseGPT's own masks, unstructured and 2:4, options passed through

        struct sg_run {
            const char* args;
            bool nm;
            nnprune::sparsegpt_options o;
        };

        nnprune::sparsegpt_options row;
        row.selection = nnprune::sparsegpt_mask::row;
        row.blocksize = 32;
        row.percdamp = 0.05;
        for (const auto& c :
             {sg_run{"", false, {}}, sg_run{" --pattern 2:4 --threads 2", true, {}},
              sg_run{" --sparsegpt-mask row --blocksize 32 --percdamp 0.05 --sparsity 0.6", false, row}}) {
            copy want(in, hessian_of, g_dir / "c.safetensors");
            nnprune::prune_options o;
            o.apply = true;
            o.reconstruct = nnprune::sparsegpt_step{c.o, true};
            const auto r = c.nm ? nnprune::prune(want.layers, nnprune::magnitude, nnprune::n_of_m{2, 4}, o)
                                : nnprune::prune(want.layers, nnprune::magnitude, nnprune::per_tensor{},
                                                 c.o.selection == nnprune::sparsegpt_mask::row ? 0.6 : 0.5, o);
            expect_ok(run(std::string("prune m.safetensors -o o.safetensors --masks k.safetensors -q --method "
                                      "sparsegpt --calib c.safetensors") +
                          c.args));
            check_same(want, r, c.args);
        }
    }
    {  // --update-masks: Wanda's masks from an earlier run, then the OBS update
        expect_ok(
            run("prune m.safetensors -o w.safetensors --masks kw.safetensors -q --method wanda --pattern row "
                "--calib c.safetensors"));
        copy want(in, hessian_of, g_dir / "c.safetensors");
        nnprune::prune_options o;
        o.apply = true;
        o.reconstruct = nnprune::sparsegpt_step{};
        const auto r = nnprune::prune(want.layers, nnprune::wanda, nnprune::per_row{}, 0.5, o);
        expect_ok(
            run("prune m.safetensors -o o.safetensors --masks k.safetensors -q --update-masks kw.safetensors "
                "--calib c.safetensors"));
        check_same(want, r, "--update-masks");
    }
    {  // --refine dsnot after Wanda, per row and 2:4
        const model_layers ml(in, "", g_dir / "c.safetensors");
        for (const bool nm : {false, true}) {
            nnprune::prune_options o;
            nnprune::dsnot_step d;
            d.stats = [&](const nnprune::layer& l, std::size_t) {
                return nnprune::dsnot_stats{*l.input_stat, calib.tensor(l.name + ".act_sum").ref(),
                                            calib.tensor(l.name + ".act_var").ref()};
            };
            o.reconstruct = d;
            const auto r = nm ? nnprune::prune(ml.layers, nnprune::wanda, nnprune::n_of_m{2, 4}, o)
                              : nnprune::prune(ml.layers, nnprune::wanda, nnprune::per_row{}, 0.5, o);
            const auto plain = nm ? nnprune::prune(ml.layers, nnprune::wanda, nnprune::n_of_m{2, 4})
                                  : nnprune::prune(ml.layers, nnprune::wanda, nnprune::per_row{}, 0.5);
            std::size_t changed = 0;
            for (std::size_t i = 0; i < r.masks.size(); ++i) changed += !(r.masks[i] == plain.masks[i]);
            EXPECT(changed > 0, "DSnoT changed no mask: the test would not see it missing");
            expect_ok(run(std::string("prune m.safetensors -o o.safetensors --masks k.safetensors -q --method wanda "
                                      "--calib c.safetensors --refine dsnot --pattern ") +
                          (nm ? "2:4" : "row")));
            check_output(in, g_dir / "o.safetensors", g_dir / "k.safetensors", by_name(ml.layers, r.masks));
        }
    }
    // refusals: nothing written
    fs::remove(g_dir / "o.safetensors");
    const std::string q = "model.layers.0.self_attn.q_proj.weight";
    {  // the shared Hessian dropped: k and v (and q) have none
        const nnprune::safetensors_file c(g_dir / "c.safetensors");
        nnprune::safetensors_writer w;
        for (const auto& n : c.names())
            if (n != q + ".hessian") w.add_raw(n, c.tensor(n).dtype(), c.tensor(n).shape(), c.tensor(n).bytes());
        for (const auto& [k, v] : c.metadata()) w.set_metadata(k, v);
        w.write(g_dir / "c2.safetensors");
    }
    expect_fail(run("prune m.safetensors -o o.safetensors --method sparsegpt --calib c2.safetensors"), 2,
                "which is not a tensor of the file");
    expect_fail(run("prune m.safetensors -o o.safetensors --method sparsegpt"), 1, "--calib");
    expect_fail(run("prune m.safetensors -o o.safetensors --method sparsegpt --scope global --calib c.safetensors"), 1,
                "--scope layer");
    expect_fail(run("prune m.safetensors -o o.safetensors --method sparsegpt --pattern row --calib c.safetensors"), 1,
                "--pattern unstructured or N:M");
    expect_fail(run("prune m.safetensors -o o.safetensors --method sparsegpt --pattern 2:4 --blocksize 30 --calib "
                    "c.safetensors"),
                1, "multiple of M = 4");
    expect_fail(run("prune m.safetensors -o o.safetensors --method sparsegpt --refine dsnot --calib c.safetensors"), 1,
                "--refine dsnot");
    expect_fail(run("prune m.safetensors -o o.safetensors --refine dsnot --pattern 1:4 --calib c.safetensors"), 1,
                "at most half");
    expect_fail(run("prune m.safetensors -o o.safetensors --sparsegpt-mask rows --calib c.safetensors"), 1,
                "--sparsegpt-mask");
    expect_fail(run("prune m.safetensors -o o.safetensors --percdamp -1 --calib c.safetensors"), 1, "--percdamp");
    {  // a mask file that lacks a tensor
        auto masks = nnprune::load_masks(g_dir / "kw.safetensors");
        masks.erase(q);
        nnprune::save_masks(g_dir / "kw2.safetensors", masks);
    }
    expect_fail(run("prune m.safetensors -o o.safetensors --update-masks kw2.safetensors --calib c.safetensors"), 2,
                "no mask for tensor '" + q + "'");
    expect_fail(run("prune m.safetensors -o o.safetensors --update-masks kw.safetensors --method wanda --calib "
                    "c.safetensors"),
                1, "leave --method out");
    EXPECT(!fs::exists(g_dir / "o.safetensors"), "output written by a refused run");
}

// ---------------------------------------------------------------------------------------------
// compact

/// A model directory's weights: the index if there is one, else model.safetensors.
fs::path weights_of(const fs::path& dir) {
    return fs::exists(dir / "model.safetensors.index.json") ? dir / "model.safetensors.index.json"
                                                            : dir / "model.safetensors";
}

/// The kept indices along one axis of a layer tensor (rest: name after the layer prefix), written
/// out per family by hand (independent of family.hpp); nullopt: the whole axis.
std::optional<std::vector<std::size_t>> kept_axis(const std::string& family, const std::string& rest, std::size_t axis,
                                                  const nnprune::model_dims& d, const std::vector<std::size_t>& heads,
                                                  const std::vector<std::size_t>& channels) {
    std::vector<std::size_t> kv;
    for (const auto h : heads)
        if (kv.empty() || kv.back() != h / d.group_size()) kv.push_back(h / d.group_size());
    const std::size_t hd = d.head_dim;
    auto blocks = [&](const std::vector<std::size_t>& units, std::size_t offset, std::size_t width,
                      std::vector<std::size_t>& out) {
        for (const auto u : units)
            for (std::size_t j = 0; j < width; ++j) out.push_back(offset + u * width + j);
    };
    std::vector<std::size_t> out;
    const auto is = [&](const char* n, std::size_t ax) { return rest == n && axis == ax; };
    if (family == "llama") {
        if (is("self_attn.q_proj.weight", 0) || is("self_attn.o_proj.weight", 1) || is("self_attn.q_proj.bias", 0))
            blocks(heads, 0, hd, out);
        else if (is("self_attn.k_proj.weight", 0) || is("self_attn.v_proj.weight", 0) ||
                 is("self_attn.k_proj.bias", 0) || is("self_attn.v_proj.bias", 0))
            blocks(kv, 0, hd, out);
        else if (is("mlp.gate_proj.weight", 0) || is("mlp.up_proj.weight", 0) || is("mlp.down_proj.weight", 1))
            out = channels;
        else
            return std::nullopt;
    } else if (family == "phi3") {
        if (is("self_attn.qkv_proj.weight", 0)) {
            blocks(heads, 0, hd, out);
            blocks(kv, d.heads * hd, hd, out);
            blocks(kv, (d.heads + d.kv_heads) * hd, hd, out);
        } else if (is("self_attn.o_proj.weight", 1)) {
            blocks(heads, 0, hd, out);
        } else if (is("mlp.gate_up_proj.weight", 0)) {
            blocks(channels, 0, 1, out);
            blocks(channels, d.intermediate, 1, out);
        } else if (is("mlp.down_proj.weight", 1)) {
            out = channels;
        } else {
            return std::nullopt;
        }
    } else {  // gpt2, Conv1D [in, out]
        if (is("attn.c_attn.weight", 1) || is("attn.c_attn.bias", 0))
            for (std::size_t seg = 0; seg < 3; ++seg) blocks(heads, seg * d.hidden, hd, out);
        else if (is("attn.c_proj.weight", 0))
            blocks(heads, 0, hd, out);
        else if (is("mlp.c_fc.weight", 1) || is("mlp.c_fc.bias", 0) || is("mlp.c_proj.weight", 0))
            out = channels;
        else
            return std::nullopt;
    }
    return out;
}

/// Checks OUT against IN and the selection saved in `structure`: the shapes the new config implies,
/// every element gathered element by element, unchanged tensors byte-identical, the other files
/// copied, the index's total_size; returns the output's config.
nlohmann::json check_compacted(const std::string& in, const std::string& out, const std::string& structure,
                               const std::set<std::string>& compensated = {}) {
    const auto cin = read_json(in + "/config.json"), cout = read_json(out + "/config.json");
    const std::string family = cin["model_type"];
    const auto& fam = nnprune::find_family(family);
    const auto d = nnprune::read_dims(fam, cin), d2 = nnprune::read_dims(fam, cout);
    const auto st = read_json(structure);
    EXPECT(st["layers"].size() == d.layers, "structure layers");
    const std::string prefix = family == "gpt2" ? "h." : "model.layers.";
    const nnprune::safetensors_model mi(weights_of(g_dir / in)), mo(weights_of(g_dir / out));
    std::size_t total = 0, created = 0;
    for (const auto& name : mo.names()) {
        const auto to = mo.tensor(name);
        total += to.bytes().size();
        if (!mi.contains(name)) {  // a bias compensation created
            ++created;
            continue;
        }
        const auto ti = mi.tensor(name);
        EXPECT(ti.dtype() == to.dtype(), name << " dtype");
        if (name.rfind(prefix, 0) != 0) {
            EXPECT(ti.shape() == to.shape() &&
                       std::equal(ti.bytes().begin(), ti.bytes().end(), to.bytes().begin(), to.bytes().end()),
                   name << " not byte-identical");
            continue;
        }
        const std::size_t dot = name.find('.', prefix.size());
        const std::size_t layer = std::stoul(name.substr(prefix.size(), dot - prefix.size()));
        const std::string rest = name.substr(dot + 1);
        if (compensated.count(rest)) continue;  // checked by the caller
        const std::vector<std::size_t> heads = st["layers"][layer]["heads"], channels = st["layers"][layer]["channels"];
        std::vector<std::vector<std::size_t>> idx;
        std::vector<std::uint64_t> want;
        for (std::size_t a = 0; a < ti.rank(); ++a) {
            auto k = kept_axis(family, rest, a, d, heads, channels);
            if (!k) {
                k.emplace(ti.shape()[a]);
                std::iota(k->begin(), k->end(), std::size_t{0});
            }
            want.push_back(k->size());
            idx.push_back(*k);
        }
        EXPECT(to.shape() == want, name << " shape " << nnprune::detail::str(to.shape().size()));
        // the shape the new config implies, for the weights
        const std::size_t qd = d2.heads * d2.head_dim, kd = d2.kv_heads * d2.head_dim, I2 = d2.intermediate;
        const std::map<std::string, std::vector<std::uint64_t>> implied{
            {"self_attn.q_proj.weight", {qd, d.hidden}},
            {"self_attn.k_proj.weight", {kd, d.hidden}},
            {"self_attn.o_proj.weight", {d.hidden, qd}},
            {"mlp.down_proj.weight", {d.hidden, I2}},
            {"mlp.up_proj.weight", {I2, d.hidden}},
            {"self_attn.qkv_proj.weight", {qd + 2 * kd, d.hidden}},
            {"mlp.gate_up_proj.weight", {2 * I2, d.hidden}},
            {"attn.c_attn.weight", {d.hidden, 3 * qd}},
            {"mlp.c_fc.weight", {d.hidden, I2}},
            {"mlp.c_proj.weight", {I2, d.hidden}}};
        if (const auto it = implied.find(rest); it != implied.end())
            EXPECT(to.shape() == it->second, name << " does not have the shape the new config implies");
        if (to.shape() != want) continue;
        const std::size_t es = nnprune::size_of(ti.dtype());
        const std::size_t cols_in = ti.rank() == 2 ? ti.shape()[1] : 1, cols_out = ti.rank() == 2 ? want[1] : 1;
        bool same = true;
        for (std::size_t r = 0; r < idx[0].size(); ++r)
            for (std::size_t c = 0; c < cols_out; ++c) {
                const std::size_t src = idx[0][r] * cols_in + (ti.rank() == 2 ? idx[1][c] : 0), dst = r * cols_out + c;
                same = same && std::memcmp(ti.bytes().data() + src * es, to.bytes().data() + dst * es, es) == 0;
            }
        EXPECT(same, name << " differs from the slow gather");
    }
    EXPECT(mo.size() == mi.size() + created, "tensor count");
    if (fs::exists(g_dir / in / "model.safetensors.index.json")) {
        const auto idx = read_json(out + "/model.safetensors.index.json");
        EXPECT(idx["metadata"]["total_size"] == total,
               "total_size " << idx["metadata"]["total_size"] << " != " << total);
        for (const auto& e : fs::directory_iterator(g_dir / in))
            if (e.path().extension() == ".safetensors")
                EXPECT(fs::exists(g_dir / out / e.path().filename()), e.path().filename() << " not written");
    }
    for (const char* f : {"tokenizer.json", "generation_config.json"})
        EXPECT(slurp(g_dir / in / f) == slurp(g_dir / out / f), f << " not copied");
    return cout;
}

/// A structure file with the given layers.
void write_structure(const std::string& name, const nlohmann::json& layers) {
    std::ofstream(g_dir / name) << nlohmann::json{{"format", "nnprune-structure"}, {"version", 1}, {"layers", layers}};
}

nlohmann::json range(std::size_t b, std::size_t e) {
    nlohmann::json a = nlohmann::json::array();
    for (std::size_t i = b; i < e; ++i) a.push_back(i);
    return a;
}

void case_compact() {
    const auto add_files = [](const std::string& dir) {
        std::ofstream(g_dir / dir / "tokenizer.json") << "{\"v\": 1}\n";
    };
    // Llama with GQA (8 heads, 4 KV heads), sharded; magnitude
    make_model("lg --dir --heads 8 --kv-heads 4 --hidden 64 --inter 96 --layers 3 --shards 2 --quantize 50");
    add_files("lg");
    auto r = run("compact lg -o lo --heads-keep 4 --kv-keep 2 --channels-keep 0.5 --save-structure ls.json");
    expect_ok(r);
    EXPECT(r.out.find("query heads 8 -> 4, KV heads 4 -> 2, MLP channels 96 -> 48") != std::string::npos, r.out);
    auto c = check_compacted("lg", "lo", "ls.json");
    EXPECT(c["num_attention_heads"] == 4 && c["num_key_value_heads"] == 2 && c["intermediate_size"] == 48 &&
               c["head_dim"] == 8,
           c.dump());
    // the saved structure gives the same model
    expect_ok(run("compact lg -o lo2 --structure ls.json"));
    for (const char* f : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                          "model.safetensors.index.json", "config.json"})
        EXPECT(slurp(g_dir / "lo" / f) == slurp(g_dir / "lo2" / f), f << " differs with --structure");
    // keeping everything: the same tensors
    expect_ok(run("compact lg -o lall --save-structure lall.json"));
    check_compacted("lg", "lall", "lall.json");

    // Llama single file, MHA, Wanda scores and bias compensation (biases created, switches on)
    make_model("l1 --dir --heads 4 --hidden 32 --inter 64 --layers 2 --dtype f32 --calib l1c.safetensors");
    add_files("l1");
    expect_ok(
        run("compact l1 -o l1o --heads-keep 2 --channels-keep 40 --method wanda --calib l1c.safetensors "
            "--bias-compensation required --save-structure l1s.json"));
    c = check_compacted("l1", "l1o", "l1s.json");
    EXPECT(c["attention_bias"] == true && c["mlp_bias"] == true && c["num_key_value_heads"] == 2, c.dump());
    {
        const nnprune::safetensors_model mi(g_dir / "l1/model.safetensors"), mo(g_dir / "l1o/model.safetensors");
        const nnprune::safetensors_file cal(g_dir / "l1c.safetensors");
        const auto st = read_json("l1s.json");
        const std::string w = "model.layers.1.mlp.down_proj.weight";
        const auto W = mi.tensor(w).data<float>();
        const auto mu = cal.tensor(w + ".flap_mean").data<float>();
        const std::vector<std::size_t> kept = st["layers"][1]["channels"];
        const auto b = mo.tensor("model.layers.1.mlp.down_proj.bias").data<float>();
        bool ok = b.size() == 32;
        for (std::size_t o = 0; ok && o < 32; ++o) {
            double sum = 0;
            for (std::size_t col = 0; col < 64; ++col)
                if (!std::binary_search(kept.begin(), kept.end(), col)) sum += double(W[o * 64 + col]) * mu[col];
            ok = b[o] == static_cast<float>(sum);
        }
        EXPECT(ok, "compensated down_proj bias");
        const auto z = mo.tensor("model.layers.0.self_attn.k_proj.bias").data<float>();
        EXPECT(z.size() == 16 && std::all_of(z.begin(), z.end(), [](float x) { return x == 0.0f; }), "zero k bias");
        EXPECT(mo.tensor("model.layers.0.self_attn.o_proj.bias").shape() == std::vector<std::uint64_t>{32}, "o bias");
    }

    // Phi-3 (fused qkv and gate_up), sharded, FLAP scores
    make_model(
        "p3 --dir --family phi3 --heads 4 --kv-heads 2 --hidden 32 --inter 48 --layers 2 --shards 2 "
        "--calib p3c.safetensors");
    add_files("p3");
    expect_ok(
        run("compact p3 -o p3o --heads-keep 2 --kv-keep 1 --channels-keep 0.75 --method flap --calib "
            "p3c.safetensors --save-structure p3s.json"));
    c = check_compacted("p3", "p3o", "p3s.json");
    EXPECT(c["num_attention_heads"] == 2 && c["num_key_value_heads"] == 1 && c["intermediate_size"] == 36, c.dump());
    // where-possible: Phi-3 has no bias slot, skipped and said so
    r = run("compact p3 -o p3w --channels-keep 0.5 --bias-compensation where-possible --calib p3c.safetensors");
    expect_ok(r);
    EXPECT(r.out.find("compensation skipped") != std::string::npos, r.out);

    // GPT-2 (Conv1D), single file: MLP channels (its config ties head_dim to n_embd / n_head)
    make_model("g2 --dir --family gpt2 --heads 4 --hidden 32 --inter 64 --layers 2 --calib g2c.safetensors");
    add_files("g2");
    expect_ok(
        run("compact g2 -o g2o --channels-keep 16 --method wanda --calib g2c.safetensors --bias-compensation "
            "required --save-structure g2s.json"));
    c = check_compacted("g2", "g2o", "g2s.json", {"mlp.c_proj.bias"});
    EXPECT(c["n_inner"] == 16 && c["n_head"] == 4, c.dump());
    {  // Conv1D: the weight's inputs are its rows; b += W[removed, :]^T mean[removed], rounded once to BF16
        const nnprune::safetensors_model mi(g_dir / "g2/model.safetensors"), mo(g_dir / "g2o/model.safetensors");
        const nnprune::safetensors_file cal(g_dir / "g2c.safetensors");
        const std::string w = "h.1.mlp.c_proj.weight";
        const auto W = mi.tensor(w).data<nnprune::bfloat16>();
        const auto b0 = mi.tensor("h.1.mlp.c_proj.bias").data<nnprune::bfloat16>();
        const auto mu = cal.tensor(w + ".flap_mean").data<float>();
        const std::vector<std::size_t> kept = read_json("g2s.json")["layers"][1]["channels"];
        const auto b = mo.tensor("h.1.mlp.c_proj.bias").data<nnprune::bfloat16>();
        bool ok = b.size() == 32;
        for (std::size_t o = 0; ok && o < 32; ++o) {
            double sum = nnprune::to_double(b0[o]);
            for (std::size_t in = 0; in < 64; ++in)
                if (!std::binary_search(kept.begin(), kept.end(), in))
                    sum += nnprune::to_double(W[in * 32 + o]) * mu[in];
            const auto want = nnprune::from_double<nnprune::bfloat16>(sum);
            ok = std::memcmp(&b[o], &want, 2) == 0;
        }
        EXPECT(ok, "compensated GPT-2 c_proj bias");
    }
    expect_ok(run("compact g2 -o g2s --channels-keep 0.5"));  // sharded in, sharded out is covered above; MLP only
    expect_fail(run("compact g2 -o g2h --heads-keep 2"), 4, "keep every head");
    EXPECT(!fs::exists(g_dir / "g2h"), "g2h written by a failing run");

    // non-uniform structure: refused, unless --make-uniform
    {
        nlohmann::json layers = nlohmann::json::array();
        for (std::size_t l = 0; l < 3; ++l)
            layers.push_back({{"heads", range(0, 8)}, {"channels", range(0, 40 + 16 * l)}});
        write_structure("nonuni.json", layers);
        expect_fail(run("compact lg -o nu --structure nonuni.json"), 4, "make_uniform");
        EXPECT(!fs::exists(g_dir / "nu"), "nu written by a failing run");
        expect_ok(run("compact lg -o nu --structure nonuni.json --make-uniform --save-structure nus.json"));
        c = check_compacted("lg", "nu", "nus.json");
        EXPECT(c["intermediate_size"] == 56 && c["num_attention_heads"] == 8, c.dump());
    }
    // errors: each leaves no output directory, with its exit code
    {
        nlohmann::json layers = nlohmann::json::array();
        for (std::size_t l = 0; l < 3; ++l) layers.push_back({{"heads", {0, 1, 2}}, {"channels", range(0, 96)}});
        write_structure("gqa.json", layers);
        expect_fail(run("compact lg -o e1 --structure gqa.json"), 4, "every kept group must keep the same number");
        EXPECT(!fs::exists(g_dir / "e1"), "e1");
    }
    expect_fail(run("compact p3 -o e2 --heads-keep 2 --kv-keep 1 --bias-compensation required --calib p3c.safetensors"),
                4, "has no bias");
    EXPECT(!fs::exists(g_dir / "e2"), "e2");
    expect_fail(run("compact lg -o e3 --heads-keep 3 --kv-keep 2"), 1, "valid values are 2, 4");
    EXPECT(!fs::exists(g_dir / "e3"), "e3");
    expect_fail(run("compact l1 -o e4 --heads-keep 2 --bias-compensation required"), 1, "--calib");
    EXPECT(!fs::exists(g_dir / "e4"), "e4");
    expect_fail(run("compact lg -o e5 --channels-keep 1.5"), 1, "ratio");
    fs::copy(g_dir / "l1", g_dir / "unk", fs::copy_options::recursive);
    {
        auto cfg = read_json("unk/config.json");
        cfg["model_type"] = "mystery";
        std::ofstream(g_dir / "unk/config.json") << cfg.dump(2);
    }
    expect_fail(run("compact unk -o e6"), 2, "unknown model_type 'mystery'");
    EXPECT(!fs::exists(g_dir / "e6"), "e6");
    fs::copy(g_dir / "lg", g_dir / "miss", fs::copy_options::recursive);
    fs::remove(g_dir / "miss/model-00002-of-00002.safetensors");
    expect_fail(run("compact miss -o e7 --channels-keep 0.5"), 2, "model-00002-of-00002.safetensors");
    EXPECT(!fs::exists(g_dir / "e7"), "e7");
    // an existing OUT_DIR: its files are replaced (as prune -o does), others left alone
    fs::create_directories(g_dir / "ex");
    std::ofstream(g_dir / "ex/config.json") << "old";
    std::ofstream(g_dir / "ex/keep.txt") << "mine";
    expect_ok(run("compact lg -o ex --channels-keep 0.5 --save-structure exs.json"));
    check_compacted("lg", "ex", "exs.json");
    EXPECT(slurp(g_dir / "ex/keep.txt") == "mine", "an unrelated file in OUT_DIR changed");
    // a failing run into an existing directory leaves it as it was
    const auto before = snapshot();
    expect_fail(run("compact lg -o ex --structure gqa.json"), 4, "GQA");
    EXPECT(snapshot() == before, "a failing run changed files");
}

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: nnprune_cli_test NNPRUNE CASE WORKDIR\n";
        return 2;
    }
    g_exe = fs::absolute(argv[1]).string();
    const std::string c = argv[2];
    g_dir = argv[3];
    fs::remove_all(g_dir);
    fs::create_directories(g_dir);
    const std::map<std::string, std::function<void()>> cases{{"usage", case_usage},
                                                             {"inspect", case_inspect},
                                                             {"layer", case_layer},
                                                             {"patterns", case_patterns},
                                                             {"global", case_global},
                                                             {"global_min_keep", case_global_min_keep},
                                                             {"calib", case_calib},
                                                             {"calib_names", case_calib_names},
                                                             {"allocation", case_allocation},
                                                             {"sharded", case_sharded},
                                                             {"tokens", case_tokens},
                                                             {"errors", case_errors},
                                                             {"stream", case_stream},
                                                             {"threads", case_threads},
                                                             {"matrix", case_matrix},
                                                             {"hostile", case_hostile},
                                                             {"signals", case_signals},
                                                             {"faults", case_faults},
                                                             {"modified", case_modified},
                                                             {"memory", case_memory},
                                                             {"reconstruct", case_reconstruct},
                                                             {"compact", case_compact},
                                                             {"tokens_merge", case_tokens_merge},
                                                             {"tokens_kv", case_tokens_kv},
                                                             {"tokens_attention", case_tokens_attention},
                                                             {"tokens_graph", case_tokens_graph}};
    const auto it = cases.find(c);
    if (it == cases.end()) {
        std::cerr << "unknown case " << c << '\n';
        return 2;
    }
    try {
        it->second();
    } catch (const std::exception& e) {
        std::cerr << "exception: " << e.what() << '\n';
        return 1;
    }
    if (g_failures == 0) fs::remove_all(g_dir);
    std::cerr << (g_failures ? "FAILED: " : "passed: ") << c << " (" << g_failures << " failures)\n";
    return g_failures ? 1 : 0;
}
