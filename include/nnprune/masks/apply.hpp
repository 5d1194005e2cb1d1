#ifndef NNPRUNE_MASKS_APPLY_HPP
#define NNPRUNE_MASKS_APPLY_HPP

/// @file apply.hpp
/// apply(): zero the pruned weights of a tensor in place, for every element type and any strides.

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_ref.hpp"
#include "../core/tensor_view.hpp"
#include "../simd/bracket.hpp"  // NNPRUNE_SIMD_AVX512, <immintrin.h>
#include "mask.hpp"

namespace nnprune::detail {

/// Sets to +0 the elements p[j * s], j < cols (a weight row, or apply()'s whole contiguous
/// tensor), whose kept bit (kept words LSB first, the bits past cols ignored) is clear; kept
/// elements are not written.
template <class T>
void zero_pruned_row_scalar(T* p, std::ptrdiff_t s, std::size_t cols, const std::uint64_t* kept) noexcept {
    const T zero{};
    const std::size_t nw = (cols + 63) / 64;
    for (std::size_t w = 0; w < nw; ++w) {
        std::uint64_t pruned = ~kept[w];
        if (w + 1 == nw && cols % 64) pruned &= (std::uint64_t{1} << (cols % 64)) - 1;
        while (pruned) {
            const auto b = static_cast<std::ptrdiff_t>(w * 64) + __builtin_ctzll(pruned);
            p[b * s] = zero;
            pruned &= pruned - 1;
        }
    }
}

/// zero_pruned_row_scalar, with masked stores of zeros on contiguous rows under AVX-512.
template <class T>
void zero_pruned_row(T* p, std::ptrdiff_t s, std::size_t cols, const std::uint64_t* kept) noexcept {
#if NNPRUNE_SIMD_AVX512
    if (s == 1) {
        const __m512i z = _mm512_setzero_si512();
        const std::size_t nw = (cols + 63) / 64;
        for (std::size_t w = 0; w < nw; ++w) {
            std::uint64_t pruned = ~kept[w];
            if (w + 1 == nw && cols % 64) pruned &= (std::uint64_t{1} << (cols % 64)) - 1;
            if (!pruned) continue;
            T* q = p + w * 64;  // masked-off lanes are neither written nor faulted on
            if constexpr (sizeof(T) == 2) {
                _mm512_mask_storeu_epi16(q, static_cast<__mmask32>(pruned), z);
                _mm512_mask_storeu_epi16(q + 32, static_cast<__mmask32>(pruned >> 32), z);
            } else if constexpr (sizeof(T) == 4) {
                for (unsigned h = 0; h < 64; h += 16) _mm512_mask_storeu_epi32(q + h, static_cast<__mmask16>(pruned >> h), z);
            } else {
                for (unsigned h = 0; h < 64; h += 8) _mm512_mask_storeu_epi64(q + h, static_cast<__mmask8>(pruned >> h), z);
            }
        }
        return;
    }
#endif
    zero_pruned_row_scalar(p, s, cols, kept);
}

}  // namespace nnprune::detail

namespace nnprune {

/**
 * @brief Sets every element whose mask bit is 0 (pruned) to +0; kept elements are not touched
 * (nor are their pages written).
 * @throws shape_error when the mask's shape differs from the tensor's; nothing is written then.
 * @code
 * nnprune::apply(nnprune::matrix_view<float>(w.data(), 4096, 11008), m);
 * @endcode
 */
template <element T, std::size_t Rank>
    requires(!std::is_const_v<T>)
void apply(const tensor_view<T, Rank>& t, const_mask_view m) {
    NNPRUNE_CHECK(t.shape() == m.shape(), shape_error,
                  detail::str("apply: mask has ", m.shape(), " elements, tensor has ", t.shape()));
    const T zero{};
    const auto words = m.words();
    const std::size_t n = t.size();
    if (t.is_contiguous()) {
        detail::zero_pruned_row(t.data_handle(), 1, n, words.data());
        return;
    }
    for_each_indexed(t, [&](std::size_t i, T& x) {
        if (!m.test(i)) x = zero;
    });
}

/// apply() on a type-erased tensor. @throws precondition_error when the ref is read-only.
inline void apply(const tensor_ref& t, const_mask_view m) {
    NNPRUNE_PRECONDITION(!t.readonly(), "apply: tensor is read-only");
    NNPRUNE_CHECK(t.shape() == m.shape(), shape_error,
                  detail::str("apply: mask has ", m.shape(), " elements, tensor has ", t.shape()));
    visit_mutable(t, [&](auto v) {
        // the padded rank-4 view has the ref's elements in the same flat order
        using T = typename decltype(v)::value_type;
        const_mask_view flat(m.words(), nnprune::shape(v.extents()));
        apply(tensor_view<T, max_rank>(v), flat);
    });
}

}  // namespace nnprune

#endif  // NNPRUNE_MASKS_APPLY_HPP
