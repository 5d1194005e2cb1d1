#ifndef NNPRUNE_TOKENS_RANK_HPP
#define NNPRUNE_TOKENS_RANK_HPP

/// @file rank.hpp
/// The top-k of the token methods under their one tie rule (tokens.md §0): a stable descending
/// order, so among equal scores the lower index wins and comes first. In O(n) (nth_element) into
/// a caller's reused index buffer: no allocation once the buffer has grown. The selection runs on
/// packed integer keys (score bits, index) in that buffer. Scores must hold no
/// NaN (callers check and name the offending input); -inf and +inf order as usual.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <numeric>
#include <vector>

#include "../config.hpp"

namespace nnprune::detail {

/// Strict total order of the tie rule: higher score first, then lower index.
struct ranks_before {
    const float* s;

    bool operator()(std::size_t a, std::size_t b) const noexcept { return s[a] > s[b] || (s[a] == s[b] && a < b); }
};

/// (score, index) packed so that a larger key ranks first under the tie rule: order-preserving
/// float bits above the complemented index (-0 counts as +0). Selecting plain integer keys is
/// several times faster than an indirect comparator.
[[nodiscard]] inline std::uint64_t rank_key(float v, std::size_t i) noexcept {
    std::uint32_t b = std::bit_cast<std::uint32_t>(v + 0.0f);
    b = (b & 0x8000'0000u) ? ~b : (b | 0x8000'0000u);
    return (std::uint64_t{b} << 32) | (0xFFFF'FFFFu - static_cast<std::uint32_t>(i));
}

[[nodiscard]] inline std::size_t rank_key_index(std::uint64_t key) noexcept {
    return 0xFFFF'FFFFu - static_cast<std::size_t>(key & 0xFFFF'FFFFu);
}

/// Whether idx (n entries) can hold the packed keys.
[[nodiscard]] constexpr bool rank_keys_fit(std::size_t n) noexcept {
    return sizeof(std::size_t) == sizeof(std::uint64_t) && n <= 0xFFFF'FFFFu;
}

/// Reorders idx[0..n) (holding keys when `keyed`, indices otherwise) so that its first k entries
/// rank first, then sorts those k by rank when `ranked`.
inline void rank_select(const float* s, std::size_t n, std::size_t k, std::vector<std::size_t>& idx, bool keyed,
                        bool ranked) {
    const auto kth = idx.begin() + static_cast<std::ptrdiff_t>(k);
    if (keyed) {
        if (k > 0 && k < n) std::nth_element(idx.begin(), kth - 1, idx.end(), std::greater<>{});
        if (ranked) std::sort(idx.begin(), kth, std::greater<>{});
    } else {
        if (k > 0 && k < n) std::nth_element(idx.begin(), kth - 1, idx.end(), ranks_before{s});
        if (ranked) std::sort(idx.begin(), kth, ranks_before{s});
    }
}

/// idx becomes 0..n-1 (or their packed keys when they fit), then is selected as rank_select says,
/// and holds indices again on return.
inline void rank_top_k(const float* s, std::size_t n, std::size_t k, std::vector<std::size_t>& idx, bool ranked) {
    idx.resize(n);
    const bool keyed = rank_keys_fit(n);
    if (keyed)
        for (std::size_t i = 0; i < n; ++i) idx[i] = static_cast<std::size_t>(rank_key(s[i], i));
    else
        std::iota(idx.begin(), idx.end(), std::size_t{0});
    rank_select(s, n, k, idx, keyed, ranked);
    if (keyed)
        for (auto& v : idx) v = rank_key_index(static_cast<std::uint64_t>(v));
}

/// idx becomes a permutation of 0..n-1 whose first k entries are the k highest scores (k <= n),
/// in no particular order.
inline void top_k_unordered(const float* s, std::size_t n, std::size_t k, std::vector<std::size_t>& idx) {
    rank_top_k(s, n, k, idx, false);
}

/// idx[0..k): the k highest scores in descending order, equal scores lower index first (the
/// order upstream's topk would give without its arbitrary tie order).
inline void top_k_descending(const float* s, std::size_t n, std::size_t k, std::vector<std::size_t>& idx) {
    rank_top_k(s, n, k, idx, true);
}

/// idx[0..k): the k highest scores as ascending indices.
inline void top_k_ascending(const float* s, std::size_t n, std::size_t k, std::vector<std::size_t>& idx) {
    rank_top_k(s, n, k, idx, false);
    std::sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k));
}

/// out[0..k): the k highest of s[0..n) as ascending indices, under the tie rule, without sorting
/// indices (H2O's eviction): the k-th largest value v (when fewer than 8 are dropped, as in
/// decode, one scan keeping the n - k + 1 smallest; else nth_element over a copy in tmp), then one
/// ascending scan takes every score above v and the lowest-indexed (k - that many) equal to v.
inline void top_k_ascending_scan(const float* s, std::size_t n, std::size_t k, std::vector<float>& tmp,
                                 std::size_t* out) {
    if (k == 0) return;
    float v = 0.0f;
    if (const std::size_t m = n - k; m < 8) {  // decode: evicting a few of n, v is the (m + 1)-th smallest
        float low[8];
        std::size_t have = 0;
        for (std::size_t j = 0; j < n; ++j) {
            const float x = s[j];
            if (have == m + 1 && !(x < low[m])) continue;
            std::size_t p = have == m + 1 ? m : have++;
            for (; p > 0 && x < low[p - 1]; --p) low[p] = low[p - 1];
            low[p] = x;
        }
        v = low[m];
    } else {
        tmp.assign(s, s + n);
        std::nth_element(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(k - 1), tmp.end(),
                         std::greater<float>());
        v = tmp[k - 1];
    }
    std::size_t above = 0;
    for (std::size_t j = 0; j < n; ++j) above += s[j] > v ? 1 : 0;
    std::size_t equal = k - above;
    for (std::size_t j = 0; j < n; ++j) {
        if (s[j] > v)
            *out++ = j;
        else if (s[j] == v && equal > 0)
            *out++ = j, --equal;
    }
}

}  // namespace nnprune::detail

#endif  // NNPRUNE_TOKENS_RANK_HPP
