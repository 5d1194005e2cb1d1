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
#include "../simd/zero.hpp"
#include "mask.hpp"

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

requires(!std::is_const_v<T>) void apply(const tensor_view<T, Rank>& t, const_mask_view m) {
    NNPRUNE_CHECK(t.shape() == m.shape(), shape_error,
                  detail::str("apply: mask has ", m.shape(), " elements, tensor has ", t.shape()));
    const T zero{};
    const auto words = m.words();
    const std::size_t n = t.size();
    if (t.is_contiguous()) {
        simd::zero_pruned_row(t.data_handle(), 1, n, words.data());
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
