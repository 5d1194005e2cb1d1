#ifndef NNPRUNE_EXAMPLES_CLI_STREAM_SELECT_HPP
#define NNPRUNE_EXAMPLES_CLI_STREAM_SELECT_HPP

/// @file stream_select.hpp
/// Exact global selection over many score tensors seen ONE AT A TIME, with the result of
/// nnprune::select_global (same k, same tie rule: lower (tensor, flat index) first, same minimum
/// kept per tensor) in bounded memory.
///
/// Scores (float32) map to 32-bit keys that order like the floats (-0 = +0). Three passes over the
/// tensors refine the key of the k-th pruned element 11, 11 and 10 bits at a time: each pass
/// counts, per tensor, the keys inside the current prefix in 2048 bins (8 KiB per tensor), and
/// picks the first bin where sum_t min(cap_t, count_t(<= bin)) reaches k. After the third pass
/// the exact key v is known, with per tensor the count below v and equal to v; the ties at v are
/// handed out in tensor order, so every tensor gets its exact share k_t. A fourth pass (the
/// caller's write pass) prunes k_t per tensor: all keys < v and the first (k_t - below_t) keys == v
/// by flat index, or, when a minimum kept bites (k_t < below_t), the k_t lowest by select_mask.
/// Memory: 8 KiB + a few counters per tensor, whatever the model's size.

#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nnprune/core/element.hpp>
#include <nnprune/core/errors.hpp>
#include <nnprune/masks/mask.hpp>
#include <nnprune/select/policy.hpp>
#include <nnprune/select/select.hpp>

namespace nnprune_cli {

/// Order-preserving key of a float score; NaN is an error naming the tensor.
inline std::uint32_t score_key(float s, std::size_t index, const std::string& name) {
    NNPRUNE_CHECK(!nnprune::is_nan(s), nnprune::value_error,
                  nnprune::detail::str("prune: NaN score at flat index ", index, " of tensor '", name, "'"));
    if (s == 0.0f) s = 0.0f;  // -0 and +0 are equal scores
    const auto b = std::bit_cast<std::uint32_t>(s);
    return (b >> 31) ? ~b : (b | 0x8000'0000u);
}

class stream_select {
public:
    static constexpr int levels = 3;

    /// sizes: elements per tensor (list order = tie order); min_keep_fraction: each tensor keeps at
    /// least ceil(f * n); the amount (a ratio, rounded by r, or an exact count) gives k over all
    /// elements, as select_global.
    stream_select(std::vector<std::size_t> sizes, const nnprune::amount& a, nnprune::rounding r, double min_keep_fraction)
        : m_n(std::move(sizes)), m_cap(m_n.size()), m_below(m_n.size(), 0), m_eq(m_n.size(), 0),
          m_hist(m_n.size()), m_k_t(m_n.size(), 0) {
        std::size_t total = 0, capacity = 0;
        for (std::size_t t = 0; t < m_n.size(); ++t) {
            NNPRUNE_PRECONDITION(m_n[t] < (std::size_t{1} << 32),
                                 nnprune::detail::str("prune --scope global: a tensor of ", m_n[t], " elements (2^32 or more)"));
            total += m_n[t];
            auto floor_keep = static_cast<std::size_t>(std::ceil(min_keep_fraction * static_cast<double>(m_n[t])));
            floor_keep = std::min(floor_keep, m_n[t]);
            m_cap[t] = m_n[t] - floor_keep;
            capacity += m_cap[t];
        }
        m_k = a.k_for(total, r, "prune --scope global");
        NNPRUNE_PRECONDITION(m_k <= capacity, nnprune::detail::str("prune --scope global: ", m_k,
                                                                   " must be pruned but --min-keep allows only ", capacity));
        m_total = total;
    }

    [[nodiscard]] std::size_t k() const noexcept { return m_k; }
    [[nodiscard]] std::size_t total() const noexcept { return m_total; }
    /// True when score passes are needed (k > 0).
    [[nodiscard]] bool needs_passes() const noexcept { return m_k > 0; }

    /// Feeds tensor t's scores for the current level.
    void feed(std::size_t t, std::span<const float> scores, const std::string& name) {
        auto& h = m_hist[t];
        h.assign(bins, 0);
        const int shift = shift_of(m_level);
        for (std::size_t i = 0; i < scores.size(); ++i) {
            const std::uint32_t key = score_key(scores[i], i, name);
            if (m_level > 0 && (key >> prefix_shift()) != m_prefix) continue;
            ++h[(key >> shift) & (bins - 1)];
        }
    }

    /// Closes the current level after every tensor was fed.
    void end_level() {
        const std::size_t nt = m_n.size();
        std::vector<std::uint64_t> cum(nt, 0);
        std::size_t g = 0;
        for (std::size_t t = 0; t < nt; ++t) g += std::min(m_cap[t], m_below[t]);
        std::uint32_t chosen = bins - 1;
        for (std::uint32_t b = 0; b < bins; ++b) {
            std::size_t next = g;
            for (std::size_t t = 0; t < nt; ++t) {
                const std::uint64_t h = m_hist[t][b];
                if (!h) continue;
                next += std::min<std::size_t>(m_cap[t], m_below[t] + cum[t] + h) - std::min<std::size_t>(m_cap[t], m_below[t] + cum[t]);
            }
            if (next >= m_k) {
                chosen = b;
                break;
            }
            g = next;
            for (std::size_t t = 0; t < nt; ++t) cum[t] += m_hist[t][b];
        }
        for (std::size_t t = 0; t < nt; ++t) {
            m_below[t] += cum[t];
            if (m_level == levels - 1) m_eq[t] = m_hist[t][chosen];
            m_hist[t].clear();
            m_hist[t].shrink_to_fit();
        }
        m_prefix = (m_prefix << bits_of(m_level)) | chosen;
        ++m_level;
        if (m_level == levels) finish();
    }

    /// After the last level: the key of the k-th pruned element and each tensor's share.
    [[nodiscard]] std::uint32_t threshold_key() const noexcept { return m_prefix; }
    [[nodiscard]] float threshold() const noexcept {
        const std::uint32_t b = (m_prefix & 0x8000'0000u) ? (m_prefix & 0x7FFF'FFFFu) : ~m_prefix;
        return std::bit_cast<float>(b);
    }
    [[nodiscard]] std::size_t k_of(std::size_t t) const noexcept { return m_k_t[t]; }
    [[nodiscard]] std::size_t below_of(std::size_t t) const noexcept { return m_below[t]; }

    /**
     * Tensor t's mask when its share prunes every key below the threshold (k_t >= below_t):
     * prune keys < v and the first k_t - below_t keys == v. Returns false (mask untouched) when a
     * minimum kept bites and the caller must select the k_t lowest itself.
     */
    bool mask_of(std::size_t t, std::span<const float> scores, const std::string& name, nnprune::mask_view out) const {
        const std::size_t kt = m_k_t[t];
        if (kt == 0) {
            out.fill(true);
            return true;
        }
        if (kt < m_below[t]) return false;
        std::size_t ties = kt - m_below[t];
        const std::uint32_t v = m_prefix;
        for (std::size_t i = 0; i < scores.size(); ++i) {
            const std::uint32_t key = score_key(scores[i], i, name);
            bool prune = key < v;
            if (key == v && ties) {
                prune = true;
                --ties;
            }
            out.set(i, !prune);
        }
        return true;
    }

private:
    static constexpr std::uint32_t bins = 2048;
    static constexpr int bits_of(int level) noexcept { return level < 2 ? 11 : 10; }
    static constexpr int shift_of(int level) noexcept { return level == 0 ? 21 : level == 1 ? 10 : 0; }
    [[nodiscard]] int prefix_shift() const noexcept { return shift_of(m_level - 1); }

    void finish() {
        std::size_t base = 0;
        for (std::size_t t = 0; t < m_n.size(); ++t) base += std::min(m_cap[t], m_below[t]);
        std::size_t left = m_k - base;
        for (std::size_t t = 0; t < m_n.size(); ++t) {
            const std::size_t lo = std::min(m_cap[t], m_below[t]);
            const std::size_t room = std::min(m_cap[t], m_below[t] + m_eq[t]) - lo;
            const std::size_t take = std::min(left, room);
            m_k_t[t] = lo + take;
            left -= take;
        }
    }

    std::vector<std::size_t> m_n, m_cap, m_below, m_eq;
    std::vector<std::vector<std::uint32_t>> m_hist;
    std::vector<std::size_t> m_k_t;
    std::size_t m_k = 0, m_total = 0;
    std::uint32_t m_prefix = 0;
    int m_level = 0;
};

}  // namespace nnprune_cli

#endif  // NNPRUNE_EXAMPLES_CLI_STREAM_SELECT_HPP
