#ifndef NNPRUNE_SELECT_INDICES_HPP
#define NNPRUNE_SELECT_INDICES_HPP

/// @file indices.hpp
/// Kept / pruned flat indices of a mask, ascending (word at a time).

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../config.hpp"
#include "../masks/mask.hpp"

namespace nnprune {

namespace detail {
template <bool Kept>
std::vector<std::size_t> indices_of(const_mask_view m) {
    std::vector<std::size_t> r;
    r.reserve(Kept ? m.count() : m.pruned());
    const auto words = m.words();
    const std::size_t n = m.size();
    for (std::size_t w = 0; w < words.size(); ++w) {
        std::uint64_t x = Kept ? words[w] : ~words[w];
        if (w + 1 == words.size() && n % 64) x &= (std::uint64_t{1} << (n % 64)) - 1;
        while (x) {
            r.push_back(w * 64 + static_cast<std::size_t>(std::countr_zero(x)));
            x &= x - 1;
        }
    }
    return r;
}
}  // namespace detail

/// Flat indices (ascending) of the kept elements of a mask.
[[nodiscard]] inline std::vector<std::size_t> kept_indices(const_mask_view m) { return detail::indices_of<true>(m); }

/// Flat indices (ascending) of the pruned elements of a mask.
[[nodiscard]] inline std::vector<std::size_t> pruned_indices(const_mask_view m) { return detail::indices_of<false>(m); }

}  // namespace nnprune

#endif  // NNPRUNE_SELECT_INDICES_HPP
