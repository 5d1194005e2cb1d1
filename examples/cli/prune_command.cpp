// `nnprune prune`: streams a safetensors model tensor by tensor, prunes the selected weights and
// writes the pruned model (and optionally the masks and a JSON report).
//
// Every tensor is read with pread into buffers reused from tensor to tensor (tensor_io.hpp);
// scores, mask words and the selection workspace are reused too. Memory bound (peak RSS, see
// README.md): a constant plus, per pipeline slot (1, or 3 with --threads >= 2), the largest
// tensor's bytes (and gradient's), plus the largest selected tensor's scores (4 B/element) and
// mask (1/8 B/element), plus 8 KiB per selected tensor (global scope, --allocation lamp) and,
// with --masks, 1 bit per selected element. Nothing else grows with the model.

#include "prune_command.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include <nnprune/allocation/owl.hpp>
#include <nnprune/io/mask_file.hpp>
#include <nnprune/io/safetensors_model.hpp>
#include <nnprune/masks/apply.hpp>
#include <nnprune/masks/mask.hpp>
#include <nnprune/scorers/lamp.hpp>
#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/random.hpp>
#include <nnprune/scorers/scorer.hpp>
#include <nnprune/scorers/wanda.hpp>
#include <nnprune/select/select.hpp>

#include "common.hpp"
#include "stream_select.hpp"
#include "tensor_io.hpp"

namespace nnprune_cli {
namespace {

namespace fs = std::filesystem;
using nnprune::detail::str;

enum class method_kind { magnitude, wanda, lamp, taylor, gblm, random };

method_kind parse_method(const std::string& m) {
    static const std::map<std::string, method_kind> k{{"magnitude", method_kind::magnitude}, {"wanda", method_kind::wanda},
                                                      {"lamp", method_kind::lamp},           {"taylor", method_kind::taylor},
                                                      {"gblm", method_kind::gblm},           {"random", method_kind::random}};
    const auto it = k.find(m);
    if (it == k.end()) throw usage_error(str("--method: unknown method '", m, "' (magnitude|wanda|lamp|taylor|gblm|random)"));
    return it->second;
}

struct pattern_spec {
    enum kind_t { unstructured, row, nm, block, channel } kind = unstructured;
    std::size_t a = 0, b = 0;  // N:M or RxC
};

pattern_spec parse_pattern(const std::string& p) {
    std::smatch m;
    if (p == "unstructured") return {pattern_spec::unstructured};
    if (p == "row") return {pattern_spec::row};
    if (p == "channel") return {pattern_spec::channel};
    static const std::regex nm_re("^([0-9]+):([0-9]+)$"), block_re("^block:([0-9]+)x([0-9]+)$");
    if (std::regex_match(p, m, nm_re)) {
        const auto n = std::stoull(m[1]), mm = std::stoull(m[2]);
        if (mm == 0 || n > mm) throw usage_error(str("--pattern ", p, ": need N <= M and M > 0 (N:M keeps N of every M)"));
        return {pattern_spec::nm, static_cast<std::size_t>(n), static_cast<std::size_t>(mm)};
    }
    if (std::regex_match(p, m, block_re)) {
        const auto r = std::stoull(m[1]), c = std::stoull(m[2]);
        if (r == 0 || c == 0) throw usage_error(str("--pattern ", p, ": block extents must be positive"));
        return {pattern_spec::block, static_cast<std::size_t>(r), static_cast<std::size_t>(c)};
    }
    throw usage_error(str("--pattern: unknown pattern '", p, "' (unstructured|row|N:M|block:RxC|channel)"));
}

nnprune::rounding parse_rounding(const std::string& r) {
    if (r == "half-even") return nnprune::rounding::half_even;
    if (r == "truncate") return nnprune::rounding::truncate;
    if (r == "ceil") return nnprune::rounding::ceil;
    throw usage_error(str("--rounding: unknown rule '", r, "' (half-even|truncate|ceil)"));
}

/// One tensor of the input (any dtype), where its bytes are, and whether it is pruned.
struct tensor_info {
    std::size_t shard;
    const nnprune::safetensors_entry* entry;
    std::uint64_t offset;  ///< of its data in the shard file
    nnprune::safetensors_tensor t;  ///< its metadata (its mapped bytes are never read)
    bool selected = false;
    std::size_t sel = 0;  // index among the selected tensors
    [[nodiscard]] std::size_t nbytes() const noexcept { return t.bytes().size(); }
};

std::string dtype_text(nnprune::safetensors_dtype d) { return std::string(nnprune::name_of(d)); }

/// A tensor_ref of the given dtype and nnprune shape over `p` (mutable when T is not const).
template <class Byte>
nnprune::tensor_ref typed_ref(nnprune::dtype et, Byte* p, const nnprune::shape& s) {
    constexpr bool ro = std::is_const_v<Byte>;
    auto make = [&](auto tag) -> nnprune::tensor_ref {
        using E = std::conditional_t<ro, const decltype(tag), decltype(tag)>;
        E* q = reinterpret_cast<E*>(p);
        switch (s.rank()) {
            case 1: return nnprune::tensor_view<E, 1>(q, s[0]);
            case 2: return nnprune::tensor_view<E, 2>(q, s[0], s[1]);
            case 3: return nnprune::tensor_view<E, 3>(q, s[0], s[1], s[2]);
            default: return nnprune::tensor_view<E, 4>(q, s[0], s[1], s[2], s[3]);
        }
    };
    switch (et) {
        case nnprune::dtype::f64: return make(double{});
        case nnprune::dtype::bf16: return make(nnprune::bfloat16{});
        case nnprune::dtype::f16: return make(nnprune::float16{});
        case nnprune::dtype::f32: break;
    }
    return make(float{});
}

/// What the reader fills for one tensor: its bytes and, for gradient methods, its gradient's.
struct slot {
    reused_buffer<std::byte> bytes, grad;
    std::size_t item = 0;  // index into the tensor list
};

/// Everything one prune run needs, opened and validated before anything is written.
class pruner {
public:
    explicit pruner(const prune_args& a) : m_a(a) {
        m_method = parse_method(a.method);
        m_pattern = parse_pattern(a.pattern);
        m_round = parse_rounding(a.rounding);
        if (a.scope != "layer" && a.scope != "global") throw usage_error(str("--scope: '", a.scope, "' (layer|global)"));
        m_global = a.scope == "global";
        if (a.allocation != "uniform" && a.allocation != "owl" && a.allocation != "lamp")
            throw usage_error(str("--allocation: '", a.allocation, "' (uniform|lamp|owl)"));
        if (!(a.sparsity >= 0.0 && a.sparsity <= 1.0)) throw usage_error(str("--sparsity must be in [0, 1], got ", a.sparsity));
        if (!(a.min_keep >= 0.0 && a.min_keep <= 1.0)) throw usage_error(str("--min-keep must be in [0, 1], got ", a.min_keep));
        if (a.min_keep > 0.0 && !m_global) throw usage_error("--min-keep needs --scope global");
        if (m_global && m_pattern.kind != pattern_spec::unstructured)
            throw usage_error(str("--scope global needs --pattern unstructured (got ", a.pattern, ")"));
        if (m_global && a.allocation != "uniform")
            throw usage_error(str("--allocation ", a.allocation, " decides per-tensor sparsities: use it with --scope layer"));
        if (a.allocation == "lamp" && m_pattern.kind != pattern_spec::unstructured)
            throw usage_error("--allocation lamp needs --pattern unstructured");
        if (a.allocation != "uniform" && m_pattern.kind == pattern_spec::nm)
            throw usage_error("--pattern N:M fixes the sparsity: use --allocation uniform");
        if (a.threads == 0) throw usage_error("--threads must be at least 1");
        std::vector<std::regex> inc, exc;
        try {
            for (const auto& r : a.include) inc.emplace_back(r, std::regex::ECMAScript);
            for (const auto& r : a.exclude) exc.emplace_back(r, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
            throw usage_error(str("--include/--exclude: invalid regular expression: ", e.what()));
        }

        m_path = resolve_model_path(a.model);
        m_model.emplace(m_path.path);
        const auto& shards = m_model->shards();
        for (std::size_t s = 0; s < shards.size(); ++s)
            for (std::size_t i = 0; i < shards[s].size(); ++i) {
                const auto& h = shards[s].view().header();
                tensor_info ti{s, &h.tensors[i], h.data_start + h.tensors[i].begin, shards[s].at(i)};
                ti.selected = is_selected(ti.t, inc, exc);
                m_tensors.push_back(ti);
            }
        // list order (the tie order of global selection): by name
        for (std::size_t i = 0; i < m_tensors.size(); ++i)
            if (m_tensors[i].selected) m_sel.push_back(i);
        std::sort(m_sel.begin(), m_sel.end(), [&](std::size_t x, std::size_t y) { return m_tensors[x].t.name() < m_tensors[y].t.name(); });
        for (std::size_t k = 0; k < m_sel.size(); ++k) m_tensors[m_sel[k]].sel = k;
        if (m_sel.empty()) throw usage_error("no tensor selected (floating 2-D tensors named *.weight, refined by --include/--exclude)");

        for (std::size_t s = 0; s < shards.size(); ++s) m_inputs.push_back(std::make_unique<input_file>(shards[s].path()));
        if (!a.calib.empty()) {
            m_calib.emplace(fs::path(a.calib));
            m_calib_input = std::make_unique<input_file>(m_calib->path());
        }
        validate_inputs();
        m_masks.resize(m_sel.size());
        m_kept.assign(m_sel.size(), 0);
        m_target.assign(m_sel.size(), std::numeric_limits<double>::quiet_NaN());
    }

    void run() {
        const auto t0 = std::chrono::steady_clock::now();
        const std::size_t score_passes = m_global ? stream_select::levels
                                         : a_alloc("owl")  ? 2
                                         : a_alloc("lamp") ? stream_select::levels
                                                           : 0;
        std::uint64_t sel_bytes = 0, all_bytes = 0;
        for (const auto& ti : m_tensors) {
            all_bytes += ti.nbytes();
            if (ti.selected) sel_bytes += ti.nbytes();
        }
        progress bar(score_passes * sel_bytes + all_bytes, score_passes * m_sel.size() + m_tensors.size(), !m_a.quiet);
        reserve_buffers();
        plan(bar);
        write_outputs(bar);
        if (!m_a.masks.empty()) {
            std::vector<std::pair<std::string, nnprune::const_mask_view>> v;
            for (std::size_t k = 0; k < m_sel.size(); ++k) v.emplace_back(m_tensors[m_sel[k]].t.name(), m_masks[k].view());
            nnprune::save_masks(m_a.masks, v);
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!m_a.report.empty()) write_report(secs);
    }

private:
    [[nodiscard]] bool a_alloc(const char* s) const { return m_a.allocation == s; }
    /// Outputs are always atomic (temporary file + rename); durable (fsync) only with --fsync.
    [[nodiscard]] nnprune::file_sync sync() const {
        return m_a.fsync ? nnprune::file_sync::durable : nnprune::file_sync::atomic_only;
    }
    /// Reader and writer threads beside the compute threads (--threads 2 and more).
    [[nodiscard]] bool overlap() const { return m_a.threads > 1; }

    static bool is_selected(const nnprune::safetensors_tensor& t, const std::vector<std::regex>& inc,
                            const std::vector<std::regex>& exc) {
        if (!t.is_element()) return false;
        const std::string& n = t.name();
        bool name_ok;
        if (inc.empty()) {
            name_ok = t.rank() == 2 && n.size() >= 7 && n.compare(n.size() - 7, 7, ".weight") == 0;
        } else {
            name_ok = t.rank() >= 2 && t.rank() <= 4;
            bool any = false;
            for (const auto& r : inc) any = any || std::regex_search(n, r);
            name_ok = name_ok && any;
        }
        for (const auto& r : exc)
            if (std::regex_search(n, r)) name_ok = false;
        return name_ok && t.numel() > 0;
    }

    [[nodiscard]] bool needs_act() const { return m_method == method_kind::wanda || m_method == method_kind::gblm; }
    [[nodiscard]] const char* grad_suffix() const {
        return m_method == method_kind::taylor ? ".grad" : m_method == method_kind::gblm ? ".grad_l2" : nullptr;
    }

    /// Every check that does not need the weights' values: calibration statistics, N:M widths.
    void validate_inputs() {
        if ((needs_act() || grad_suffix()) && !m_calib)
            throw usage_error(str("--method ", m_a.method, " needs calibration statistics: pass --calib STATS.safetensors"));
        std::map<std::string, std::size_t, std::less<>> calib_index;
        if (m_calib)
            for (std::size_t i = 0; i < m_calib->size(); ++i) calib_index.emplace(m_calib->view().header().tensors[i].name, i);
        m_act.resize(m_sel.size());
        m_act_converted.resize(m_sel.size());
        m_grad.resize(m_sel.size());
        for (std::size_t k = 0; k < m_sel.size(); ++k) {
            const auto& t = m_tensors[m_sel[k]].t;
            const nnprune::shape s = t.nn_shape();
            if (needs_act()) find_input_stat(k, t, s);
            if (const char* g = grad_suffix()) {
                const auto it = calib_index.find(t.name() + g);
                if (it == calib_index.end())
                    throw input_error(str("--calib ", m_calib->path().string(), ": no statistic '", t.name(), g, "' for tensor '",
                                          t.name(), "' (--method ", m_a.method, " needs it)"));
                const auto st = m_calib->at(it->second);
                if (!st.is_element() || st.shape() != t.shape())
                    throw input_error(str("--calib: '", t.name(), g, "' is ", dtype_text(st.dtype()), " ", shape_text(st.shape()),
                                          ", tensor '", t.name(), "' is ", shape_text(t.shape())));
                const auto& h = m_calib->view().header();
                m_grad[k] = {&h.tensors[it->second], h.data_start + h.tensors[it->second].begin};
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
                throw input_error(str("--calib ", file, ": '", old, "' is no longer read (it held Wanda's scaler_row, a mean of "
                                      "squares, although its name says norm): rename it to '", sq,
                                      "' if it holds the per-column mean of squared inputs, or store the per-column L2 norm as '",
                                      l2, "'"));
            throw input_error(str("--calib ", file, ": no statistic '", sq, "' or '", l2, "' for tensor '", n, "' (--method ",
                                  m_a.method, " needs one)"));
        }
        if (m_method == method_kind::gblm && !has_sq)
            throw input_error(str("--calib ", file, ": --method gblm needs '", sq, "' for tensor '", n,
                                  "': its score |W| * (sqrt(scaler_row) + |G|) adds the statistic to the gradient term, so "
                                  "its scale matters, and '", l2, "' is sqrt(sequences) times larger"));
        const std::string& name = has_sq ? sq : l2;
        const auto st = m_calib->tensor(name);
        if (!st.is_element() || st.numel() != s.cols())
            throw input_error(str("--calib: '", name, "' has ", st.numel(), " ", dtype_text(st.dtype()), " elements, tensor '", n,
                                  "' (", s, ") has ", s.cols(), " input columns"));
        if (has_sq) {
            m_act[k] = st.ref();
            return;
        }
        auto v = nnprune::detail::to_float_vector(st.ref());
        for (std::size_t j = 0; j < v.size(); ++j) {
            const float a = v[j], a2 = a * a;
            if (!(std::sqrt(a2) == a))
                throw input_error(str("--calib: '", l2, "' column ", j, " is ", a,
                                      ": an L2 norm must be >= 0 with a normal float32 square (about 1e-19 to 1.8e19)"));
            v[j] = a2;
        }
        m_act_converted[k] = std::move(v);
        m_act[k] = nnprune::tensor_view<const float, 1>(m_act_converted[k].data(), m_act_converted[k].size());
    }

    /// Every buffer at its largest size, once: the tensors' bytes (per pipeline slot), gradients,
    /// scores and mask words.
    void reserve_buffers() {
        m_slots.resize(overlap() ? 3 : 1);
        std::size_t bytes = 0, grad = 0, elems = 0;
        for (const auto& ti : m_tensors) bytes = std::max(bytes, ti.nbytes());
        for (std::size_t k = 0; k < m_sel.size(); ++k) {
            elems = std::max(elems, static_cast<std::size_t>(m_tensors[m_sel[k]].t.numel()));
            if (m_grad[k].entry) grad = std::max(grad, static_cast<std::size_t>(m_grad[k].entry->end - m_grad[k].entry->begin));
        }
        for (auto& s : m_slots) {
            s.bytes.reserve(bytes);
            s.grad.reserve(grad);
        }
        m_scores.reserve(elems);
        m_words.reserve(nnprune::mask_words(elems));
    }

    /// Reader stage: tensor i's bytes (and, with `grad`, its gradient's) into the slot.
    void read_tensor(std::size_t i, slot& sl, bool grad) const {
        const tensor_info& ti = m_tensors[i];
        sl.item = i;
        m_inputs[ti.shard]->read(ti.offset, sl.bytes.take(ti.nbytes()));
        if (grad && ti.selected && m_grad[ti.sel].entry) {
            const calib_entry& g = m_grad[ti.sel];
            m_calib_input->read(g.offset, sl.grad.take(static_cast<std::size_t>(g.entry->end - g.entry->begin)));
        }
    }

    /// Scores with `sc` into `out`, rows split over --threads when the scorer is row-local (the
    /// scores do not depend on the split).
    template <class S>
    void score_into(const S& sc, const tensor_info& ti, slot& sl, std::span<float> out) const {
        const nnprune::shape s = ti.t.nn_shape();
        const auto et = *nnprune::element_dtype(ti.t.dtype());
        const std::size_t rows = s.rows(), cols = s.cols();
        const calib_entry& g = m_grad[ti.sel];
        const auto get = g.entry ? nnprune::element_dtype(g.entry->dtype) : std::nullopt;
        auto part = [&](std::size_t r0, const nnprune::shape& ps) {
            nnprune::layer l{ti.t.name(), typed_ref(et, sl.bytes.take(ti.nbytes()).data() + r0 * cols * nnprune::size_of(et), ps),
                             m_act[ti.sel], std::nullopt};
            if (get) l.gradient = typed_ref(*get, sl.grad.take(1).data() + r0 * cols * nnprune::size_of(*get), ps);
            return l;
        };
        const nnprune::layer whole = part(0, s);
        nnprune::check_scorer_input(sc, whole);
        unsigned parts = 1;
        if constexpr (nnprune::row_local_scorer<S>) parts = static_cast<unsigned>(std::min<std::size_t>(m_a.threads, rows));
        if (parts <= 1) {
            sc(whole, nnprune::matrix_view<float>(out.data(), rows, cols));
            return;
        }
        nnprune::detail::parallel_for(rows, parts, [&](std::size_t r0, std::size_t r1, unsigned) {
            sc(part(r0, nnprune::shape{r1 - r0, cols}), nnprune::matrix_view<float>(out.data() + r0 * cols, r1 - r0, cols));
        });
    }

    /// The scores of selected tensor ti (in the slot) by the method, or by LAMP for its allocation plan.
    std::span<const float> scores_of(const tensor_info& ti, slot& sl, bool lamp = false) {
        const auto out = m_scores.take(static_cast<std::size_t>(ti.t.numel()));
        switch (lamp ? method_kind::lamp : m_method) {
            case method_kind::magnitude: score_into(nnprune::magnitude_scorer{}, ti, sl, out); break;
            case method_kind::wanda: score_into(nnprune::wanda_scorer{}, ti, sl, out); break;
            case method_kind::lamp: score_into(nnprune::lamp_scorer{}, ti, sl, out); break;
            case method_kind::taylor: score_into(nnprune::taylor_scorer{}, ti, sl, out); break;
            case method_kind::gblm: score_into(nnprune::gblm_scorer{}, ti, sl, out); break;
            case method_kind::random: score_into(nnprune::random_scorer{m_a.seed}, ti, sl, out); break;
        }
        return out;
    }

    [[nodiscard]] nnprune::select_options sel_opts(const tensor_info& ti) {
        nnprune::select_options so;
        so.round = m_round;
        so.threads = m_a.threads;
        so.name = ti.t.name();
        so.workspace = &m_ws;
        return so;
    }

    /// One streamed pass over the selected tensors (list order): read, then work(k, scores).
    template <class Work>
    void score_pass(progress& bar, const std::string& what, bool lamp, Work&& work) {
        run_pipeline(
            m_sel.size(), m_slots, overlap(), [&](std::size_t k, slot& sl) { read_tensor(m_sel[k], sl, !lamp); },
            [&](std::size_t k, slot& sl) {
                const tensor_info& ti = m_tensors[m_sel[k]];
                work(k, scores_of(ti, sl, lamp));
                bar.step(ti.nbytes(), what + ti.t.name());
            },
            [](std::size_t, slot&) {});
    }

    /// Passes before the write pass: global thresholds, OWL outlier ratios, LAMP plan.
    void plan(progress& bar) {
        std::vector<std::size_t> sizes;
        for (const std::size_t i : m_sel) sizes.push_back(static_cast<std::size_t>(m_tensors[i].t.numel()));
        if (m_global) {
            m_stream.emplace(sizes, nnprune::amount(m_a.sparsity), m_round, m_a.min_keep);
            run_levels(bar, false);
        } else if (a_alloc("owl")) {
            plan_owl(bar);
        } else if (a_alloc("lamp")) {
            plan_lamp(bar, sizes);
        } else {
            m_target.assign(m_sel.size(), m_a.sparsity);
        }
    }

    void run_levels(progress& bar, bool lamp) {
        for (int level = 0; level < stream_select::levels; ++level) {
            if (!m_stream->needs_passes()) {
                for (std::size_t k = 0; k < m_sel.size(); ++k) bar.step(m_tensors[m_sel[k]].nbytes(), "");
                continue;
            }
            score_pass(bar, str("pass ", level + 1, ": "), lamp, [&](std::size_t k, std::span<const float> sc) {
                m_stream->feed(k, sc, m_tensors[m_sel[k]].t.name());
            });
            m_stream->end_level();
        }
    }

    /// OWL (algorithms.md 10a) over blocks = the name up to its first numeric component
    /// ("model.layers.7."), each other tensor its own block; two streamed passes (mean, outliers).
    void plan_owl(progress& bar) {
        static const std::regex block_re("^(.*?\\.[0-9]+\\.)");
        std::map<std::string, std::size_t> block_id;
        std::vector<std::size_t> block_of(m_sel.size());
        for (std::size_t k = 0; k < m_sel.size(); ++k) {
            const std::string& n = m_tensors[m_sel[k]].t.name();
            std::smatch m;
            const std::string key = std::regex_search(n, m, block_re) ? m[1].str() : n;
            block_of[k] = block_id.emplace(key, block_id.size()).first->second;
        }
        const std::size_t nb = block_id.size();
        std::vector<double> sum(nb, 0.0);
        std::vector<std::size_t> cnt(nb, 0), out(nb, 0);
        score_pass(bar, "owl mean: ", false, [&](std::size_t k, std::span<const float> sc) {
            for (float v : sc) sum[block_of[k]] += v;
            cnt[block_of[k]] += sc.size();
        });
        std::vector<float> thr(nb);
        for (std::size_t b = 0; b < nb; ++b)
            thr[b] = static_cast<float>(sum[b] / static_cast<double>(cnt[b])) * static_cast<float>(m_a.owl_m);
        score_pass(bar, "owl outliers: ", false, [&](std::size_t k, std::span<const float> sc) {
            for (float v : sc) out[block_of[k]] += v > thr[block_of[k]];
        });
        std::vector<double> d(nb);
        for (std::size_t b = 0; b < nb; ++b) d[b] = 100.0 * static_cast<double>(out[b]) / static_cast<double>(cnt[b]);
        const auto sb = nnprune::owl_layer_sparsities(d, m_a.sparsity, m_a.owl_lambda);
        for (std::size_t k = 0; k < m_sel.size(); ++k) m_target[k] = sb[block_of[k]];
    }

    /// Global LAMP allocation (algorithms.md 3, lamp_global.hpp) streamed: the num_surv-th largest
    /// LAMP score over all tensors by three passes, then each tensor prunes round(a_l * n_l).
    void plan_lamp(progress& bar, const std::vector<std::size_t>& sizes) {
        float total = 0.0f;
        std::size_t n_all = 0;
        for (auto n : sizes) {
            total += static_cast<float>(n);
            n_all += n;
        }
        const float prod = total * static_cast<float>(1.0 - m_a.sparsity);
        const float fl = std::floor(prod), diff = prod - fl;
        const float rs = diff > 0.5f ? fl + 1.0f : diff < 0.5f ? fl : (std::fmod(fl, 2.0f) == 0.0f ? fl : fl + 1.0f);
        const auto num_surv = static_cast<std::size_t>(rs);
        if (num_surv < 1 || num_surv > n_all)
            NNPRUNE_THROW(nnprune::precondition_error, str("prune --allocation lamp: sparsity ", m_a.sparsity, " leaves ",
                                                           num_surv, " survivors of ", n_all));
        // threshold = the (n_all - num_surv + 1)-th smallest LAMP score
        m_stream.emplace(sizes, nnprune::amount(nnprune::exactly{n_all - num_surv + 1}), m_round, 0.0);
        run_levels(bar, true);
        m_lamp_prune.resize(m_sel.size());
        for (std::size_t k = 0; k < m_sel.size(); ++k) {
            const std::size_t n = sizes[k], surv = n - m_stream->below_of(k);  // scores >= threshold survive
            const float a = 1.0f - static_cast<float>(surv) / static_cast<float>(n);
            m_lamp_prune[k] = nnprune::count_to_prune(n, a < 0.0f ? 0.0 : static_cast<double>(a), nnprune::rounding::half_even);
            m_target[k] = static_cast<double>(a);
        }
        m_stream.reset();
    }

    /// The mask of selected tensor ti from its scores (write pass), in the reused mask words.
    nnprune::mask_view mask_of(const tensor_info& ti, std::span<const float> scores) {
        const nnprune::shape s = ti.t.nn_shape();
        const std::size_t k = ti.sel;
        nnprune::mask_view m(m_words.take(nnprune::mask_words(s.numel())), s);
        m.fill(true);
        const nnprune::tensor_ref sc = typed_ref(nnprune::dtype::f32, reinterpret_cast<const std::byte*>(scores.data()), s);
        const auto so = sel_opts(ti);
        if (m_global) {
            if (!m_stream->needs_passes()) return m;
            if (!m_stream->mask_of(k, scores, ti.t.name(), m))
                (void)nnprune::select_mask(sc, nnprune::per_tensor{}, nnprune::exactly{m_stream->k_of(k)}, m, so);
            return m;
        }
        if (a_alloc("lamp")) {
            (void)nnprune::select_mask(sc, nnprune::per_tensor{}, nnprune::exactly{m_lamp_prune[k]}, m, so);
            return m;
        }
        const double s_k = m_target[k];
        switch (m_pattern.kind) {
            case pattern_spec::unstructured: (void)nnprune::select_mask(sc, nnprune::per_tensor{}, s_k, m, so); break;
            case pattern_spec::row: (void)nnprune::select_mask(sc, nnprune::per_row{}, s_k, m, so); break;
            case pattern_spec::nm:
                (void)nnprune::select_mask(sc, nnprune::n_of_m{m_pattern.a, m_pattern.b, nnprune::nm_tail::reject}, m, so);
                break;
            case pattern_spec::block: (void)nnprune::select_mask(sc, nnprune::blocks{m_pattern.a, m_pattern.b}, s_k, m, so); break;
            case pattern_spec::channel: (void)nnprune::select_mask(sc, nnprune::channels{0}, s_k, m, so); break;
        }
        return m;
    }

    /// The write pass, shard by shard in the output's data order: read a tensor, prune it in
    /// place when selected (+0 where pruned), write it.
    void write_outputs(progress& bar) {
        const auto& shards = m_model->shards();
        fs::path out = m_a.out;
        if (m_path.sharded) {
            std::error_code ec;
            fs::create_directories(out, ec);
            NNPRUNE_CHECK(!ec && fs::is_directory(out), nnprune::io_error,
                          str("prune: cannot create the output directory ", out.string(), (ec ? ": " + ec.message() : std::string())));
        }
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
            const fs::path target = m_path.sharded ? out / shards[s].path().filename() : out;
            nnprune::atomic_file f(target, sync());
            f.write(lay.header);
            byte_sink sink(f);
            run_pipeline(
                lay.order.size(), m_slots, overlap(),
                [&](std::size_t j, slot& sl) { read_tensor(idx[lay.order[j].second], sl, true); },
                [&](std::size_t, slot& sl) {
                    const tensor_info& ti = m_tensors[sl.item];
                    if (ti.selected) {
                        const nnprune::mask_view m = mask_of(ti, scores_of(ti, sl));
                        const auto et = *nnprune::element_dtype(ti.t.dtype());
                        nnprune::apply(typed_ref(et, sl.bytes.take(ti.nbytes()).data(), ti.t.nn_shape()), m);
                        m_kept[ti.sel] = m.count();
                        if (!m_a.masks.empty()) {
                            m_masks[ti.sel] = nnprune::mask(m.shape(), true);
                            std::copy(m.words().begin(), m.words().end(), m_masks[ti.sel].words().begin());
                        }
                    }
                    bar.step(ti.nbytes(), "write: " + ti.t.name());
                },
                [&](std::size_t j, slot& sl) {
                    const tensor_info& ti = m_tensors[sl.item];
                    NNPRUNE_CHECK(sink.written() == lay.order[j].first, nnprune::internal_error,
                                  str("prune: tensor '", ti.t.name(), "' starts at ", sink.written(), ", header says ",
                                      lay.order[j].first));
                    sink.write(sl.bytes.take(ti.nbytes()));
                });
            f.commit();
        }
        if (m_path.sharded) {  // the index, byte for byte
            const nnprune::mapped_file index(m_path.path);
            nnprune::atomic_file f(out / m_path.path.filename(), sync());
            f.write(index.bytes());
            f.commit();
        }
    }

    void write_report(double secs) const {
        using json = nlohmann::ordered_json;
        json tensors = json::array();
        std::size_t sel_elems = 0, sel_kept = 0, all_elems = 0;
        for (const auto& ti : m_tensors) {
            const auto& t = ti.t;
            const auto n = static_cast<std::size_t>(t.numel());
            const std::size_t kept = ti.selected ? m_kept[ti.sel] : n;
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
                if (!std::isnan(m_target[ti.sel])) e["target"] = m_target[ti.sel];
            }
            tensors.push_back(std::move(e));
        }
        json r = {{"command", "prune"},
                  {"input", m_a.model},
                  {"output", m_a.out},
                  {"method", m_a.method},
                  {"pattern", m_a.pattern},
                  {"scope", m_a.scope},
                  {"allocation", m_a.allocation},
                  {"sparsity", m_a.sparsity},
                  {"rounding", m_a.rounding},
                  {"tensors", tensors},
                  {"totals",
                   {{"tensors", m_tensors.size()},
                    {"pruned_tensors", m_sel.size()},
                    {"elements", sel_elems},
                    {"kept", sel_kept},
                    {"sparsity", sel_elems ? 1.0 - static_cast<double>(sel_kept) / static_cast<double>(sel_elems) : 0.0},
                    {"model_elements", all_elems}}},
                  {"time_seconds", secs}};
        if (m_global && m_stream && m_stream->needs_passes()) {
            r["global"] = {{"k", m_stream->k()}, {"competing", m_stream->total()}, {"threshold", m_stream->threshold()}};
        }
        const std::string text = r.dump(2) + "\n";
        nnprune::atomic_file f(m_a.report, sync());
        f.write(std::as_bytes(std::span<const char>(text.data(), text.size())));
        f.commit();
    }

    const prune_args& m_a;
    method_kind m_method{};
    pattern_spec m_pattern{};
    nnprune::rounding m_round{};
    bool m_global = false;
    model_path m_path;
    std::optional<nnprune::safetensors_model> m_model;
    std::vector<std::unique_ptr<input_file>> m_inputs;  // per shard
    std::optional<nnprune::safetensors_file> m_calib;
    std::unique_ptr<input_file> m_calib_input;
    /// Per selected tensor: the activation statistic (scaler_row form) and the gradient's place.
    std::vector<std::optional<nnprune::tensor_ref>> m_act;
    std::vector<std::vector<float>> m_act_converted;
    struct calib_entry {
        const nnprune::safetensors_entry* entry = nullptr;
        std::uint64_t offset = 0;
    };
    std::vector<calib_entry> m_grad;
    std::vector<slot> m_slots;
    reused_buffer<float> m_scores;
    reused_buffer<std::uint64_t> m_words;
    nnprune::select_workspace m_ws;
    std::vector<tensor_info> m_tensors;
    std::vector<std::size_t> m_sel;
    std::optional<stream_select> m_stream;
    std::vector<std::size_t> m_lamp_prune;
    std::vector<nnprune::mask> m_masks;
    std::vector<std::size_t> m_kept;
    std::vector<double> m_target;
};

}  // namespace

void run_prune(const prune_args& a) {
    pruner p(a);
    p.run();
}

}  // namespace nnprune_cli
