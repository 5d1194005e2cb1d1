#ifndef NNPRUNE_PRUNE_PRUNE_HPP
#define NNPRUNE_PRUNE_PRUNE_HPP

/// @file prune.hpp
/// One-shot pruning of a list of named layers:
///   auto r = nnprune::prune(layers, nnprune::wanda, nnprune::per_row{}, 0.5, opts);
///   auto r = nnprune::prune(layers, nnprune::magnitude, nnprune::per_tensor{}, nnprune::global{0.7});
///   auto r = nnprune::prune(layers, nnprune::wanda, nnprune::wanda_n_of_m(2, 4));
/// Every layer is scored by the scorer, then masks are selected per the pattern (comparison
/// groups, see select/groups.hpp) and the allocation (how much each layer prunes). Everything is
/// validated before any weight is written (options.apply), so an error leaves every tensor
/// exactly as it was. The common Wanda case (per_row, uniform / per_layer, no previous masks, a
/// row_local_scorer) streams each layer a block of rows at a time (row_stream.hpp): no
/// layer-sized score buffer, and the pruned weights are zeroed as each row is selected when
/// nothing can throw afterwards; otherwise every mask is computed before any weight is written.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../allocation/allocation.hpp"
#include "../allocation/lamp_global.hpp"
#include "../allocation/layer_filter.hpp"
#include "../allocation/owl.hpp"
#include "../config.hpp"
#include "../core/errors.hpp"
#include "../core/layer.hpp"
#include "../masks/apply.hpp"
#include "../masks/mask.hpp"
#include "../scorers/scorer.hpp"
#include "../scorers/wanda_variant.hpp"
#include "../select/select.hpp"
#include "report.hpp"
#include "row_stream.hpp"

namespace nnprune {

/// Wanda's variant as a pattern: per-row thresholds from one layer-wide alpha (wanda_variant.hpp).
struct wanda_variant_rows {};

struct prune_options {
    rounding round = rounding::half_even;  ///< k from a ratio; rounding::truncate for Wanda/GBLM/OWL/SparseGPT/FLAP
    /// reject: NaN/Inf in weights, statistics or gradients is an error naming the layer; otherwise
    /// they are scored as usual and NaN scores rank lowest / highest.
    nan_policy nans = nan_policy::reject;
    bool apply = false;                    ///< zero the pruned weights in place
    layer_filter filter;                   ///< layers left dense / per-layer sparsity overrides
    /// Masks from an earlier round, one per layer (empty: none): only still-kept weights compete,
    /// the ratio is a fraction of them, and pruned weights stay pruned (torch PruningContainer).
    std::span<const const_mask_view> previous{};
    unsigned threads = 1;
    /// Optional score buffer reused across calls (grown as needed, left allocated): saves the
    /// allocation and first-touch page faults of a fresh score tensor on every call. With the
    /// uniform and per_layer allocations only one layer's scores are alive at a time; on the
    /// row-streaming path only a block of rows' scores per thread (about 256 KiB each).
    std::vector<float>* scratch = nullptr;
};

namespace detail {

template <class P>
inline constexpr bool is_nm_pattern = std::is_same_v<P, n_of_m>;
template <std::size_t N, std::size_t M>
inline constexpr bool is_nm_pattern<keep_n_of_m<N, M>> = true;

template <class P>
inline constexpr bool is_ratio_pattern =
    std::is_same_v<P, per_tensor> || std::is_same_v<P, per_row> || std::is_same_v<P, per_column> ||
    std::is_same_v<P, blocks> || std::is_same_v<P, channels> || std::is_same_v<P, wanda_variant_rows>;

template <class P>
std::size_t nm_m(const P& p) {
    if constexpr (std::is_same_v<P, n_of_m>) return p.m;
    else return P::m;
}
template <class P>
nm_tail nm_tail_of(const P& p) {
    return p.tail;
}

/// Validates layers, options and the pattern against every layer; writes nothing.
template <class S, class P>
void validate_prune(std::span<const layer> layers, const S& s, const P& p, const prune_options& o, const char* fn) {
    NNPRUNE_PRECONDITION(!layers.empty(), detail::str(fn, ": empty layer list"));
    std::set<std::string_view> seen;
    for (const auto& l : layers) {
        NNPRUNE_PRECONDITION(seen.insert(l.name).second, detail::str(fn, ": duplicate layer name '", l.name, "'"));
        validate(l);
        NNPRUNE_PRECONDITION(!o.apply || !l.weights.readonly(),
                             detail::str(fn, ": layer '", l.name, "': weights are read-only but apply was asked"));
        if (o.nans == nan_policy::reject) {
            check_finite(l.weights, fn, l.name, "weights");
            if (l.input_stat) check_finite(*l.input_stat, fn, l.name, "input statistic");
            if (l.gradient) check_finite(*l.gradient, fn, l.name, "gradient");
        }
        check_scorer_input(s, l);
        if constexpr (is_nm_pattern<P>) {
            const std::size_t m = nm_m(p), cols = l.weights.shape().cols();
            NNPRUNE_PRECONDITION(m > 0 && (cols % m == 0 || nm_tail_of(p) != nm_tail::reject),
                                 detail::str(fn, ": layer '", l.name, "': N:M groups of m=", m, " along rows of ",
                                             cols, " elements (weights ", l.weights.shape(), "): not a multiple of m"));
        }
    }
    NNPRUNE_CHECK(o.previous.empty() || o.previous.size() == layers.size(), shape_error,
                  detail::str(fn, ": ", layers.size(), " layers but ", o.previous.size(), " previous masks"));
    for (std::size_t i = 0; i < o.previous.size(); ++i)
        NNPRUNE_CHECK(o.previous[i].shape() == layers[i].weights.shape(), shape_error,
                      detail::str(fn, ": layer '", layers[i].name, "': previous mask has ", o.previous[i].shape(),
                                  " elements, weights have ", layers[i].weights.shape()));
}

inline select_options select_opts(const prune_options& o, std::size_t i, std::string_view name) {
    select_options so;
    so.round = o.round;
    so.nans = o.nans;
    so.threads = o.threads;
    so.one_pass = true;  // the masks are prune()'s own until it returns: one read of the scores
    so.previous = o.previous.empty() ? const_mask_view{} : o.previous[i];
    so.name = name;
    return so;
}

/// Selects one layer's mask with a ratio (or exact count) under a ratio pattern.
template <class P>
selection select_layer(const score_tensor& sc, const P& p, const amount& a, mask_view out, const select_options& so) {
    if constexpr (std::is_same_v<P, wanda_variant_rows>) {
        NNPRUNE_PRECONDITION(so.previous.size() == 0, "prune(wanda_variant_rows): previous masks are not supported");
        NNPRUNE_PRECONDITION(!a.is_count(), "prune(wanda_variant_rows): needs a sparsity ratio");
        wanda_variant_mask(sc, a.ratio(), out);
        return selection{out.pruned(), {}};
    } else {
        return select_mask(sc.ref(), p, a, out, so);
    }
}

inline prune_result start_result(std::span<const layer> layers, const prune_options& o) {
    prune_result r;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        mask m(layers[i].weights.shape(), true);
        if (!o.previous.empty()) m.view().and_with(o.previous[i]);
        r.masks.push_back(std::move(m));
        layer_report rep;
        rep.name = layers[i].name;
        rep.elements = layers[i].weights.size();
        rep.target = std::numeric_limits<double>::quiet_NaN();
        r.layers.push_back(std::move(rep));
    }
    return r;
}

/// Counts every mask into the report and, with o.apply, zeroes the pruned weights of every layer
/// that is not `applied` already (the row-streaming path zeroes as it selects).
inline void finish(prune_result& r, std::span<const layer> layers, const prune_options& o,
                   const std::vector<char>& applied = {}) {
    for (std::size_t i = 0; i < layers.size(); ++i) {
        r.layers[i].kept = r.masks[i].count();
        r.layers[i].sparsity = r.masks[i].sparsity();
    }
    if (o.apply)
        for (std::size_t i = 0; i < layers.size(); ++i)
            if (applied.empty() || !applied[i]) apply(layers[i].weights, r.masks[i]);
}

/// Holds the reusable score buffer and hands it back to the caller's scratch when done (or on error).
class score_pool {
public:
    explicit score_pool(std::vector<float>* scratch) : m_scratch(scratch) {
        if (m_scratch) m_buf = std::move(*m_scratch);
    }
    ~score_pool() {
        if (m_scratch) *m_scratch = std::move(m_buf);
    }
    score_pool(const score_pool&) = delete;
    score_pool& operator=(const score_pool&) = delete;
    std::vector<float>&& take() noexcept { return std::move(m_buf); }
    void give(score_tensor& t) noexcept { m_buf = t.release(); }
    void give(std::vector<float>&& v) noexcept { m_buf = std::move(v); }

private:
    std::vector<float>* m_scratch;
    std::vector<float> m_buf;
};

/**
 * @brief The row-streaming path of prune() (per_row, uniform / per_layer, no previous masks, a
 * row_local_scorer): every non-empty layer with a ratio is scored a block of rows at a time and
 * selected straight into r.masks (row_stream.hpp); its report's kth_score and target are set.
 * Returns which layers it streamed and which of them it zeroed (o.apply).
 * The error guarantee (nothing written when prune() throws): everything that can throw runs
 * before the first weight is written (matrix views, k, every buffer of ours). Weights are zeroed during
 * the pass only when no later step can throw: every layer to prune is streamed here, and either
 * NaN scores rank (as_lowest / as_highest: select never throws) or, under reject, the scorer is a
 * finite_scorer and scores_surely_finite holds for every layer (validate_prune checked weights,
 * statistics and gradients finite, so no NaN score can appear). Otherwise the masks are selected
 * here and finish() applies them once all layers succeeded (a NaN score throws first).
 * A scorer's own small allocations (e.g. wanda's sqrt of the statistic per block) could still
 * throw std::bad_alloc mid-pass; that is the one case not covered.
 */
struct streamed_layers {
    std::vector<char> streamed, applied;  ///< per layer
};

template <scorer S>
streamed_layers prune_rows_streaming(std::span<const layer> layers, const S& s,
                                       const std::vector<std::optional<double>>& ratio, const prune_options& o,
                                       prune_result& r, score_pool& pool) {
    const std::size_t nl = layers.size();
    std::vector<row_stream_layer> plan(nl);
    streamed_layers out{std::vector<char>(nl, 0), std::vector<char>(nl, 0)};
    auto& streamed = out.streamed;
    bool all = true, finite = true;
    std::size_t need = 0;
    for (std::size_t i = 0; i < nl; ++i) {
        if (!ratio[i]) continue;
        const auto& sh = layers[i].weights.shape();
        if (sh.rows() == 0 || sh.cols() == 0) {  // nothing to zero; the generic path reports it
            continue;
        }
        auto prep = prepare_row_stream(layers[i], count_to_prune(sh.cols(), *ratio[i], o.round));
        if (!prep) continue;  // the generic path takes it (and then nothing is zeroed here)
        plan[i] = *prep;
        streamed[i] = 1;
        need = std::max(need, row_stream_buffer(plan[i], o.threads));
        if (o.apply && o.nans == nan_policy::reject) finite = finite && finite_scorer<S> && scores_surely_finite(layers[i]);
    }
    for (std::size_t i = 0; i < nl; ++i)
        if (ratio[i] && !streamed[i] && layers[i].weights.size() != 0) all = false;
    const bool zero = o.apply && all && (o.nans != nan_policy::reject || finite);
    std::vector<float> buf = pool.take();
    struct give_back {  // the buffer goes back to the caller's scratch, also on error
        score_pool& pool;
        std::vector<float>& buf;
        ~give_back() { pool.give(std::move(buf)); }
    } gb{pool, buf};
    if (buf.size() < need) buf.resize(need);
    select_workspace ws;
    for (std::size_t i = 0; i < nl; ++i) {
        if (!streamed[i]) continue;
        r.layers[i].kth_score = row_stream(s, plan[i], o.nans, o.threads, zero, r.masks[i].view(), buf.data(), ws);
        r.layers[i].target = *ratio[i];
        out.applied[i] = zero;
    }
    return out;
}

inline std::vector<std::string> names_of(std::span<const layer> layers) {
    std::vector<std::string> n;
    for (const auto& l : layers) n.push_back(l.name);
    return n;
}

}  // namespace detail

/**
 * @brief Prunes each layer at its own sparsity (uniform, per_layer, owl, or a plain double) under
 * a ratio pattern (per_tensor, per_row, per_column, blocks, channels, wanda_variant_rows).
 * @throws precondition_error, shape_error, value_error (see validate); nothing is written then.
 */
template <scorer S, class P, class Alloc>
    requires(detail::is_ratio_pattern<P> && (std::is_same_v<Alloc, uniform> || std::is_same_v<Alloc, per_layer> ||
                                              std::is_same_v<Alloc, owl> || std::is_same_v<Alloc, global> ||
                                              std::is_same_v<Alloc, lamp_global>))
prune_result prune(std::span<const layer> layers, const S& s, const P& p, const Alloc& alloc, const prune_options& o = {}) {
    constexpr const char* fn = "prune";
    detail::validate_prune(layers, s, p, o, fn);
    const auto names = detail::names_of(layers);
    const auto choices = resolve(o.filter, names);
    const std::size_t nl = layers.size();
    // per-layer ratio (nullopt: global part / excluded)
    std::vector<std::optional<double>> ratio(nl);
    if constexpr (std::is_same_v<Alloc, uniform>) {
        detail::check_ratio(alloc.sparsity, fn);
        for (auto& r : ratio) r = alloc.sparsity;
    } else if constexpr (std::is_same_v<Alloc, per_layer>) {
        NNPRUNE_PRECONDITION(alloc.sparsities.size() == nl,
                             detail::str(fn, ": per_layer has ", alloc.sparsities.size(), " sparsities for ", nl, " layers"));
        for (std::size_t i = 0; i < nl; ++i) {
            detail::check_ratio(alloc.sparsities[i], fn);
            ratio[i] = alloc.sparsities[i];
        }
    } else if constexpr (std::is_same_v<Alloc, owl>) {
        detail::check_ratio(alloc.sparsity, fn);
        NNPRUNE_PRECONDITION(alloc.block_of.empty() || alloc.block_of.size() == nl,
                             detail::str(fn, ": owl.block_of has ", alloc.block_of.size(), " entries for ", nl, " layers"));
    } else {
        static_assert(std::is_same_v<P, per_tensor>, "prune: global and lamp_global allocations need the per_tensor pattern");
        detail::check_ratio(alloc.sparsity, fn);
    }
    for (std::size_t i = 0; i < nl; ++i) {
        if (choices[i].excluded) ratio[i].reset();
        else if (choices[i].sparsity) ratio[i] = choices[i].sparsity;
    }
    detail::score_pool pool(o.scratch);
    constexpr bool streaming = std::is_same_v<Alloc, uniform> || std::is_same_v<Alloc, per_layer>;
    // scores of every layer that is pruned (streaming: one layer at a time, below)
    std::vector<score_tensor> sc(nl);
    if constexpr (!streaming) {
        bool reused = false;
        for (std::size_t i = 0; i < nl; ++i)
            if (!choices[i].excluded) {
                sc[i] = score(s, layers[i], reused ? std::vector<float>{} : pool.take());
                reused = true;
            }
    }

    if constexpr (std::is_same_v<Alloc, owl>) {
        std::size_t nb = 0;
        for (std::size_t i = 0; i < nl; ++i) nb = std::max(nb, alloc.block_of.empty() ? i + 1 : alloc.block_of[i] + 1);
        std::vector<double> d(nb, 0.0);
        for (std::size_t b = 0; b < nb; ++b) {
            std::vector<std::span<const float>> parts;
            for (std::size_t i = 0; i < nl; ++i)
                if ((alloc.block_of.empty() ? i : alloc.block_of[i]) == b && !choices[i].excluded) parts.emplace_back(sc[i].values());
            NNPRUNE_PRECONDITION(!parts.empty(), detail::str(fn, ": owl block ", b, " has no layer to prune"));
            d[b] = owl_outlier_ratio(parts, alloc.m);
        }
        const auto sb = owl_layer_sparsities(d, alloc.sparsity, alloc.lambda);
        for (std::size_t i = 0; i < nl; ++i)
            if (!choices[i].excluded && !choices[i].sparsity) ratio[i] = sb[alloc.block_of.empty() ? i : alloc.block_of[i]];
    }

    prune_result r = detail::start_result(layers, o);
    for (std::size_t i = 0; i < nl; ++i) r.layers[i].excluded = choices[i].excluded;

    if constexpr (std::is_same_v<Alloc, global> || std::is_same_v<Alloc, lamp_global>) {
        std::vector<std::size_t> idx;  // layers in the global part
        for (std::size_t i = 0; i < nl; ++i)
            if (!choices[i].excluded && !choices[i].sparsity) idx.push_back(i);
        if (!idx.empty()) {
            if constexpr (std::is_same_v<Alloc, global>) {
                std::vector<tensor_ref> refs;
                std::vector<mask_view> views;  // the result's masks (all kept, and previous)
                std::vector<const_mask_view> prev;
                for (auto i : idx) {
                    refs.push_back(sc[i].ref());
                    views.push_back(r.masks[i].view());
                    if (!o.previous.empty()) prev.push_back(o.previous[i]);
                }
                global_options go;
                go.round = o.round;
                go.nans = o.nans;
                go.threads = o.threads;
                go.one_pass = true;
                go.min_keep = alloc.min_keep;
                go.min_keep_fraction = alloc.min_keep_fraction;
                go.previous_masks = prev;
                const auto sel = select_global(refs, alloc.sparsity, views, go);
                for (std::size_t t = 0; t < idx.size(); ++t) {
                    r.layers[idx[t]].kth_score = sel.kth.empty() ? r.layers[idx[t]].kth_score : sel.kth[0];
                    r.layers[idx[t]].target = alloc.sparsity;
                }
            } else {
                std::vector<layer> part;
                std::vector<const_mask_view> prev;
                for (auto i : idx) {
                    part.push_back(layers[i]);
                    if (!o.previous.empty()) prev.push_back(o.previous[i]);
                }
                const auto plan = lamp_global_plan(part, alloc.sparsity, prev);
                for (std::size_t t = 0; t < idx.size(); ++t) {
                    const auto i = idx[t];
                    const auto sel = detail::select_layer(sc[i], per_tensor{}, exactly{plan.prune[t]}, r.masks[i].view(),
                                                          detail::select_opts(o, i, layers[i].name));
                    r.layers[i].kth_score = detail::max_kth(sel.kth);
                    r.layers[i].target = alloc.sparsity;
                }
            }
        }
    }
    detail::streamed_layers st;  // layers the row-streaming path selected (and zeroed)
    if constexpr (streaming && std::is_same_v<P, per_row> && row_local_scorer<S>) {
        if (o.previous.empty()) st = detail::prune_rows_streaming(layers, s, ratio, o, r, pool);
    }
    for (std::size_t i = 0; i < nl; ++i) {
        if (!ratio[i] || (!st.streamed.empty() && st.streamed[i])) continue;  // excluded, or streamed above
        if constexpr (streaming) sc[i] = score(s, layers[i], pool.take());
        // selected straight into the result's mask (all kept, and previous: allocated once)
        const auto sel = detail::select_layer(sc[i], p, *ratio[i], r.masks[i].view(), detail::select_opts(o, i, layers[i].name));
        if constexpr (streaming) pool.give(sc[i]);
        r.layers[i].kth_score = detail::max_kth(sel.kth);
        r.layers[i].target = *ratio[i];
    }
    if constexpr (!streaming) {
        for (auto& t : sc)
            if (t.size()) {
                pool.give(t);
                break;
            }
    }
    detail::finish(r, layers, o, st.applied);
    return r;
}

/// Every layer at the same sparsity.
template <scorer S, class P>
    requires detail::is_ratio_pattern<P>
prune_result prune(std::span<const layer> layers, const S& s, const P& p, double sparsity, const prune_options& o = {}) {
    return prune(layers, s, p, uniform{sparsity}, o);
}

/**
 * @brief N:M pruning (n_of_m / keep_n_of_m name what is KEPT; wanda_n_of_m() converts Wanda's
 * "prune_n:prune_m"). Layers matched by the filter's exclude patterns stay dense.
 */
template <scorer S, class P>
    requires detail::is_nm_pattern<P>
prune_result prune(std::span<const layer> layers, const S& s, const P& p, const prune_options& o = {}) {
    constexpr const char* fn = "prune";
    detail::validate_prune(layers, s, p, o, fn);
    const auto choices = resolve(o.filter, detail::names_of(layers));
    detail::score_pool pool(o.scratch);
    prune_result r = detail::start_result(layers, o);
    for (std::size_t i = 0; i < layers.size(); ++i) {
        r.layers[i].excluded = choices[i].excluded;
        if (choices[i].excluded) continue;
        auto sc = score(s, layers[i], pool.take());  // one layer's scores alive at a time
        select_mask(sc.ref(), p, r.masks[i].view(), detail::select_opts(o, i, layers[i].name));  // the result's mask
        pool.give(sc);
    }
    detail::finish(r, layers, o);
    return r;
}

/// prune() over a std::vector or any contiguous range of layers.
template <scorer S, class P, class... A>
prune_result prune(const std::vector<layer>& layers, const S& s, const P& p, A&&... a) {
    return prune(std::span<const layer>(layers), s, p, std::forward<A>(a)...);
}

}  // namespace nnprune

#endif  // NNPRUNE_PRUNE_PRUNE_HPP
