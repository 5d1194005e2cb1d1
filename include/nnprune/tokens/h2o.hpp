#ifndef NNPRUNE_TOKENS_H2O_HPP
#define NNPRUNE_TOKENS_H2O_HPP

/// @file h2o.hpp
/// H2O heavy-hitter KV cache (Zhang et al., NeurIPS 2023; FMInference/H2O@ac75c2a, tokens.md §3):
/// the decode-time state that A2SF (attention_scores.hpp, f = 1) lacks. One h2o_cache per layer
/// and batch item, stepped once per attention call with that call's probabilities [H, q, kv]
/// (q = T in prefill, 1 in decode; kv = cached tokens + q):
///   a[g, j] = sum over the query heads h of KV group g, and the q queries, of attn[h, :, j];
///   s[g, j] = a[g, j] + s_old[g, j] for the old tokens, a[g, j] for the q new ones;
///   if kv > hh_size + recent_size, per group keep the top hh_size of s[g, :kv - recent] (ties:
///   lower position) plus the last recent_size positions, ascending, and compact s to them.
/// Deviations from upstream (on purpose): one state per batch item (upstream sums the score over
/// the batch and is batch-1 only), and with GQA the score is per KV head, summed over its group of
/// query heads (upstream keeps H rows and breaks for H_kv < H).
/// Scores accumulate in f32, heads then queries ascending (elementwise, so the same bits on every
/// tier); a step validates everything before it changes the state, and a steady-state step
/// allocates nothing.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_view.hpp"
#include "../simd/widen.hpp"
#include "items.hpp"
#include "rank.hpp"

namespace nnprune {

struct h2o_options {
    std::size_t hh_size = 1024;      ///< heavy hitters kept per KV head
    std::size_t recent_size = 1024;  ///< the last recent_size tokens are always kept
    std::size_t heads = 0;           ///< attention (query) heads H; must be positive
    std::size_t kv_heads = 0;        ///< KV heads (GQA groups); 0 means heads (MHA)
};

/**
 * @brief The H2O score state of one layer and batch item.
 * @code
 * nnprune::h2o_cache cache({.hh_size = 1024, .recent_size = 1024, .heads = 32, .kv_heads = 8});
 * cache.step(attn);                        // [32, q, kv] probabilities of this call
 * if (cache.evicted())
 *     for (std::size_t g = 0; g < 8; ++g) compact(g, cache.kept(g));  // same count for every g
 * @endcode
 */
class h2o_cache {
public:
    /// @throws precondition_error (heads 0, kv_heads not dividing heads, hh_size + recent_size 0).
    explicit h2o_cache(const h2o_options& o) : m_o(o) {
        if (m_o.kv_heads == 0) m_o.kv_heads = m_o.heads;
        NNPRUNE_PRECONDITION(o.heads > 0, "h2o_cache: heads must be positive");
        NNPRUNE_PRECONDITION(o.hh_size + o.recent_size > 0, "h2o_cache: hh_size + recent_size must be positive");
        NNPRUNE_PRECONDITION(
            o.heads % m_o.kv_heads == 0,
            detail::str("h2o_cache: ", o.heads, " heads are not a multiple of kv_heads = ", m_o.kv_heads));
    }

    [[nodiscard]] const h2o_options& options() const noexcept { return m_o; }

    /// Cached tokens per KV head after the last step (0 before the first).
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }

    /// Rows of the state: kv_heads.
    [[nodiscard]] std::size_t rows() const noexcept { return m_o.kv_heads; }

    /// Whether the last step evicted (otherwise kept() is every position).
    [[nodiscard]] bool evicted() const noexcept { return m_evicted; }

    /// Scores of KV head g over the current cache.
    [[nodiscard]] std::span<const float> scores(std::size_t g) const noexcept {
        return {m_score.data() + g * m_size, m_size};
    }

    /// After a step: KV head g's kept positions, ascending indices into the cache as it was
    /// before this step's eviction (old tokens, then the step's new ones). size() of them.
    [[nodiscard]] std::span<const std::size_t> kept(std::size_t g) const noexcept {
        return {m_kept.data() + g * m_size, m_size};
    }

    /// Forgets everything (the buffers stay allocated).
    void reset() noexcept {
        m_size = 0;
        m_evicted = false;
    }

    /**
     * @brief One attention call: accumulates and evicts.
     * @param attn [heads, q, kv] softmax probabilities of this call (f32, f64, bf16, f16; any
     *        strides), kv = size() + q.
     * @throws shape_error (wrong heads, q = 0, kv != size() + q), value_error (non-finite
     *         probability). On a throw the state is unchanged.
     */
    template <class T>
    void step(const tensor_view<T, 3>& attn) {
        prepare(attn, "h2o_cache::step");
        commit();
    }

    /// Stage 1 of step(): validates and computes the next state aside (the state is unchanged).
    template <class T>
    void prepare(const tensor_view<T, 3>& attn, std::string_view fn);

    /// Stage 2 of step(): makes the staged state current (no throw, no allocation).
    void commit() noexcept {
        std::swap(m_score, m_next);
        std::swap(m_kept, m_next_kept);
        m_size = m_next_size;
        m_evicted = m_next_evicted;
    }

private:
    h2o_options m_o;
    std::size_t m_size = 0, m_next_size = 0;
    bool m_evicted = false, m_next_evicted = false;
    std::vector<float> m_score, m_next;            // [rows, size]
    std::vector<std::size_t> m_kept, m_next_kept;  // [rows, size]
    std::vector<float> m_acc, m_row;               // [rows, kv], one widened attention row
    std::vector<float> m_tmp;
};

template <class T>
void h2o_cache::prepare(const tensor_view<T, 3>& attn, std::string_view fn) {
    static_assert(element<std::remove_cv_t<T>>, "h2o_cache: attention must be float, double, bfloat16 or float16");
    const std::size_t h = attn.extent(0), nq = attn.extent(1), kv = attn.extent(2);
    NNPRUNE_CHECK(h == m_o.heads && nq > 0 && kv == m_size + nq, shape_error,
                  detail::str(fn, ": attention is ", h, "x", nq, "x", kv, ", expected ", m_o.heads, " heads x q x (",
                              m_size, " cached + q) keys with q > 0"));
    const std::size_t g = m_o.kv_heads, rep = h / g;
    m_acc.resize(g * kv);
    m_row.resize(kv);
    std::fill(m_acc.begin(), m_acc.end(), 0.0f);
    bool finite = true;
    for (std::size_t hh = 0; hh < h; ++hh) {
        float* acc = m_acc.data() + (hh / rep) * kv;
        for (std::size_t i = 0; i < nq; ++i) {
            const float* r = m_row.data();
            if constexpr (!std::is_same_v<std::remove_cv_t<T>, double>) {
                if (attn.stride(2) == 1)
                    simd::widen(&attn(hh, i, 0), kv, m_row.data());
                else
                    for (std::size_t j = 0; j < kv; ++j) m_row[j] = to_float(attn(hh, i, j));
            } else {
                for (std::size_t j = 0; j < kv; ++j) {  // beyond float: NaN, reported as overflow
                    const double v = attn(hh, i, j);
                    m_row[j] = std::fabs(v) <= std::numeric_limits<float>::max() || !std::isfinite(v)
                                   ? static_cast<float>(v)
                                   : std::numeric_limits<float>::quiet_NaN();
                }
            }
            unsigned bad = 0;  // x - x is 0 for finite x, NaN (unequal to 0) for NaN and +-Inf
            for (std::size_t j = 0; j < kv; ++j) {
                acc[j] += r[j];
                bad |= static_cast<unsigned>(r[j] - r[j] != 0.0f);
            }
            finite &= bad == 0;
        }
    }
    if (!finite)
        for (std::size_t hh = 0; hh < h; ++hh)
            for (std::size_t i = 0; i < nq; ++i)
                for (std::size_t j = 0; j < kv; ++j)
                    NNPRUNE_CHECK(is_finite(attn(hh, i, j)), value_error,
                                  detail::str(fn, ": non-finite attention ", to_double(attn(hh, i, j)), " at head ", hh,
                                              ", query ", i, ", key ", j));
    NNPRUNE_CHECK(finite, value_error, detail::str(fn, ": attention overflows float"));  // f64 above 3.4e38
    for (std::size_t r = 0; r < g; ++r)  // the old tokens carry their score
        for (std::size_t j = 0; j < m_size; ++j) m_acc[r * kv + j] += m_score[r * m_size + j];
    const std::size_t budget = m_o.hh_size + m_o.recent_size;
    m_next_evicted = kv > budget;
    m_next_size = m_next_evicted ? budget : kv;
    m_next.resize(g * m_next_size);
    m_next_kept.resize(g * m_next_size);
    for (std::size_t r = 0; r < g; ++r) {
        const float* s = m_acc.data() + r * kv;
        std::size_t* kp = m_next_kept.data() + r * m_next_size;
        float* ns = m_next.data() + r * m_next_size;
        if (!m_next_evicted) {
            for (std::size_t j = 0; j < kv; ++j) kp[j] = j;
        } else {
            const std::size_t n = kv - m_o.recent_size;
            detail::top_k_ascending_scan(s, n, m_o.hh_size, m_tmp, kp);
            for (std::size_t j = 0; j < m_o.recent_size; ++j) kp[m_o.hh_size + j] = n + j;
        }
        for (std::size_t j = 0; j < m_next_size; ++j) ns[j] = s[kp[j]];
    }
}

/**
 * @brief Steps caches[b] with item b of attn [B, heads, q, kv], for any thread count the same as
 * a loop. All items are validated before any cache changes: on a throw (the lowest failing item's
 * error) every cache is unchanged.
 */
template <class T>
void h2o_step_batch(std::span<h2o_cache> caches, const tensor_view<T, 4>& attn, unsigned threads = 1) {
    NNPRUNE_CHECK(attn.extent(0) == caches.size() && !caches.empty(), shape_error,
                  detail::str("h2o_step_batch: ", attn.extent(0), " attention items for ", caches.size(),
                              " caches (must be equal, > 0)"));
    detail::for_each_item(caches.size(), threads,
                          [&](std::size_t b) { caches[b].prepare(detail::item_of(attn, b), "h2o_step_batch"); });
    for (auto& c : caches) c.commit();
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_H2O_HPP
