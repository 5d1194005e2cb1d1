// `nnprune prune`: streams a safetensors model tensor by tensor, prunes the selected weights and
// writes the pruned model (and optionally the masks and a JSON report).
//
// The tool is argument parsing, a layer source over the model (safetensors_source.hpp: tensors
// read with pread into reused buffers, written out when released) and nnprune::prune() with the
// library's scorers, patterns and allocations. Memory bound (peak RSS, see README.md): a constant
// plus, per buffer (1, or 3 with --threads >= 2), the largest tensor's bytes (and gradient's),
// plus the largest selected tensor's scores (4 B/element), plus 1 bit per selected element (the
// masks prune() returns). Nothing else grows with the model.

#include "prune_command.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <re2/re2.h>
#include <set>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "output_directory.hpp"
#include "safetensors_source.hpp"
#include "tensor_io.hpp"
#include <nnprune/allocation/allocation.hpp>
#include <nnprune/allocation/lamp_global.hpp>
#include <nnprune/allocation/owl.hpp>
#include <nnprune/io/mask_file.hpp>
#include <nnprune/io/safetensors_model.hpp>
#include <nnprune/masks/mask.hpp>
#include <nnprune/prune/prune.hpp>
#include <nnprune/reconstruct/dsnot.hpp>
#include <nnprune/reconstruct/sparsegpt.hpp>
#include <nnprune/scorers/lamp.hpp>
#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/random.hpp>
#include <nnprune/scorers/scorer.hpp>
#include <nnprune/scorers/wanda.hpp>
#include <nnprune/select/select.hpp>
#include <nnprune/simd/isa.hpp>

namespace nnprune_cli {
namespace {

namespace fs = std::filesystem;
using nnprune::detail::str;

enum class method_kind { magnitude, wanda, lamp, taylor, gblm, random, sparsegpt };

method_kind parse_method(const std::string& m) {
    static const std::map<std::string, method_kind> k{
        {"magnitude", method_kind::magnitude}, {"wanda", method_kind::wanda}, {"lamp", method_kind::lamp},
        {"taylor", method_kind::taylor},       {"gblm", method_kind::gblm},   {"random", method_kind::random},
        {"sparsegpt", method_kind::sparsegpt}};
    const auto it = k.find(m);
    if (it == k.end())
        throw usage_error(
            str("--method: unknown method '", m, "' (magnitude|wanda|lamp|taylor|gblm|random|sparsegpt)"));
    return it->second;
}

struct pattern_spec {
    enum kind_t { unstructured, row, nm, block, channel } kind = unstructured;

    std::size_t a = 0, b = 0;  // N:M or RxC
};

/// "A<sep>B" with A and B decimal counts (digits only, each at most SIZE_MAX), or nullopt when
/// `s` does not have that form; a count past SIZE_MAX is a usage error naming the pattern.
std::optional<std::pair<std::size_t, std::size_t>> parse_pair(std::string_view s, char sep, const std::string& p) {
    const std::size_t at = s.find(sep);
    if (at == std::string_view::npos) return std::nullopt;
    auto count = [&p](std::string_view digits) -> std::optional<std::size_t> {
        if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
        std::size_t v = 0;
        if (std::from_chars(digits.data(), digits.data() + digits.size(), v).ec != std::errc{})
            throw usage_error(str("--pattern ", p, ": ", digits, " is out of range (at most ",
                                  std::numeric_limits<std::size_t>::max(), ")"));
        return v;
    };
    const auto a = count(s.substr(0, at)), b = count(s.substr(at + 1));
    if (!a || !b) return std::nullopt;
    return std::pair{*a, *b};
}

pattern_spec parse_pattern(const std::string& p) {
    if (p == "unstructured") return {pattern_spec::unstructured};
    if (p == "row") return {pattern_spec::row};
    if (p == "channel") return {pattern_spec::channel};
    if (const auto nm = parse_pair(p, ':', p)) {
        const auto [n, m] = *nm;
        if (m == 0 || n > m)
            throw usage_error(str("--pattern ", p, ": need N <= M and M > 0 (N:M keeps N of every M)"));
        return {pattern_spec::nm, n, m};
    }
    constexpr std::string_view block = "block:";
    if (const auto rc =
            p.starts_with(block) ? parse_pair(std::string_view(p).substr(block.size()), 'x', p) : std::nullopt) {
        const auto [r, c] = *rc;
        if (r == 0 || c == 0) throw usage_error(str("--pattern ", p, ": block extents must be positive"));
        return {pattern_spec::block, r, c};
    }
    throw usage_error(str("--pattern: unknown pattern '", p, "' (unstructured|row|N:M|block:RxC|channel)"));
}

/// OWL's block of a tensor: its name up to and including its first numeric component
/// ("model.layers.7.mlp.up_proj.weight" -> "model.layers.7."), or the whole name (a block of its
/// own). A linear scan: names come from the file and may be long.
std::string owl_block_key(const std::string& n) {
    for (std::size_t dot = n.find('.'); dot != std::string::npos; dot = n.find('.', dot + 1)) {
        std::size_t e = dot + 1;
        while (e < n.size() && n[e] >= '0' && n[e] <= '9') ++e;
        if (e > dot + 1 && e < n.size() && n[e] == '.') return n.substr(0, e + 1);
    }
    return n;
}

nnprune::sparsegpt_mask parse_sparsegpt_mask(const std::string& m) {
    if (m == "block") return nnprune::sparsegpt_mask::block;
    if (m == "row") return nnprune::sparsegpt_mask::row;
    if (m == "upstream") return nnprune::sparsegpt_mask::upstream;
    throw usage_error(str("--sparsegpt-mask: unknown selection '", m, "' (block|row|upstream)"));
}

nnprune::rounding parse_rounding(const std::string& r) {
    if (r == "half-even") return nnprune::rounding::half_even;
    if (r == "truncate") return nnprune::rounding::truncate;
    if (r == "ceil") return nnprune::rounding::ceil;
    throw usage_error(str("--rounding: unknown rule '", r, "' (half-even|truncate|ceil)"));
}

/// The options of a run that need no file, parsed and checked (usage_error on a bad value or a
/// conflict): everything check_prune_args() and the argument fuzzer exercise.
struct prune_settings {
    method_kind method{};
    pattern_spec pattern{};
    nnprune::rounding round{};
    bool global = false;
    nnprune::sparsegpt_options sparsegpt;                     ///< --method sparsegpt, --update-masks
    bool dsnot = false;                                       ///< --refine dsnot
    std::vector<std::unique_ptr<re2::RE2>> include, exclude;  ///< --include / --exclude

    explicit prune_settings(const prune_args& a) {
        method = parse_method(a.method);
        pattern = parse_pattern(a.pattern);
        round = parse_rounding(a.rounding);
        if (a.scope != "layer" && a.scope != "global")
            throw usage_error(str("--scope: '", a.scope, "' (layer|global)"));
        global = a.scope == "global";
        if (a.allocation != "uniform" && a.allocation != "owl" && a.allocation != "lamp")
            throw usage_error(str("--allocation: '", a.allocation, "' (uniform|lamp|owl)"));
        if (!(a.sparsity >= 0.0 && a.sparsity <= 1.0))
            throw usage_error(str("--sparsity must be in [0, 1], got ", a.sparsity));
        if (!(a.min_keep >= 0.0 && a.min_keep <= 1.0))
            throw usage_error(str("--min-keep must be in [0, 1], got ", a.min_keep));
        if (a.min_keep > 0.0 && !global) throw usage_error("--min-keep needs --scope global");
        if (global && pattern.kind != pattern_spec::unstructured)
            throw usage_error(str("--scope global needs --pattern unstructured (got ", a.pattern, ")"));
        if (global && a.allocation != "uniform")
            throw usage_error(
                str("--allocation ", a.allocation, " decides per-tensor sparsities: use it with --scope layer"));
        if (a.allocation == "lamp" && pattern.kind != pattern_spec::unstructured)
            throw usage_error("--allocation lamp needs --pattern unstructured");
        if (a.allocation != "uniform" && pattern.kind == pattern_spec::nm)
            throw usage_error("--pattern N:M fixes the sparsity: use --allocation uniform");
        if (a.threads == 0) throw usage_error("--threads must be at least 1");
        check_reconstruction(a);
        // RE2: linear-time matching without recursion (tensor names come from the file and may be long)
        auto compile = [](const std::string& r, const char* option, std::vector<std::unique_ptr<re2::RE2>>& into) {
            re2::RE2::Options opt;
            opt.set_log_errors(false);
            auto re = std::make_unique<re2::RE2>(r, opt);
            if (!re->ok()) throw usage_error(str(option, " '", r, "': invalid regular expression: ", re->error()));
            into.push_back(std::move(re));
        };
        for (const auto& r : a.include) compile(r, "--include", include);
        for (const auto& r : a.exclude) compile(r, "--exclude", exclude);
    }

    /// --method sparsegpt, --update-masks, --refine and their options.
    void check_reconstruction(const prune_args& a) {
        sparsegpt.selection = parse_sparsegpt_mask(a.sparsegpt_mask);
        sparsegpt.blocksize = a.blocksize;
        sparsegpt.percdamp = a.percdamp;
        if (a.blocksize == 0) throw usage_error("--blocksize must be at least 1");
        if (!(std::isfinite(a.percdamp) && a.percdamp >= 0.0))
            throw usage_error(str("--percdamp must be finite and >= 0, got ", a.percdamp));
        if (!a.refine.empty() && a.refine != "dsnot")
            throw usage_error(str("--refine: unknown step '", a.refine, "' (dsnot)"));
        dsnot = a.refine == "dsnot";
        const bool updating = !a.update_masks.empty();
        if (method == method_kind::sparsegpt || updating) {
            const char* what = updating ? "--update-masks" : "--method sparsegpt";
            if (global) throw usage_error(str(what, " works tensor by tensor: use --scope layer"));
            if (a.allocation != "uniform") throw usage_error(str(what, " takes --allocation uniform"));
            if (pattern.kind != pattern_spec::unstructured && (updating || pattern.kind != pattern_spec::nm))
                throw usage_error(
                    str(what, " takes --pattern unstructured", updating ? "" : " or N:M", " (got ", a.pattern, ")"));
            if (pattern.kind == pattern_spec::nm && a.blocksize % pattern.b != 0)
                throw usage_error(str("--blocksize ", a.blocksize, " must be a multiple of M = ", pattern.b,
                                      " (--pattern ", a.pattern, ")"));
        }
        if (updating && method != method_kind::magnitude)
            throw usage_error("--update-masks takes its masks from the file: leave --method out");
        if (dsnot) {
            if (method == method_kind::sparsegpt || updating)
                throw usage_error(
                    "--refine dsnot changes masks without updating weights: it cannot follow SparseGPT's update");
            if (pattern.kind != pattern_spec::unstructured && pattern.kind != pattern_spec::row &&
                pattern.kind != pattern_spec::nm)
                throw usage_error(str("--refine dsnot takes --pattern unstructured, row or N:M (got ", a.pattern, ")"));
            if (pattern.kind == pattern_spec::nm && 2 * (pattern.b - pattern.a) > pattern.b)
                throw usage_error(
                    str("--refine dsnot needs N:M to prune at most half of each group (got ", a.pattern, ")"));
        }
    }
};

/// The OBS update for the masks of a file (--update-masks): a reconstruction step that sets
/// each layer's mask from the file and updates its kept weights (sparsegpt_update).
struct given_mask_update {
    const std::vector<nnprune::mask>* masks;  ///< by the layer source's index
    nnprune::sparsegpt_options options;
    std::shared_ptr<nnprune::sparsegpt_workspace> workspace = std::make_shared<nnprune::sparsegpt_workspace>();

    [[nodiscard]] bool writes_weights() const noexcept { return true; }

    [[nodiscard]] bool chooses_mask() const noexcept { return true; }

    void reconstruct(const nnprune::layer& l, nnprune::mask_view m, const nnprune::reconstruct_context& c) const {
        const nnprune::mask& given = (*masks)[c.index];
        nnprune::sparsegpt_options o = options;
        o.name = l.name;
        o.threads = std::max(o.threads, c.threads);
        nnprune::sparsegpt_update(l.weights, *l.hessian, given.view(), o, workspace.get());
        std::copy(given.words().begin(), given.words().end(), m.words().begin());
    }
};

/// One tensor of the input (any dtype), where its bytes are, and whether it is pruned.
struct tensor_info {
    std::size_t shard;
    std::uint64_t offset;           ///< of its data in the shard file
    std::uint64_t out_offset = 0;   ///< of its data in the output file
    nnprune::safetensors_tensor t;  ///< its metadata (its mapped bytes are never read)
    bool selected = false;
    std::size_t sel = 0;  ///< index among the selected tensors (the layer source's order)

    [[nodiscard]] std::size_t nbytes() const noexcept { return t.bytes().size(); }
};

std::string dtype_text(nnprune::safetensors_dtype d) { return std::string(nnprune::name_of(d)); }

/// Everything one prune run needs, opened and validated before anything is written.
class pruner {
public:
    explicit pruner(const prune_args& a) : m_a(a) {
        prune_settings st(a);
        m_method = st.method;
        m_pattern = st.pattern;
        m_round = st.round;
        m_global = st.global;
        m_sparsegpt = st.sparsegpt;
        m_dsnot = st.dsnot;
        const auto& inc = st.include;
        const auto& exc = st.exclude;
        m_path = resolve_model_path(a.model);
        m_model.emplace(m_path.path);
        const auto& shards = m_model->shards();
        for (std::size_t s = 0; s < shards.size(); ++s)
            for (std::size_t i = 0; i < shards[s].size(); ++i) {
                const auto& h = shards[s].view().header();
                tensor_info ti{s, h.data_start + h.tensors[i].begin, 0, shards[s].at(i)};
                ti.selected = is_selected(ti.t, inc, exc);
                m_tensors.push_back(ti);
            }
        // each tensor's place in its output file
        for (std::size_t s = 0; s < shards.size(); ++s) {
            std::vector<stream_entry> entries;
            std::vector<std::size_t> idx;
            for (std::size_t i = 0; i < m_tensors.size(); ++i)
                if (m_tensors[i].shard == s) {
                    const auto& t = m_tensors[i].t;
                    entries.push_back({t.name(), t.dtype(), t.shape(), t.bytes()});
                    idx.push_back(i);
                }
            const stream_layout lay = layout_of(entries, shards[s].metadata());
            for (const auto& [begin, e] : lay.order) m_tensors[idx[e]].out_offset = lay.header.size() + begin;
            m_headers.push_back(lay.header);
        }
        // list order (the tie order of global selection): by name
        for (std::size_t i = 0; i < m_tensors.size(); ++i)
            if (m_tensors[i].selected) m_sel.push_back(i);
        std::sort(m_sel.begin(), m_sel.end(),
                  [&](std::size_t x, std::size_t y) { return m_tensors[x].t.name() < m_tensors[y].t.name(); });
        for (std::size_t k = 0; k < m_sel.size(); ++k) m_tensors[m_sel[k]].sel = k;
        if (m_sel.empty())
            throw usage_error(
                "no tensor selected (floating 2-D tensors named *.weight, refined by --include/--exclude)");

        for (std::size_t s = 0; s < shards.size(); ++s)
            m_inputs.push_back(std::make_unique<input_file>(shards[s].path()));
        if (m_path.sharded) m_index_input = std::make_unique<input_file>(m_path.path);
        if (!a.calib.empty()) {
            m_calib.emplace(fs::path(a.calib));
            m_calib_input = std::make_unique<input_file>(m_calib->path());
        }
        check_output_paths();
        validate_inputs();
        m_masks.resize(m_sel.size());
    }

    void run() {
        const auto t0 = std::chrono::steady_clock::now();
        std::uint64_t all_bytes = 0;
        for (const auto& ti : m_tensors) all_bytes += ti.nbytes();
        progress bar(all_bytes, m_tensors.size(), !m_a.quiet);
        open_outputs();
        std::vector<source_layer> layers;
        for (std::size_t k = 0; k < m_sel.size(); ++k) {
            const tensor_info& ti = m_tensors[m_sel[k]];
            layers.push_back({ti.t.name(), ti.t.nn_shape(), place_of(ti), m_act[k], m_grad[k], m_hess[k]});
        }
        safetensors_source src(std::move(layers), overlap(), [&](std::size_t k, std::span<const std::byte> bytes) {
            const tensor_info& ti = m_tensors[m_sel[k]];
            m_outputs[ti.shard]->write_at(ti.out_offset, bytes);
            bar.step(ti.nbytes(), ti.t.name());
        });
        nnprune::prune_options o;
        o.round = m_round;
        o.threads = m_a.threads;
        o.apply = true;
        o.scratch = &m_scores;
        o.keep_masks = false;  // each mask is seen in on_layer: no memory per layer
        o.on_layer = [&](std::size_t k, nnprune::const_mask_view m, const nnprune::layer_report&) {
            if (!m_a.masks.empty()) {
                m_masks[k] = nnprune::mask(m.shape(), true);
                std::copy(m.words().begin(), m.words().end(), m_masks[k].words().begin());
            }
        };
        set_reconstruction(o);
        m_result = prune_with_method(src, o);
        src.finish();
        for (const auto& ti : m_tensors)  // the unselected tensors, copied
            if (!ti.selected) {
                m_inputs[ti.shard]->read(ti.offset, m_copy.take(ti.nbytes()));
                m_outputs[ti.shard]->write_at(ti.out_offset, m_copy.take(ti.nbytes()));
                bar.step(ti.nbytes(), ti.t.name());
            }
        // every file is complete before the first rename: a failure up to here leaves all as they were
        std::unique_ptr<nnprune::atomic_file> index_out;
        if (m_path.sharded) {  // the index, byte for byte
            index_out = new_output(fs::path(m_a.out) / m_path.path.filename(), sync());
            const auto text = m_copy.take(static_cast<std::size_t>(m_index_input->size()));
            m_index_input->read(0, text);
            index_out->write(text);
        }
        if (m_masks_out) {
            std::vector<std::pair<std::string, nnprune::const_mask_view>> v;
            for (std::size_t k = 0; k < m_sel.size(); ++k)
                v.emplace_back(m_tensors[m_sel[k]].t.name(), m_masks[k].view());
            nnprune::save_masks(*m_masks_out, v);
        }
        if (m_report_out) write_report(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        // what was read is what the files hold: no other process wrote to them meanwhile
        for (const auto& in : m_inputs) in->check_unchanged();
        if (m_index_input) m_index_input->check_unchanged();
        if (m_calib_input) m_calib_input->check_unchanged();
        // one commit: every output (shards, index, masks, report) replaced, or none
        std::vector<nnprune::atomic_file*> all;
        for (auto& f : m_outputs) all.push_back(f.get());
        for (auto* f : {index_out.get(), m_masks_out.get(), m_report_out.get()})
            if (f) all.push_back(f);
        nnprune::commit_together(all);
        if (m_dir) m_dir->keep();
    }

private:
    [[nodiscard]] bool a_alloc(const char* s) const { return m_a.allocation == s; }

    /// Outputs are always atomic (temporary file + rename); durable (fsync) only with --fsync.
    [[nodiscard]] nnprune::file_sync sync() const {
        return m_a.fsync ? nnprune::file_sync::durable : nnprune::file_sync::atomic_only;
    }

    /// A reader and a writer thread beside the compute threads (--threads 2 and more).
    [[nodiscard]] bool overlap() const { return m_a.threads > 1; }

    [[nodiscard]] tensor_place place_of(const tensor_info& ti) const {
        return {m_inputs[ti.shard].get(), ti.offset, ti.nbytes(), *nnprune::element_dtype(ti.t.dtype())};
    }

    /// SparseGPT (its own masks, or the OBS update for --update-masks), or DSnoT.
    void set_reconstruction(nnprune::prune_options& o) const {
        if (m_method == method_kind::sparsegpt) {
            o.reconstruct = nnprune::sparsegpt_step{m_sparsegpt, true};
        } else if (!m_a.update_masks.empty()) {
            o.reconstruct = given_mask_update{&m_given, m_sparsegpt};
        } else if (m_dsnot) {
            nnprune::dsnot_step d;
            d.stats = [this](const nnprune::layer& l, std::size_t k) {
                return nnprune::dsnot_stats{*l.input_stat, *m_act_sum[k], *m_act_var[k]};
            };
            o.reconstruct = d;
        }
    }

    /// prune() with the method's scorer, the pattern and the allocation of the command line.
    template <class Src>
    nnprune::prune_result prune_with_method(Src& src, const nnprune::prune_options& o) {
        switch (m_method) {
            case method_kind::magnitude:
                return prune_with(src, nnprune::magnitude_scorer{}, o);
            case method_kind::wanda:
                return prune_with(src, nnprune::wanda_scorer{}, o);
            case method_kind::lamp:
                return prune_with(src, nnprune::lamp_scorer{}, o);
            case method_kind::taylor:
                return prune_with(src, nnprune::taylor_scorer{}, o);
            case method_kind::gblm:
                return prune_with(src, nnprune::gblm_scorer{}, o);
            case method_kind::sparsegpt:  // the step chooses the masks: the scorer is not used
                return prune_with(src, nnprune::magnitude_scorer{}, o);
            case method_kind::random:
                break;
        }
        return prune_with(src, nnprune::random_scorer{m_a.seed}, o);
    }

    template <class Src, class S>
    nnprune::prune_result prune_with(Src& src, const S& sc, const nnprune::prune_options& o) {
        if (m_global)
            return nnprune::prune(src, sc, nnprune::per_tensor{}, nnprune::global{m_a.sparsity, 0, m_a.min_keep}, o);
        if (a_alloc("lamp"))
            return nnprune::prune(src, sc, nnprune::per_tensor{}, nnprune::lamp_global{m_a.sparsity}, o);
        switch (m_pattern.kind) {
            case pattern_spec::unstructured:
                return allocate(src, sc, nnprune::per_tensor{}, o);
            case pattern_spec::row:
                return allocate(src, sc, nnprune::per_row{}, o);
            case pattern_spec::block:
                return allocate(src, sc, nnprune::blocks{m_pattern.a, m_pattern.b}, o);
            case pattern_spec::channel:
                return allocate(src, sc, nnprune::channels{0}, o);
            case pattern_spec::nm:
                break;
        }
        return nnprune::prune(src, sc, nnprune::n_of_m{m_pattern.a, m_pattern.b, nnprune::nm_tail::reject}, o);
    }

    /// Layer scope: uniform, or OWL over blocks = the name up to its first numeric component
    /// ("model.layers.7."), every other tensor a block of its own.
    template <class Src, class S, class P>
    nnprune::prune_result allocate(Src& src, const S& sc, const P& p, const nnprune::prune_options& o) {
        if (!a_alloc("owl")) return nnprune::prune(src, sc, p, m_a.sparsity, o);
        std::map<std::string, std::size_t> block_id;
        std::vector<std::size_t> block_of;
        for (const std::size_t i : m_sel)
            block_of.push_back(block_id.emplace(owl_block_key(m_tensors[i].t.name()), block_id.size()).first->second);
        return nnprune::prune(src, sc, p, nnprune::owl{m_a.sparsity, m_a.owl_m, m_a.owl_lambda, block_of}, o);
    }

    /// Refuses, before anything is written, outputs that would replace an input or one another
    /// (`--masks` = `-o`, `--report` = MODEL, ...) and outputs that exist but are not regular files
    /// (a device, a FIFO: renaming over them would replace the node). `-o` = MODEL (in place) is allowed.
    void check_output_paths() const {
        struct named {
            std::string option;
            fs::path path;
        };

        std::vector<named> inputs, outputs;
        for (const auto& sh : m_model->shards()) inputs.push_back({"MODEL", sh.path()});
        if (m_path.sharded) inputs.push_back({"MODEL", m_path.path});
        if (m_calib) inputs.push_back({"--calib", m_calib->path()});
        if (!m_a.update_masks.empty()) inputs.push_back({"--update-masks", m_a.update_masks});
        const fs::path out = m_a.out;
        if (m_path.sharded) {
            std::error_code ec;
            if (fs::exists(fs::symlink_status(out, ec)) && !fs::is_directory(out, ec))
                throw usage_error(str("-o ", out.string(),
                                      ": a sharded model is written to a directory, and this exists "
                                      "and is not one"));
            for (const auto& sh : m_model->shards()) outputs.push_back({"-o", out / sh.path().filename()});
            outputs.push_back({"-o", out / m_path.path.filename()});
        } else {
            outputs.push_back({"-o", out});
        }
        if (!m_a.masks.empty()) outputs.push_back({"--masks", m_a.masks});
        if (!m_a.report.empty()) outputs.push_back({"--report", m_a.report});
        // the same file: equal once made absolute and resolved, or (existing) the same inode
        auto same = [](const fs::path& x, const fs::path& y) {
            std::error_code ex, ey, eq;
            const fs::path cx = fs::weakly_canonical(fs::absolute(x), ex),
                           cy = fs::weakly_canonical(fs::absolute(y), ey);
            if (!ex && !ey && cx == cy) return true;
            return fs::equivalent(x, y, eq) && !eq;
        };
        for (std::size_t i = 0; i < outputs.size(); ++i) {
            std::error_code ec;
            const auto st = fs::status(outputs[i].path, ec);
            if (fs::exists(st) && !fs::is_regular_file(st))
                throw usage_error(str(outputs[i].option, " ", outputs[i].path.string(),
                                      ": exists and is not a regular file (refusing to replace it)"));
            for (std::size_t j = 0; j < i; ++j)
                if (same(outputs[i].path, outputs[j].path))
                    throw usage_error(str(outputs[i].option, " ", outputs[i].path.string(), " and ", outputs[j].option,
                                          " ", outputs[j].path.string(), " are the same file"));
            for (const auto& in : inputs)
                if (same(outputs[i].path, in.path) && !(outputs[i].option == "-o" && in.option == "MODEL"))
                    throw usage_error(str(outputs[i].option, " ", outputs[i].path.string(), " would replace the input ",
                                          in.option, " ", in.path.string()));
        }
    }

    /// Every output file created (a temporary file, committed at the end) with its header; the
    /// tensors are written at their offsets (any order) as prune() releases them.
    void open_outputs() {
        const auto& shards = m_model->shards();
        const fs::path out = m_a.out;
        if (m_path.sharded) m_dir.emplace(out);  // created if missing, and locked
        for (std::size_t s = 0; s < shards.size(); ++s) {
            m_outputs.push_back(new_output(m_path.sharded ? out / shards[s].path().filename() : out, sync()));
            m_outputs.back()->write(m_headers[s]);
        }
        // created now, so an unwritable --masks or --report fails before any work
        if (!m_a.masks.empty()) m_masks_out = new_output(m_a.masks, nnprune::file_sync::durable);  // always durable
        if (!m_a.report.empty()) m_report_out = new_output(m_a.report, sync());
    }

    /// An output's temporary file, after removing those a killed earlier run left beside it.
    static std::unique_ptr<nnprune::atomic_file> new_output(const fs::path& target, nnprune::file_sync how) {
        (void)nnprune::remove_stale_temporaries(target);
        return std::make_unique<nnprune::atomic_file>(target, how);
    }

    static bool is_selected(const nnprune::safetensors_tensor& t, const std::vector<std::unique_ptr<re2::RE2>>& inc,
                            const std::vector<std::unique_ptr<re2::RE2>>& exc) {
        if (!t.is_element()) return false;
        const std::string& n = t.name();
        bool name_ok;
        if (inc.empty()) {
            name_ok = t.rank() == 2 && n.size() >= 7 && n.compare(n.size() - 7, 7, ".weight") == 0;
        } else {
            name_ok = t.rank() >= 2 && t.rank() <= 4;
            bool any = false;
            for (const auto& r : inc) any = any || re2::RE2::PartialMatch(n, *r);
            name_ok = name_ok && any;
        }
        for (const auto& r : exc)
            if (re2::RE2::PartialMatch(n, *r)) name_ok = false;
        return name_ok && t.numel() > 0;
    }

    [[nodiscard]] bool needs_act() const {
        return m_method == method_kind::wanda || m_method == method_kind::gblm || m_dsnot;
    }

    [[nodiscard]] bool needs_hessian() const { return m_method == method_kind::sparsegpt || !m_a.update_masks.empty(); }

    [[nodiscard]] const char* grad_suffix() const {
        return m_method == method_kind::taylor ? ".grad" : m_method == method_kind::gblm ? ".grad_l2" : nullptr;
    }

    /// Every check that does not need the weights' values: calibration statistics, N:M widths.
    void validate_inputs() {
        if ((needs_act() || grad_suffix() || needs_hessian()) && !m_calib)
            throw usage_error(str(m_dsnot                     ? "--refine dsnot"
                                  : !m_a.update_masks.empty() ? "--update-masks"
                                                              : "--method ",
                                  m_dsnot || !m_a.update_masks.empty() ? "" : m_a.method,
                                  " needs calibration statistics: pass --calib STATS.safetensors"));
        if (!m_a.update_masks.empty()) load_given_masks();
        if (m_calib)
            for (std::size_t i = 0; i < m_calib->size(); ++i)
                m_calib_index.emplace(m_calib->view().header().tensors[i].name, i);
        m_act.resize(m_sel.size());
        m_act_bytes.resize(m_sel.size());
        m_act_converted.resize(m_sel.size());
        m_grad.resize(m_sel.size());
        m_hess.resize(m_sel.size());
        m_act_sum.resize(m_sel.size());
        m_act_var.resize(m_sel.size());
        m_dsnot_bytes.resize(2 * m_sel.size());
        for (std::size_t k = 0; k < m_sel.size(); ++k) {
            const auto& t = m_tensors[m_sel[k]].t;
            const nnprune::shape s = t.nn_shape();
            if (needs_act()) find_input_stat(k, t, s);
            if (needs_hessian()) find_hessian(k, t, s);
            if (m_dsnot) {
                m_act_sum[k] = read_column_stat(t, s, ".act_sum", m_dsnot_bytes[2 * k]);
                m_act_var[k] = read_column_stat(t, s, ".act_var", m_dsnot_bytes[2 * k + 1]);
            }
            if (const char* g = grad_suffix()) {
                const auto it = m_calib_index.find(t.name() + g);
                if (it == m_calib_index.end())
                    throw input_error(str("--calib ", m_calib->path().string(), ": no statistic '", t.name(), g,
                                          "' for tensor '", t.name(), "' (--method ", m_a.method, " needs it)"));
                const auto st = m_calib->at(it->second);
                if (!st.is_element() || st.shape() != t.shape())
                    throw input_error(str("--calib: '", t.name(), g, "' is ", dtype_text(st.dtype()), " ",
                                          shape_text(st.shape()), ", tensor '", t.name(), "' is ",
                                          shape_text(t.shape())));
                m_grad[k] = calib_place(it->second);
            }
            if (m_pattern.kind == pattern_spec::nm && s.cols() % m_pattern.b != 0)
                NNPRUNE_THROW(nnprune::precondition_error,
                              str("prune: tensor '", t.name(), "' (", s, ") has rows of ", s.cols(),
                                  " elements, not a multiple of M = ", m_pattern.b, " (--pattern ", m_a.pattern, ")"));
        }
    }

    /**
     * The activation statistic of selected tensor k, as the scorers take it (Wanda's scaler_row):
     * W.act_sq_mean is used as stored; W.act_l2 (a per-column L2 norm a) is squared in float32,
     * which the scorer's sqrt undoes exactly (sqrt(fl(a * a)) == a for every a whose square is a
     * normal float; checked), so the scores are |W| * a, a per-tensor constant times Wanda's.
     */
    void find_input_stat(std::size_t k, const nnprune::safetensors_tensor& t, const nnprune::shape& s) {
        const std::string& n = t.name();
        const std::string sq = n + ".act_sq_mean", l2 = n + ".act_l2", old = n + ".act_norm";
        const std::string file = m_calib->path().string();
        const bool has_sq = m_calib->contains(sq), has_l2 = m_calib->contains(l2);
        if (has_sq && has_l2)
            throw input_error(str("--calib ", file, ": both '", sq, "' and '", l2, "' are present for tensor '", n,
                                  "'; keep one (they carry the same information)"));
        if (!has_sq && !has_l2) {
            if (m_calib->contains(old))
                throw input_error(
                    str("--calib ", file, ": '", old,
                        "' is no longer read (it held Wanda's scaler_row, a mean of "
                        "squares, although its name says norm): rename it to '",
                        sq, "' if it holds the per-column mean of squared inputs, or store the per-column L2 norm as '",
                        l2, "'"));
            throw input_error(str("--calib ", file, ": no statistic '", sq, "' or '", l2, "' for tensor '", n,
                                  "' (--method ", m_a.method, " needs one)"));
        }
        if (m_method == method_kind::gblm && !has_sq)
            throw input_error(
                str("--calib ", file, ": --method gblm needs '", sq, "' for tensor '", n,
                    "': its score |W| * (sqrt(scaler_row) + |G|) adds the statistic to the gradient term, so "
                    "its scale matters, and '",
                    l2, "' is sqrt(sequences) times larger"));
        const std::string& name = has_sq ? sq : l2;
        const auto st = m_calib->tensor(name);
        if (!st.is_element() || st.numel() != s.cols())
            throw input_error(str("--calib: '", name, "' has ", st.numel(), " ", dtype_text(st.dtype()),
                                  " elements, tensor '", n, "' (", s, ") has ", s.cols(), " input columns"));
        // read (pread), not viewed in the mapping: a file truncated meanwhile is an error, not a SIGBUS
        const tensor_place where = calib_place(m_calib_index.find(name)->second);
        auto& bytes = m_act_bytes[k];
        bytes.resize(where.bytes);
        where.file->read(where.offset, bytes);
        const nnprune::tensor_ref stat =
            typed_ref(where.type, static_cast<const std::byte*>(bytes.data()), st.nn_shape());
        if (has_sq) {
            m_act[k] = stat;
            return;
        }
        auto v = nnprune::detail::to_float_vector(stat);
        for (std::size_t j = 0; j < v.size(); ++j) {
            const float a = v[j], a2 = a * a;
            if (!(std::sqrt(a2) == a))
                throw input_error(
                    str("--calib: '", l2, "' column ", j, " is ", a,
                        ": an L2 norm must be >= 0 with a normal float32 square (about 1e-19 to 1.8e19)"));
            v[j] = a2;
        }
        m_act_converted[k] = std::move(v);
        m_act[k] = nnprune::tensor_view<const float, 1>(m_act_converted[k].data(), m_act_converted[k].size());
    }

    /**
     * The Hessian of selected tensor k (SparseGPT): '<weight>.hessian' [in, in]; weights that read
     * the same input may share one tensor: the file's __metadata__ maps '<weight>.hessian' to the
     * name of the tensor that holds it. Read with the weights (pread) when the tensor is pruned.
     */
    void find_hessian(std::size_t k, const nnprune::safetensors_tensor& t, const nnprune::shape& s) {
        const std::string key = t.name() + ".hessian", file = m_calib->path().string();
        std::string name = key;
        if (!m_calib->contains(key)) {
            const auto& md = m_calib->metadata();
            const auto it = md.find(key);
            if (it == md.end())
                throw input_error(str("--calib ", file, ": no Hessian '", key, "' for tensor '", t.name(),
                                      "' (a tensor of that name, or a __metadata__ entry naming the shared one)"));
            name = it->second;
            if (!m_calib->contains(name))
                throw input_error(str("--calib ", file, ": __metadata__ maps '", key, "' to '", name,
                                      "', which is not a tensor of the file"));
        }
        const auto h = m_calib->tensor(name);
        const std::size_t in = s.cols();
        if (!h.is_element() || h.rank() != 2 || h.shape()[0] != in || h.shape()[1] != in)
            throw input_error(str("--calib: Hessian '", name, "' is ", dtype_text(h.dtype()), " ",
                                  shape_text(h.shape()), "; tensor '", t.name(), "' (", s, ") needs [", in, ", ", in,
                                  "]"));
        m_hess[k] = calib_place(m_calib_index.find(name)->second);
    }

    /// A per-input-column statistic '<weight><suffix>' [in] (DSnoT's act_sum, act_var), read now.
    nnprune::tensor_ref read_column_stat(const nnprune::safetensors_tensor& t, const nnprune::shape& s,
                                         const char* suffix, std::vector<std::byte>& bytes) const {
        const std::string name = t.name() + suffix, file = m_calib->path().string();
        const auto it = m_calib_index.find(name);
        if (it == m_calib_index.end())
            throw input_error(str("--calib ", file, ": no statistic '", name, "' for tensor '", t.name(),
                                  "' (--refine dsnot needs it)"));
        const auto st = m_calib->at(it->second);
        if (!st.is_element() || st.numel() != s.cols())
            throw input_error(str("--calib: '", name, "' has ", st.numel(), " ", dtype_text(st.dtype()),
                                  " elements, tensor '", t.name(), "' (", s, ") has ", s.cols(), " input columns"));
        const tensor_place where = calib_place(it->second);
        bytes.resize(where.bytes);
        where.file->read(where.offset, bytes);
        return typed_ref(where.type, static_cast<const std::byte*>(bytes.data()), st.nn_shape());
    }

    /// --update-masks: one mask per selected tensor, of its shape, and none for another tensor.
    void load_given_masks() {
        std::map<std::string, nnprune::mask> file;
        try {
            file = nnprune::load_masks(fs::path(m_a.update_masks));
        } catch (const nnprune::format_error& e) {
            throw input_error(str("--update-masks ", m_a.update_masks, ": ", e.what()));
        }
        m_given.resize(m_sel.size());
        for (std::size_t k = 0; k < m_sel.size(); ++k) {
            const auto& t = m_tensors[m_sel[k]].t;
            const auto it = file.find(t.name());
            if (it == file.end())
                throw input_error(str("--update-masks ", m_a.update_masks, ": no mask for tensor '", t.name(), "'"));
            if (it->second.shape() != t.nn_shape())
                throw input_error(str("--update-masks: the mask of '", t.name(), "' is ", it->second.shape(),
                                      ", the tensor ", t.nn_shape()));
            m_given[k] = std::move(it->second);
            file.erase(it);
        }
        if (!file.empty())
            throw input_error(str("--update-masks ", m_a.update_masks, ": mask '", file.begin()->first,
                                  "' matches no selected tensor"));
    }

    /// Where calibration tensor i is in the --calib file.
    [[nodiscard]] tensor_place calib_place(std::size_t i) const {
        const auto& h = m_calib->view().header();
        const auto st = m_calib->at(i);
        return {m_calib_input.get(), h.data_start + h.tensors[i].begin, st.bytes().size(),
                *nnprune::element_dtype(st.dtype())};
    }

    /// Writes the report into its temporary file (committed with the model).
    void write_report(double secs) const {
        using json = nlohmann::ordered_json;
        json tensors = json::array();
        std::size_t sel_elems = 0, sel_kept = 0, all_elems = 0;
        for (const auto& ti : m_tensors) {
            const auto& t = ti.t;
            const auto n = static_cast<std::size_t>(t.numel());
            const std::size_t kept = ti.selected ? m_result.layers[ti.sel].kept : n;
            all_elems += n;
            json e = {{"name", t.name()},
                      {"shape", t.shape()},
                      {"dtype", dtype_text(t.dtype())},
                      {"elements", n},
                      {"pruned", ti.selected},
                      {"kept", kept},
                      {"sparsity", n ? 1.0 - static_cast<double>(kept) / static_cast<double>(n) : 0.0}};
            if (ti.selected) {
                sel_elems += n;
                sel_kept += kept;
                if (!std::isnan(m_result.layers[ti.sel].target)) e["target"] = m_result.layers[ti.sel].target;
            }
            tensors.push_back(std::move(e));
        }
        json r = {
            {"command", "prune"},
            {"input", m_a.model},
            {"output", m_a.out},
            {"method", m_a.method},
            {"pattern", m_a.pattern},
            {"scope", m_a.scope},
            {"allocation", m_a.allocation},
            {"sparsity", m_a.sparsity},
            {"rounding", m_a.rounding},
            {"isa", nnprune::simd::isa_name(nnprune::simd::active_isa())},
            {"tensors", tensors},
            {"totals",
             {{"tensors", m_tensors.size()},
              {"pruned_tensors", m_sel.size()},
              {"elements", sel_elems},
              {"kept", sel_kept},
              {"sparsity", sel_elems ? 1.0 - static_cast<double>(sel_kept) / static_cast<double>(sel_elems) : 0.0},
              {"model_elements", all_elems}}},
            {"time_seconds", secs}};
        if (m_global && sel_kept < sel_elems)
            r["global"] = {
                {"k", sel_elems - sel_kept}, {"competing", sel_elems}, {"threshold", m_result.layers[0].kth_score}};
        const std::string text = r.dump(2) + "\n";
        m_report_out->write(std::as_bytes(std::span<const char>(text.data(), text.size())));
    }

    const prune_args& m_a;
    method_kind m_method{};
    pattern_spec m_pattern{};
    nnprune::rounding m_round{};
    bool m_global = false;
    nnprune::sparsegpt_options m_sparsegpt;
    bool m_dsnot = false;
    model_path m_path;
    std::optional<nnprune::safetensors_model> m_model;
    std::vector<std::unique_ptr<input_file>> m_inputs;  // per shard
    std::unique_ptr<input_file> m_index_input;          // a sharded model's index
    std::optional<nnprune::safetensors_file> m_calib;
    std::unique_ptr<input_file> m_calib_input;
    std::vector<tensor_info> m_tensors;
    std::vector<std::size_t> m_sel;                 // the selected tensors, by name (the source's order)
    std::vector<std::vector<std::byte>> m_headers;  // per output file
    /// Per selected tensor: the activation statistic (scaler_row form) and the gradient's place.
    std::map<std::string, std::size_t, std::less<>> m_calib_index;  // --calib's tensors by name
    std::vector<std::optional<nnprune::tensor_ref>> m_act;
    std::vector<std::vector<std::byte>> m_act_bytes;  // as read from --calib
    std::vector<std::vector<float>> m_act_converted;
    std::vector<std::optional<tensor_place>> m_grad;
    std::vector<std::optional<tensor_place>> m_hess;                       // SparseGPT: read with the weights
    std::vector<std::optional<nnprune::tensor_ref>> m_act_sum, m_act_var;  // DSnoT
    std::vector<std::vector<std::byte>> m_dsnot_bytes;
    std::vector<nnprune::mask> m_given;  // --update-masks, by selected index
    std::vector<float> m_scores;         // prune()'s reused score buffer
    std::vector<nnprune::mask> m_masks;
    nnprune::prune_result m_result;
    std::optional<output_directory> m_dir;                            // a sharded model's -o, held while writing
    std::vector<std::unique_ptr<nnprune::atomic_file>> m_outputs;     // per shard
    std::unique_ptr<nnprune::atomic_file> m_masks_out, m_report_out;  // --masks, --report: committed with them
    reused_buffer<std::byte> m_copy;
};

}  // namespace

void check_prune_args(const prune_args& a) { (void)prune_settings(a); }

void run_prune(const prune_args& a) {
    pruner p(a);
    p.run();
}

}  // namespace nnprune_cli
