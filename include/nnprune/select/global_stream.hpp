#ifndef NNPRUNE_SELECT_GLOBAL_STREAM_HPP
#define NNPRUNE_SELECT_GLOBAL_STREAM_HPP

/// @file global_stream.hpp
/// select_global's result over float32 score tensors that are seen ONE AT A TIME (e.g. scored
/// from a model read layer by layer), each scored once in the common case:
///  - a bracket [lo, hi] of keys (keys.hpp) is chosen before the first tensor is classified: the
///    whole key range when every competing score fits the candidate capacity, else from a sample
///    of the first tensor around the target quantile;
///  - each fed tensor is classified against it (simd::classify): keys below lo are pruned, above
///    hi kept, and those inside are kept as candidates (key, tensor, flat index) and tentatively
///    kept in the mask; a tensor whose keys below lo already reach its allowance (min keep) is
///    selected alone at once (its lowest `cap` elements, as select_global freezes it);
///  - end_pass() resolves the k-th exactly from the candidates in (key, tensor, index) order,
///    skipping tensors at their allowance, and clears the pruned candidates' bits.
/// Only when the bracket missed the k-th or the candidates overflowed does done() stay false: the
/// caller feeds every tensor again. After an overflow, the next bracket comes from a histogram of
/// the bracket's keys counted during the pass (4096 bins, each with its smallest and largest key):
/// the bins around the k-th's rank that fit half the candidate capacity, so the next pass fits
/// and resolves. When the k-th's bin holds a single key value (bfloat16 magnitudes, ties) and no
/// minimum binds, that value is the k-th, and the next pass hands its ties out in tensor order.
/// After a miss, the next bracket comes from the first pass's samples of every tensor, restricted
/// to the key range now known to hold the k-th. A bracket of one key value needs no candidates:
/// its ties are handed out in tensor order.
/// Memory: the candidates (at most max_candidates, 16 bytes each), 4 MiB of classified keys per
/// thread, the histogram (64 KiB) and 1024 sample keys plus a few counters per tensor, whatever
/// the tensors' sizes; the masks are the caller's.
/// Results are identical to select_global (same k, tie rule, min-keep caps and reported kth) for
/// any thread count.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/buffer.hpp"
#include "../core/errors.hpp"
#include "../detail/parallel.hpp"
#include "../masks/mask.hpp"
#include "../simd/bracket.hpp"
#include "../simd/classify.hpp"
#include "global.hpp"
#include "keys.hpp"
#include "options.hpp"
#include "per_tensor.hpp"

namespace nnprune {

class global_stream {
public:
    using key = std::uint32_t;

    /**
     * @brief A selection over tensors of `sizes` elements (list order = tie order) of which
     * `competing` compete (their previous mask's kept count, or the size); the amount, rounding,
     * NaN policy, threads and minimum kept per tensor come from `o` (previous_masks is ignored:
     * pass each tensor's previous mask to feed()). max_candidates = 0: 2^20.
     * @throws precondition_error as select_global (minimums that make k impossible, ...).
     */
    global_stream(std::span<const std::size_t> sizes, std::span<const std::size_t> competing, const amount& a,
                  const global_options& o, std::size_t max_candidates = 0)
        : m_b(detail::global_budget_for(sizes, competing, a, o, "global_stream")),
          m_size(sizes.begin(), sizes.end()),
          m_np(o.nans),
          m_threads(o.threads),
          m_cap_cand(max_candidates ? max_candidates : std::size_t{1} << 20),
          m_fn(o.name.empty() ? std::string_view{"global_stream"} : o.name) {
        const std::size_t nt = m_size.size();
        m_below.assign(nt, 0);
        m_inside.assign(nt, 0);
        m_frozen.assign(nt, 0);
        m_take.assign(nt, 0);
        m_masks.resize(nt);
        m_g_hi = 0;
        for (std::size_t t = 0; t < nt; ++t) m_g_hi += m_b.cap[t];
        m_done = m_b.k == 0;
        std::size_t comp = 0;
        for (auto c : m_b.comp) comp += c;
        m_all_fit = comp <= m_cap_cand;
    }

    [[nodiscard]] std::size_t k() const noexcept { return m_b.k; }

    [[nodiscard]] bool done() const noexcept { return m_done; }

    /// Passes completed so far (1 when every tensor was scored once).
    [[nodiscard]] std::size_t passes() const noexcept { return m_passes; }

    /// After done(): the largest score pruned (NaN when none was), as select_global's kth.
    [[nodiscard]] double kth() const noexcept { return m_kth; }

    /// After done(): tensor t's competing elements whose key is below the k-th key.
    [[nodiscard]] std::size_t below_kth(std::size_t t) const noexcept {
        return m_below_kth.empty() ? 0 : m_below_kth[t];
    }

    /**
     * @brief Feeds tensor t's scores (contiguous float32, its size) in this pass: tensors go in
     * ascending order, each once per pass. `out` is its mask, holding the previous mask's bits
     * (or all kept) before the first pass; it is rewritten every pass and final once done().
     * @throws value_error on a competing NaN score under nan_policy::reject (naming `name`);
     *         precondition_error on a call out of order.
     */
    void feed(std::size_t t, const float* scores, mask_view out, const_mask_view previous = {},
              std::string_view name = {}) {
        NNPRUNE_PRECONDITION(!m_done && t == m_next && t < m_size.size(),
                             detail::str(m_fn, ": fed tensor ", t, " but expected ", m_done ? m_size.size() : m_next));
        NNPRUNE_CHECK(out.size() == m_size[t] && (!previous.size() || previous.size() == m_size[t]), shape_error,
                      detail::str(m_fn, ": tensor ", t, " has ", m_size[t], " elements, its mask ", out.size()));
        ++m_next;
        const std::size_t n = m_size[t];
        m_masks[t] = out;
        if (m_passes == 0) sample(scores, n, t);
        if (t == 0 && m_passes == 0) {
            choose_first_bracket();
            start_histogram();
        }
        classify_tensor(t, scores, out, previous, name);
        if (m_below[t] >= m_b.cap[t] && m_b.cap[t] < m_b.comp[t]) freeze(t, scores, out, previous, name);
    }

    /// Closes a pass after every tensor was fed; done() tells whether another pass is needed.
    void end_pass() {
        NNPRUNE_PRECONDITION(!m_done && m_next == m_size.size(),
                             detail::str(m_fn, ": end_pass after ", m_next, " of ", m_size.size(), " tensors"));
        m_next = 0;
        ++m_passes;
        std::size_t g_lo = 0, g_hi = 0;
        for (std::size_t t = 0; t < m_size.size(); ++t) {
            g_lo += std::min(m_b.cap[t], m_below[t]);
            g_hi += std::min(m_b.cap[t], m_below[t] + m_inside[t]);
        }
        if (m_single) {  // the ties of one key were handed out while feeding
            finish_single();
            return;
        }
        if (g_lo < m_b.k && m_b.k <= g_hi) {
            if (!m_overflow) return resolve(g_lo);
            m_rlo = m_lo;
            m_rhi = m_hi;
            m_g_lo = g_lo;
            m_g_hi = g_hi;
            const auto [in_lo, in_hi] = inside_range();
            if (in_lo == in_hi) {  // every key inside is one value: its ties are handed out next
                m_lo = m_hi = in_lo;
                return start_single(g_lo);
            }
            m_narrow = true;  // the region overflowed: the next bracket must be smaller
        } else if (g_lo >= m_b.k) {
            m_rhi = m_lo - 1;  // lo > region's low end: G(region low - 1) < k <= G(lo - 1)
            m_g_hi = g_lo;
        } else {
            m_rlo = m_hi + 1;
            m_g_lo = g_hi;
        }
        next_bracket();
    }

private:
    struct candidate {
        key k;
        std::uint32_t t;
        std::uint64_t i;
    };

    static constexpr std::size_t samples_per_tensor = 1024;
    static constexpr std::size_t hist_bins = 4096;

    /// The histogram of this pass's bracket: bin b counts the competing keys in
    /// [lo + b << shift, lo + (b + 1) << shift).
    void start_histogram() {
        m_hist.assign(hist_bins, 0);
        m_hist_min.assign(hist_bins, std::numeric_limits<key>::max());
        m_hist_max.assign(hist_bins, 0);
        const std::uint64_t range = std::uint64_t{m_hi} - m_lo;
        m_hist_shift = 0;
        while ((range >> m_hist_shift) >= hist_bins) ++m_hist_shift;
    }

    /// The smallest and largest competing key inside this pass's bracket (from the histogram).
    [[nodiscard]] std::pair<key, key> inside_range() const {
        key lo = std::numeric_limits<key>::max(), hi = 0;
        for (std::size_t b = 0; b < hist_bins; ++b)
            if (m_hist[b]) {
                lo = std::min(lo, m_hist_min[b]);
                hi = std::max(hi, m_hist_max[b]);
            }
        return {lo, hi};
    }

    /// No tensor's allowance (min keep) can bind: capped counts are plain counts.
    [[nodiscard]] bool uncapped() const noexcept {
        for (std::size_t t = 0; t < m_size.size(); ++t)
            if (m_b.cap[t] < m_b.comp[t]) return false;
        return true;
    }

    /**
     * After an overflow: the bins around the k-th's rank among the bracket's keys (those with
     * m_g_lo below the bracket) whose counts fit half the candidate capacity, trimmed to the keys
     * seen in them. A hint only: the capped counts of the next pass decide whether it holds the
     * k-th. When no allowance binds and the k-th's bin holds one key value, that value is the k-th
     * exactly, and the next pass hands its ties out in tensor order (the rank tells how many).
     */
    void bracket_from_histogram() {
        const std::size_t rank = m_b.k - m_g_lo;  // 1-based among the bracket's keys
        std::size_t j = 0, c = 0;
        while (j + 1 < hist_bins && c + m_hist[j] < rank) c += m_hist[j++];
        if (m_hist[j] && m_hist_min[j] == m_hist_max[j] && c < rank && rank - c <= m_hist[j] && uncapped()) {
            m_lo = m_hi = m_hist_min[j];
            m_narrow = false;
            reset_pass();
            m_single = true;
            m_greedy_left = rank - c;
            m_greedy = true;
            return;
        }
        std::size_t a = j, b = j, sum = m_hist[j];
        for (bool grew = true; grew;) {
            grew = false;
            if (a > 0 && sum + m_hist[a - 1] <= m_cap_cand / 2) {
                sum += m_hist[--a];
                grew = true;
            }
            if (b + 1 < hist_bins && sum + m_hist[b + 1] <= m_cap_cand / 2) {
                sum += m_hist[++b];
                grew = true;
            }
        }
        std::uint64_t lo = std::uint64_t{m_lo} + (std::uint64_t{a} << m_hist_shift);
        std::uint64_t hi =
            std::min<std::uint64_t>(std::uint64_t{m_lo} + ((std::uint64_t{b} + 1) << m_hist_shift) - 1, m_rhi);
        if (m_hist[a]) lo = std::max<std::uint64_t>(lo, m_hist_min[a]);
        if (m_hist[b]) hi = std::min<std::uint64_t>(hi, m_hist_max[b]);
        m_lo = static_cast<key>(lo);
        m_hi = static_cast<key>(std::max(lo, hi));
        m_narrow = false;
        reset_pass();
    }

    void sample(const float* p, std::size_t n, std::size_t t) {
        const std::size_t before = m_samples.size();
        if (n < 4 * samples_per_tensor) {
            const std::size_t step = std::max<std::size_t>(1, n / samples_per_tensor);
            for (std::size_t i = 0; i < n; i += step) m_samples.push_back(detail::key_as<key>(p[i], m_np));
        } else {
            const std::size_t blocks = samples_per_tensor / 16;
            m_samples.resize(before + samples_per_tensor);
            key mn, mx;
            simd::sample_keys<key>(p, blocks, n / blocks, m_np, m_samples.data() + before, mn, mx);
        }
        if (t == 0) m_first_samples = m_samples.size();
    }

    void choose_first_bracket() {
        m_lo = 0;
        m_hi = std::numeric_limits<key>::max();
        if (m_all_fit) return;
        std::vector<key> s(m_samples.begin(), m_samples.begin() + static_cast<std::ptrdiff_t>(m_first_samples));
        std::sort(s.begin(), s.end());
        bracket_from(s);
    }

    /// The bracket inside the region [m_rlo, m_rhi] (which holds the k-th) around the k-th's
    /// estimated place among the sorted samples s; sized for about half the candidate capacity.
    void bracket_from(const std::vector<key>& s) {
        const std::size_t region = m_g_hi - m_g_lo;  // capped counts: an estimate of the region's size
        m_lo = m_rlo;
        m_hi = m_rhi;
        const bool narrow = m_narrow;
        m_narrow = false;
        if (m_passes > 0 && !narrow && region <= m_cap_cand / 2) return;
        const auto a = std::lower_bound(s.begin(), s.end(), m_rlo), b = std::upper_bound(s.begin(), s.end(), m_rhi);
        const auto m = static_cast<double>(b - a);
        const double f = region ? static_cast<double>(m_b.k - m_g_lo) / static_cast<double>(region) : 0.5;
        bool narrowed = false;
        if (m >= 32) {
            const double noise = 4.0 * std::sqrt(m * f * (1.0 - f)) + 2.0;
            const double w = std::max(noise, m * 0.25 * static_cast<double>(m_cap_cand) /
                                                 static_cast<double>(std::max<std::size_t>(region, 1)));
            const double plo = f * m - w, phi = f * m + w;
            if (plo > 0) m_lo = std::max(m_rlo, *(a + static_cast<std::ptrdiff_t>(plo)));
            if (phi < m - 1) m_hi = std::min(m_rhi, *(a + static_cast<std::ptrdiff_t>(std::ceil(phi))));
            narrowed = m_lo != m_rlo || m_hi != m_rhi;
        }
        if (!narrowed && m_passes > 0 && m_rlo < m_rhi) {  // no sample to go by: halve the region
            const key mid = static_cast<key>(m_rlo + (m_rhi - m_rlo) / 2);
            if (f < 0.5)
                m_hi = mid;
            else
                m_lo = static_cast<key>(mid + 1);
        }
    }

    void next_bracket() {
        if (m_overflow && m_lo == m_rlo && m_hi == m_rhi) {  // this pass's histogram covers the region
            bracket_from_histogram();
            return;
        }
        if (m_sorted_samples.empty()) {
            m_sorted_samples = std::move(m_samples);
            std::sort(m_sorted_samples.begin(), m_sorted_samples.end());
        }
        bracket_from(m_sorted_samples);
        reset_pass();
    }

    void reset_pass() {
        std::fill(m_below.begin(), m_below.end(), 0);
        std::fill(m_inside.begin(), m_inside.end(), 0);
        std::fill(m_frozen.begin(), m_frozen.end(), 0);
        m_cands.clear();
        m_overflow = false;
        m_frozen_kth = std::numeric_limits<double>::quiet_NaN();
        start_histogram();
    }

    /// Chunks of 2^14 mask words (1 Mi elements) are classified in parallel parts, then merged
    /// in index order: the parts' candidate keys take 4 MiB per chunk, whatever the tensor's size.
    static constexpr std::size_t chunk_words = std::size_t{1} << 14;

    void classify_tensor(std::size_t t, const float* p, mask_view out, const_mask_view previous,
                         std::string_view name) {
        const std::size_t n = m_size[t], nw = mask_words(n);
        std::uint64_t* words = out.words().data();
        const std::uint64_t* prev = previous.size() ? previous.words().data() : nullptr;
        std::size_t below = 0, inside = 0, take = m_single ? (m_greedy ? m_greedy_left : m_take[t]) : 0;
        for (std::size_t c0 = 0; c0 < nw; c0 += chunk_words) {
            const std::size_t cn = std::min(nw - c0, chunk_words);
            const unsigned parts = detail::parts_for(cn, m_threads, std::size_t{1} << 10);
            if (m_part_cand.size() < parts) {
                m_part_cand.resize(parts);
                m_part_in.resize(parts);
                m_part_nans.resize(parts);
            }
            detail::parallel_for(cn, parts, [&](std::size_t wb, std::size_t we, unsigned q) {
                const std::size_t e0 = (c0 + wb) * 64, m = std::min(n, (c0 + we) * 64) - e0;
                auto& cand = m_part_cand[q];
                auto& in = m_part_in[q];
                detail::grow_buffer(cand, m + 16);
                detail::grow_buffer(in, we - wb);
                m_part_nans[q] =
                    simd::classify<key>(p + e0, m, m_lo, m_hi, m_np, cand.data(), words + c0 + wb, in.data()).nans;
            });
            if (m_np == nan_policy::reject &&
                std::any_of(m_part_nans.begin(), m_part_nans.begin() + parts, [](std::size_t c) { return c > 0; }))
                for (std::size_t i = c0 * 64; i < std::min(n, (c0 + cn) * 64); ++i)
                    if (is_nan(p[i]) && (!prev || ((prev[i >> 6] >> (i & 63)) & 1u)))
                        NNPRUNE_THROW(value_error, detail::str(m_fn, ": NaN score at flat index ", i, " of tensor '",
                                                               name.empty() ? detail::str("#", t) : std::string(name),
                                                               "' (nan_policy::reject)"));
            // sequentially, in index order: counts, candidates, tentative kept bits (ties handed out)
            for (unsigned q = 0; q < parts; ++q) {
                const std::size_t wb = c0 + detail::part_begin(cn, parts, q),
                                  we = c0 + detail::part_begin(cn, parts, q + 1);
                const key* cand = m_part_cand[q].data();
                std::size_t at = 0;
                for (std::size_t w = wb; w < we; ++w) {
                    const std::size_t valid_n = std::min<std::size_t>(64, n - w * 64);
                    const std::uint64_t valid = valid_n == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << valid_n) - 1;
                    const std::uint64_t pw = prev ? prev[w] & valid : valid;
                    const std::uint64_t above = words[w], in = m_part_in[q][w - wb];
                    below += static_cast<std::size_t>(std::popcount(valid & ~above & ~in & pw));
                    std::uint64_t kept = (above | in) & pw;
                    for (std::uint64_t bits = in; bits; bits &= bits - 1, ++at) {
                        const std::uint64_t bit = bits & (0 - bits);
                        if (!(pw & bit)) continue;
                        ++inside;
                        const key kk = cand[at];
                        const std::size_t bin = (kk - m_lo) >> m_hist_shift;
                        ++m_hist[bin];
                        m_hist_min[bin] = std::min(m_hist_min[bin], kk);
                        m_hist_max[bin] = std::max(m_hist_max[bin], kk);
                        if (m_single) {
                            if (take) {
                                kept &= ~bit;
                                --take;
                            }
                        } else if (m_cands.size() < m_cap_cand) {
                            m_cands.push_back({cand[at], static_cast<std::uint32_t>(t),
                                               w * 64 + static_cast<std::size_t>(std::countr_zero(bit))});
                        } else {
                            m_overflow = true;
                        }
                    }
                    words[w] = kept;
                }
            }
        }
        m_below[t] = below;
        m_inside[t] = inside;
        if (m_greedy) m_greedy_left = take;
    }

    /// Tensor t's keys below lo reach its allowance: it prunes its own `cap` lowest (select_global freezes it).
    void freeze(std::size_t t, const float* p, mask_view out, const_mask_view previous, std::string_view name) {
        while (!m_cands.empty() && m_cands.back().t == t) m_cands.pop_back();
        m_frozen[t] = 1;
        const nnprune::shape flat{m_size[t]};
        mask_view o(out.words(), flat);
        o.fill(true);
        select_options so;
        so.nans = m_np;
        so.threads = m_threads;
        so.name = name;
        if (previous.size()) so.previous = const_mask_view(previous.words(), flat);
        const auto sel =
            select_mask(tensor_view<const float, 1>(p, m_size[t]), per_tensor{}, exactly{m_b.cap[t]}, o, so);
        if (m_b.cap[t]) m_frozen_kth = max_of(m_frozen_kth, sel.kth.empty() ? m_frozen_kth : sel.kth[0]);
    }

    static double max_of(double a, double b) noexcept { return std::isnan(a) || (!std::isnan(b) && b > a) ? b : a; }

    void resolve(std::size_t g_lo) {
        std::stable_sort(m_cands.begin(), m_cands.end(),
                         [](const candidate& a, const candidate& b) { return a.k < b.k; });
        std::vector<std::size_t> taken(m_size.size());
        for (std::size_t t = 0; t < m_size.size(); ++t) taken[t] = std::min(m_b.cap[t], m_below[t]);
        std::size_t left = m_b.k - g_lo;
        key last = 0;
        for (const auto& c : m_cands) {
            if (!left) break;
            if (m_frozen[c.t] || taken[c.t] >= m_b.cap[c.t]) continue;
            m_masks[c.t].set(c.i, false);
            ++taken[c.t];
            --left;
            last = c.k;
        }
        m_below_kth = m_below;
        for (const auto& c : m_cands)
            if (c.k < last) ++m_below_kth[c.t];
        m_kth = max_of(m_frozen_kth, detail::value_of_key<float>(last));
        m_cands.clear();
        m_cands.shrink_to_fit();
        m_done = true;
    }

    /// The k-th key is the bracket's one key: every tensor's share of its ties, in tensor order;
    /// the next pass prunes the first `take` competing ties of each tensor by flat index.
    void start_single(std::size_t g_lo) {
        std::size_t left = m_b.k - g_lo;
        for (std::size_t t = 0; t < m_size.size(); ++t) {
            const std::size_t lo = std::min(m_b.cap[t], m_below[t]);
            const std::size_t room = m_frozen[t] ? 0 : std::min(m_b.cap[t], m_below[t] + m_inside[t]) - lo;
            m_take[t] = std::min(left, room);
            left -= m_take[t];
        }
        reset_pass();
        m_single = true;
    }

    void finish_single() {
        NNPRUNE_ASSERT(!m_greedy || m_greedy_left == 0);
        m_below_kth = m_below;
        m_kth = max_of(m_frozen_kth, detail::value_of_key<float>(m_lo));
        m_done = true;
    }

    detail::global_budget m_b;
    std::vector<std::size_t> m_size;
    nan_policy m_np;
    unsigned m_threads;
    std::size_t m_cap_cand;
    std::string_view m_fn;
    bool m_all_fit = false, m_done = false, m_overflow = false, m_single = false, m_narrow = false;
    std::size_t m_next = 0, m_passes = 0, m_first_samples = 0;
    key m_lo = 0, m_hi = std::numeric_limits<key>::max();
    key m_rlo = 0, m_rhi = std::numeric_limits<key>::max();  ///< the key range known to hold the k-th
    std::size_t m_g_lo = 0, m_g_hi = 0;                      ///< capped counts below / up to the region
    std::vector<std::size_t> m_below, m_inside, m_take, m_below_kth;
    std::vector<unsigned char> m_frozen;
    std::vector<mask_view> m_masks;
    std::vector<candidate> m_cands;
    std::vector<key> m_samples, m_sorted_samples;
    std::vector<std::size_t> m_hist;
    std::vector<key> m_hist_min, m_hist_max;
    bool m_greedy = false;          ///< a single pass whose ties go to the first tensors in order
    std::size_t m_greedy_left = 0;  ///< ties still to prune in it
    unsigned m_hist_shift = 0;
    std::vector<std::vector<key>> m_part_cand;
    std::vector<std::vector<std::uint64_t>> m_part_in;
    std::vector<std::size_t> m_part_nans;
    double m_frozen_kth = std::numeric_limits<double>::quiet_NaN();
    double m_kth = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace nnprune

#endif  // NNPRUNE_SELECT_GLOBAL_STREAM_HPP
