#ifndef NNPRUNE_SELECT_GROUP_HPP
#define NNPRUNE_SELECT_GROUP_HPP

/// @file group.hpp
/// One comparison group end to end: find the k-th key, then write the kept bits of every run
/// (parts in parallel, each with its share of the ties to prune, so the result is the same for
/// any number of parts).

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../config.hpp"
#include "../detail/parallel.hpp"
#include "../simd/kept.hpp"
#include "kth.hpp"
#include "runs.hpp"

namespace nnprune::detail {

template <class K>
struct group_done {
    K kth{};               ///< the largest key pruned (meaningful when k > 0)
    std::size_t kept = 0;  ///< kept bits written
};

/// One-pass mode's second half: the bits of the logged keys (those inside the counting pass's
/// bracket, whose keys are the part's candidates) from the k-th and the part's ties. Only the
/// first and last word of a run can be shared with a neighbouring part: those get atomic updates.
template <class K>
std::size_t fix_logged(const std::vector<run>& runs, const std::vector<std::size_t>& per_run, const K* cand,
                       const std::uint32_t* where, K kth, std::size_t ties) {
    std::size_t kept = 0, at = 0;
    for (std::size_t ri = 0; ri < runs.size(); ++ri) {
        const run& r = runs[ri];
        const std::size_t first = r.bit0 >> 6, last = (r.bit0 + r.n - 1) >> 6;
        for (const std::size_t end = at + per_run[ri]; at < end; ++at) {
            if (simd::prunes(cand[at], kth, ties)) continue;
            ++kept;
            const std::size_t b = r.bit0 + where[at], w = b >> 6;
            const std::uint64_t bit = std::uint64_t{1} << (b & 63);
            if (w == first || w == last)
                std::atomic_ref<std::uint64_t>(r.out[w]).fetch_or(bit, std::memory_order_relaxed);
            else
                r.out[w] |= bit;
        }
    }
    return kept;
}

/// Prunes exactly k (0 <= k <= n_comp) of the group's competing elements and writes its mask bits
/// (in one read of the scores when one_pass and the group qualifies: see select_options::one_pass).
template <class K>
group_done<K> select_group(const std::vector<std::vector<run>>& parts, std::size_t n_total, std::size_t n_comp,
                           std::size_t k, nan_policy np, select_workspace& ws, const error_context& err,
                           bool one_pass = false) {
    const auto P = static_cast<unsigned>(parts.size());
    std::vector<std::size_t> eq(P, 0), ties(P, 0), kept(P, 0);
    kth_found<K> r{};
    pass_log log;
    if (k == 0) {
        for (const auto& runs : parts) check_no_nan(runs, np, err);
    } else {
        r = find_kth<K>(parts, n_total, n_comp, k, np, ws, eq, err, one_pass ? &log : nullptr);
        std::size_t left = k - r.below;
        for (unsigned p = 0; p < P; ++p) {
            ties[p] = std::min(left, eq[p]);
            left -= ties[p];
        }
    }
    if (log.complete) {  // the mask is written but for the logged keys (no previous mask: all compete)
        const K* cand = static_cast<const K*>(log.cand);
        parallel_for(P, P, [&](std::size_t b, std::size_t e, unsigned) {
            for (std::size_t p = b; p < e; ++p)
                (void)fix_logged<K>(parts[p], log.per_run[p], cand + p * log.stride, log.where + p * log.stride, r.key,
                                    ties[p]);
        });
        return {r.key, n_comp - k};
    }
    parallel_for(P, P, [&](std::size_t b, std::size_t e, unsigned) {
        for (std::size_t p = b; p < e; ++p)
            for (const auto& rn : parts[p])
                with_type(rn.type, rn.p, [&](auto ptr) {
                    kept[p] += simd::write_kept<K>(ptr, rn.n, rn.stride, rn.prev, rn.bit0, rn.step, r.key, ties[p], np,
                                                   rn.out);
                });
    });
    group_done<K> d;
    d.kth = r.key;
    for (auto c : kept) d.kept += c;
    return d;
}

/// The k-th value reported in selection::kth (NaN when nothing was pruned).
template <class T, class K>
[[nodiscard]] double reported_kth(std::size_t k, K key) noexcept {
    return k == 0 ? std::numeric_limits<double>::quiet_NaN() : value_of_key<T>(key);
}

inline void check_out(const tensor_ref& scores, const_mask_view out, const_mask_view previous, std::string_view fn) {
    NNPRUNE_CHECK(out.shape() == scores.shape(), shape_error,
                  detail::str(fn, ": mask has ", out.shape(), " elements, scores have ", scores.shape()));
    if (previous.size())
        NNPRUNE_CHECK(
            previous.shape() == scores.shape(), shape_error,
            detail::str(fn, ": previous mask has ", previous.shape(), " elements, scores have ", scores.shape()));
}

/// Where group writers put their bits: the output, or (when a later group may still throw) a
/// scratch copy that is copied out at the end.
class staged_words {
public:
    staged_words(mask_view out, bool stage, select_workspace& ws) : m_out(out) {
        const std::size_t nw = mask_words(out.size());
        if (stage && nw) {
            m_words = ws.words(nw);
            m_words[nw - 1] = 0;
        } else {
            m_words = out.words().data();
        }
    }

    [[nodiscard]] std::uint64_t* words() const noexcept { return m_words; }

    void commit() const {
        if (m_words != out_words()) std::copy(m_words, m_words + mask_words(m_out.size()), out_words());
    }

private:
    [[nodiscard]] std::uint64_t* out_words() const noexcept { return m_out.words().data(); }

    mask_view m_out;
    std::uint64_t* m_words = nullptr;
};

}  // namespace nnprune::detail

#endif  // NNPRUNE_SELECT_GROUP_HPP
