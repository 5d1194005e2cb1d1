#ifndef NNPRUNE_ADAPTERS_SPAN_HPP
#define NNPRUNE_ADAPTERS_SPAN_HPP

/// @file span.hpp
/// Views of plain memory: std::span, std::vector and std::array as vectors, and make_view() for a
/// raw pointer or a span reshaped to rank 1..4. Not in the umbrella header.
///
/// @code
/// std::vector<float> w(4096 * 11008);
/// auto v = nnprune::make_view(std::span<float>(w), 4096, 11008);   // matrix_view<float>
/// auto r = nnprune::as_ref(w);                                      // 1-D tensor_ref
/// @endcode

#include <array>
#include <cstddef>
#include <limits>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/shape.hpp"
#include "../core/tensor_view.hpp"
#include "../core/view_traits.hpp"

namespace nnprune {

template <element T, std::size_t Extent>
struct view_traits<std::span<T, Extent>> {
    static constexpr vector_view<T> view(const std::span<T, Extent>& s) noexcept { return {s.data(), s.size()}; }
};

template <element T, class Alloc>
struct view_traits<std::vector<T, Alloc>> {
    static vector_view<T> view(std::vector<T, Alloc>& v) noexcept { return {v.data(), v.size()}; }

    static vector_view<const T> view(const std::vector<T, Alloc>& v) noexcept { return {v.data(), v.size()}; }
};

template <element T, std::size_t N>
struct view_traits<std::array<T, N>> {
    static constexpr vector_view<T> view(std::array<T, N>& a) noexcept { return {a.data(), N}; }

    static constexpr vector_view<const T> view(const std::array<T, N>& a) noexcept { return {a.data(), N}; }
};

/**
 * @brief A row-major contiguous view of `p` with the given extents (rank = number of extents).
 * The caller guarantees that `p` holds the product of the extents elements.
 */
template <element T, class... I>

requires(sizeof...(I) >= 1 && sizeof...(I) <= max_rank && (std::is_integral_v<I> && ...))
    [[nodiscard]] constexpr tensor_view<T, sizeof...(I)> make_view(T* p, I... extents) noexcept {
    return tensor_view<T, sizeof...(I)>(p, extents...);
}

/**
 * @brief A row-major view of a span reshaped to the given extents.
 * @throws shape_error when the span's size differs from the product of the extents (or a
 * negative extent is given).
 */
template <element T, std::size_t Extent, class... I>

requires(sizeof...(I) >= 1 && sizeof...(I) <= max_rank && (std::is_integral_v<I> && ...))
    [[nodiscard]] tensor_view<T, sizeof...(I)> make_view(std::span<T, Extent> s, I... extents) {
    NNPRUNE_CHECK((std::cmp_greater_equal(extents, 0) && ...), shape_error, "make_view: extents must not be negative");
    const nnprune::shape want{static_cast<std::size_t>(extents)...};
    NNPRUNE_CHECK(want.numel() == s.size(), shape_error,
                  detail::str("make_view: span has ", s.size(), " elements, shape ", want, " needs ", want.numel()));
    return tensor_view<T, sizeof...(I)>(s.data(), extents...);
}

}  // namespace nnprune

#endif  // NNPRUNE_ADAPTERS_SPAN_HPP
