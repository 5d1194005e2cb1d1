#ifndef NNPRUNE_TOKENS_RANK_HPP
#define NNPRUNE_TOKENS_RANK_HPP

/// @file rank.hpp
/// The top-k of the token methods under their one tie rule (tokens.md §0): a stable descending
/// order, so among equal scores the lower index wins and comes first. In O(n) (nth_element) into
/// a caller's reused index buffer: no allocation once the buffer has grown. Scores must hold no
/// NaN (callers check and name the offending input); -inf and +inf order as usual.

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <vector>

#include "../config.hpp"

namespace nnprune::detail {

/// Strict total order of the tie rule: higher score first, then lower index.
struct ranks_before {
    const float* s;

    bool operator()(std::size_t a, std::size_t b) const noexcept { return s[a] > s[b] || (s[a] == s[b] && a < b); }
};

/// idx becomes a permutation of 0..n-1 whose first k entries are the k highest scores (k <= n),
/// in no particular order.
inline void top_k_unordered(const float* s, std::size_t n, std::size_t k, std::vector<std::size_t>& idx) {
    idx.resize(n);
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    if (k > 0 && k < n)
        std::nth_element(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k - 1), idx.end(), ranks_before{s});
}

/// idx[0..k): the k highest scores in descending order, equal scores lower index first (the
/// order upstream's topk would give without its arbitrary tie order).
inline void top_k_descending(const float* s, std::size_t n, std::size_t k, std::vector<std::size_t>& idx) {
    top_k_unordered(s, n, k, idx);
    std::sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), ranks_before{s});
}

/// idx[0..k): the k highest scores as ascending indices.
inline void top_k_ascending(const float* s, std::size_t n, std::size_t k, std::vector<std::size_t>& idx) {
    top_k_unordered(s, n, k, idx);
    std::sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k));
}

}  // namespace nnprune::detail

#endif  // NNPRUNE_TOKENS_RANK_HPP
