// `nnprune prune`: streams a safetensors model tensor by tensor, prunes the selected weights and
// writes the pruned model (and optionally the masks and a JSON report).
//
// Memory bound (peak RSS): a constant (~the program, < 64 MiB) plus, for the tensor being worked
// on, its float32 scores (4 B/element), its mask (1/8 B/element), its mapped input pages (element
// size, released with madvise(MADV_DONTNEED) as soon as they are used) and the workspace of the
// per-tensor selection (layer scope; global scope needs none unless --min-keep bites), plus
// 8 KiB and a few counters per selected tensor (global scope, --allocation lamp) and, with
// --masks, 1 bit per selected element (the masks are written at the end). Nothing is
// proportional to the model's size except those last two terms.

#include "prune_command.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include <nnprune/allocation/owl.hpp>
#include <nnprune/simd/isa.hpp>
#include <nnprune/io/mask_file.hpp>
#include <nnprune/io/safetensors_model.hpp>
#include <nnprune/masks/mask.hpp>
#include <nnprune/scorers/lamp.hpp>
#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/random.hpp>
#include <nnprune/scorers/scorer.hpp>
#include <nnprune/scorers/wanda.hpp>
#include <nnprune/select/select.hpp>

#include "common.hpp"
#include "stream_select.hpp"

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

/// One tensor of the input (any dtype), and whether it is pruned.
struct tensor_info {
    std::size_t shard;
    nnprune::safetensors_tensor t;
    bool selected = false;
    std::size_t sel = 0;  // index among the selected tensors
};

std::string dtype_text(nnprune::safetensors_dtype d) { return std::string(nnprune::name_of(d)); }

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
                tensor_info ti{s, shards[s].at(i)};
                ti.selected = is_selected(ti.t, inc, exc);
                m_tensors.push_back(ti);
            }
        // list order (the tie order of global selection): by name
        for (std::size_t i = 0; i < m_tensors.size(); ++i)
            if (m_tensors[i].selected) m_sel.push_back(i);
        std::sort(m_sel.begin(), m_sel.end(), [&](std::size_t x, std::size_t y) { return m_tensors[x].t.name() < m_tensors[y].t.name(); });
        for (std::size_t k = 0; k < m_sel.size(); ++k) m_tensors[m_sel[k]].sel = k;
        if (m_sel.empty()) throw usage_error("no tensor selected (floating 2-D tensors named *.weight, refined by --include/--exclude)");

        if (!a.calib.empty()) m_calib.emplace(fs::path(a.calib));
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
        progress bar(score_passes * m_sel.size() + m_tensors.size(), !m_a.quiet);
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

    std::optional<nnprune::safetensors_tensor> stat(const std::string& name) const {
        if (!m_calib || !m_calib->contains(name)) return std::nullopt;
        return m_calib->tensor(name);
    }

    /// Every check that does not need the weights' values: calibration statistics, N:M widths.
    void validate_inputs() {
        for (const std::size_t i : m_sel) {
            const auto& t = m_tensors[i].t;
            const nnprune::shape s = t.nn_shape();
            if (needs_act() || grad_suffix()) {
                if (!m_calib)
                    throw usage_error(str("--method ", m_a.method, " needs calibration statistics: pass --calib STATS.safetensors"));
            }
            if (needs_act()) {
                const auto st = stat(t.name() + ".act_norm");
                if (!st) throw input_error(str("--calib ", m_calib->path().string(), ": no statistic '", t.name(), ".act_norm' for tensor '",
                                               t.name(), "' (--method ", m_a.method, " needs it)"));
                if (!st->is_element() || st->numel() != s.cols())
                    throw input_error(str("--calib: '", t.name(), ".act_norm' has ", st->numel(), " ", dtype_text(st->dtype()),
                                          " elements, tensor '", t.name(), "' (", s, ") has ", s.cols(), " input columns"));
            }
            if (const char* g = grad_suffix()) {
                const auto st = stat(t.name() + g);
                if (!st) throw input_error(str("--calib ", m_calib->path().string(), ": no statistic '", t.name(), g, "' for tensor '",
                                               t.name(), "' (--method ", m_a.method, " needs it)"));
                if (!st->is_element() || st->shape() != t.shape())
                    throw input_error(str("--calib: '", t.name(), g, "' is ", dtype_text(st->dtype()), " ", shape_text(st->shape()),
                                          ", tensor '", t.name(), "' is ", shape_text(t.shape())));
            }
            if (m_pattern.kind == pattern_spec::nm && s.cols() % m_pattern.b != 0)
                NNPRUNE_THROW(nnprune::precondition_error,
                              str("prune: tensor '", t.name(), "' (", s, ") has rows of ", s.cols(),
                                  " elements, not a multiple of M = ", m_pattern.b, " (--pattern ", m_a.pattern, ")"));
        }
    }

    /// The method's scores of selected tensor k (its pages and its statistics' pages released after).
    nnprune::score_tensor scores_of(std::size_t k) const {
        const auto& t = m_tensors[m_sel[k]].t;
        nnprune::layer l{t.name(), t.ref(), std::nullopt, std::nullopt};
        std::optional<nnprune::safetensors_tensor> act, grad;
        if (needs_act()) {
            act = stat(t.name() + ".act_norm");
            l.input_stat = act->ref();
        }
        if (const char* g = grad_suffix()) {
            grad = stat(t.name() + g);
            l.gradient = grad->ref();
        }
        nnprune::score_tensor sc;
        switch (m_method) {
            case method_kind::magnitude: sc = nnprune::score(nnprune::magnitude_scorer{}, l); break;
            case method_kind::wanda: sc = nnprune::score(nnprune::wanda_scorer{}, l); break;
            case method_kind::lamp: sc = nnprune::score(nnprune::lamp_scorer{}, l); break;
            case method_kind::taylor: sc = nnprune::score(nnprune::taylor_scorer{}, l); break;
            case method_kind::gblm: sc = nnprune::score(nnprune::gblm_scorer{}, l); break;
            case method_kind::random: sc = nnprune::score(nnprune::random_scorer{m_a.seed}, l); break;
        }
        release_pages(t.bytes());
        if (act) release_pages(act->bytes());
        if (grad) release_pages(grad->bytes());
        return sc;
    }

    [[nodiscard]] nnprune::select_options sel_opts(std::size_t k) const {
        nnprune::select_options so;
        so.round = m_round;
        so.threads = m_a.threads;
        so.name = m_tensors[m_sel[k]].t.name();
        return so;
    }

    /// Passes before the write pass: global thresholds, OWL outlier ratios, LAMP plan.
    void plan(progress& bar) {
        std::vector<std::size_t> sizes;
        for (const std::size_t i : m_sel) sizes.push_back(static_cast<std::size_t>(m_tensors[i].t.numel()));
        if (m_global) {
            m_stream.emplace(sizes, nnprune::amount(m_a.sparsity), m_round, m_a.min_keep);
            run_levels(bar, [&](std::size_t k) { return scores_of(k); });
        } else if (a_alloc("owl")) {
            plan_owl(bar);
        } else if (a_alloc("lamp")) {
            plan_lamp(bar, sizes);
        } else {
            m_target.assign(m_sel.size(), m_a.sparsity);
        }
    }

    template <class Scores>
    void run_levels(progress& bar, Scores&& scores) {
        for (int level = 0; level < stream_select::levels; ++level) {
            for (std::size_t k = 0; k < m_sel.size(); ++k) {
                if (m_stream->needs_passes()) {
                    const auto sc = scores(k);
                    m_stream->feed(k, sc.values(), m_tensors[m_sel[k]].t.name());
                }
                bar.step(str("pass ", level + 1, ": ", m_tensors[m_sel[k]].t.name()));
            }
            if (m_stream->needs_passes()) m_stream->end_level();
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
        for (std::size_t k = 0; k < m_sel.size(); ++k) {
            const auto sc = scores_of(k);
            for (float v : sc.values()) sum[block_of[k]] += v;
            cnt[block_of[k]] += sc.size();
            bar.step(str("owl mean: ", m_tensors[m_sel[k]].t.name()));
        }
        std::vector<float> thr(nb);
        for (std::size_t b = 0; b < nb; ++b)
            thr[b] = static_cast<float>(sum[b] / static_cast<double>(cnt[b])) * static_cast<float>(m_a.owl_m);
        for (std::size_t k = 0; k < m_sel.size(); ++k) {
            const auto sc = scores_of(k);
            for (float v : sc.values()) out[block_of[k]] += v > thr[block_of[k]];
            bar.step(str("owl outliers: ", m_tensors[m_sel[k]].t.name()));
        }
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
        run_levels(bar, [&](std::size_t k) {
            const auto& t = m_tensors[m_sel[k]].t;
            const nnprune::layer l{t.name(), t.ref(), std::nullopt, std::nullopt};
            auto sc = nnprune::score(nnprune::lamp_scorer{}, l);
            release_pages(t.bytes());
            return sc;
        });
        m_lamp_prune.resize(m_sel.size());
        for (std::size_t k = 0; k < m_sel.size(); ++k) {
            const std::size_t n = sizes[k], surv = n - m_stream->below_of(k);  // scores >= threshold survive
            const float a = 1.0f - static_cast<float>(surv) / static_cast<float>(n);
            m_lamp_prune[k] = nnprune::count_to_prune(n, a < 0.0f ? 0.0 : static_cast<double>(a), nnprune::rounding::half_even);
            m_target[k] = static_cast<double>(a);
        }
        m_stream.reset();
    }

    /// The mask of selected tensor k (write pass).
    nnprune::mask mask_of(std::size_t k) const {
        const auto& t = m_tensors[m_sel[k]].t;
        const nnprune::shape s = t.nn_shape();
        nnprune::mask m(s, true);
        const auto sc = scores_of(k);
        const auto so = sel_opts(k);
        if (m_global) {
            if (!m_stream->needs_passes()) return m;
            if (!m_stream->mask_of(k, sc.values(), t.name(), m.view()))
                (void)nnprune::select_mask(sc.ref(), nnprune::per_tensor{}, nnprune::exactly{m_stream->k_of(k)}, m.view(), so);
            return m;
        }
        if (a_alloc("lamp")) {
            (void)nnprune::select_mask(sc.ref(), nnprune::per_tensor{}, nnprune::exactly{m_lamp_prune[k]}, m.view(), so);
            return m;
        }
        const double s_k = m_target[k];
        switch (m_pattern.kind) {
            case pattern_spec::unstructured: (void)nnprune::select_mask(sc.ref(), nnprune::per_tensor{}, s_k, m.view(), so); break;
            case pattern_spec::row: (void)nnprune::select_mask(sc.ref(), nnprune::per_row{}, s_k, m.view(), so); break;
            case pattern_spec::nm:
                (void)nnprune::select_mask(sc.ref(), nnprune::n_of_m{m_pattern.a, m_pattern.b, nnprune::nm_tail::reject}, m.view(), so);
                break;
            case pattern_spec::block:
                (void)nnprune::select_mask(sc.ref(), nnprune::blocks{m_pattern.a, m_pattern.b}, s_k, m.view(), so);
                break;
            case pattern_spec::channel: (void)nnprune::select_mask(sc.ref(), nnprune::channels{0}, s_k, m.view(), so); break;
        }
        return m;
    }

    /// Writes the tensor's bytes with the pruned elements set to +0, in slices.
    static void write_masked(const nnprune::safetensors_tensor& t, nnprune::const_mask_view m, byte_sink& sink) {
        const std::size_t es = nnprune::size_of(t.dtype()), n = static_cast<std::size_t>(t.numel());
        constexpr std::size_t slice = std::size_t{1} << 20;  // elements, a multiple of 64
        std::vector<std::byte> buf(std::min(n, slice) * es);
        const auto src = t.bytes();
        const auto words = m.words();
        for (std::size_t i0 = 0; i0 < n; i0 += slice) {
            const std::size_t len = std::min(slice, n - i0);
            std::memcpy(buf.data(), src.data() + i0 * es, len * es);
            for (std::size_t w = i0 / 64; w < (i0 + len + 63) / 64; ++w) {
                std::uint64_t pruned = ~words[w];
                if (w == words.size() - 1 && n % 64) pruned &= (std::uint64_t{1} << (n % 64)) - 1;
                while (pruned) {
                    const auto b = static_cast<std::size_t>(__builtin_ctzll(pruned));
                    std::memset(buf.data() + (w * 64 + b - i0) * es, 0, es);
                    pruned &= pruned - 1;
                }
            }
            sink.write(std::span<const std::byte>(buf.data(), len * es));
            release_pages(src.subspan(i0 * es, len * es));
        }
    }

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
            const fs::path target = m_path.sharded ? out / shards[s].path().filename() : out;
            write_streamed(target, entries, shards[s].metadata(), [&](std::size_t e, byte_sink& sink) {
                const tensor_info& ti = m_tensors[idx[e]];
                if (!ti.selected) {
                    copy_released(ti.t.bytes(), sink);
                } else {
                    nnprune::mask m = mask_of(ti.sel);
                    write_masked(ti.t, m.view(), sink);
                    m_kept[ti.sel] = m.count();
                    if (!m_a.masks.empty()) m_masks[ti.sel] = std::move(m);
                }
                bar.step(str("write: ", ti.t.name()));
            });
        }
        if (m_path.sharded) {  // the index, byte for byte
            const nnprune::mapped_file index(m_path.path);
            nnprune::atomic_file f(out / m_path.path.filename());
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
        if (m_global && m_stream && m_stream->needs_passes()) {
            r["global"] = {{"k", m_stream->k()}, {"competing", m_stream->total()}, {"threshold", m_stream->threshold()}};
        }
        const std::string text = r.dump(2) + "\n";
        nnprune::atomic_file f(m_a.report);
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
    std::optional<nnprune::safetensors_file> m_calib;
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
