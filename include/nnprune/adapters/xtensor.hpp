#ifndef NNPRUNE_ADAPTERS_XTENSOR_HPP
#define NNPRUNE_ADAPTERS_XTENSOR_HPP

/// @file xtensor.hpp
/// view_traits for xtensor expressions with a strided data interface: xt::xtensor, xt::xarray,
/// xt::adapt(...) adaptors, xt::view(...) with ranges/steps and xt::strided_view, in either
/// layout. Static-rank expressions (xtensor and views of it) give a tensor_view<T, N>; dynamic-rank
/// ones (xarray) give a tensor_ref, whose rank is checked at run time (1..4).
/// Not in the umbrella header: include it yourself, with xtensor on the include path.
/// Works with Debian's xtensor 0.24 (flat include paths) and with 0.26+ (area folders).
///
/// @code
/// xt::xtensor<float, 2> w = xt::zeros<float>({4096, 11008});
/// nnprune::matrix_view<float> v = nnprune::as_view(w);
/// nnprune::tensor_ref odd_rows = nnprune::as_ref(xt::view(w, xt::range(1, 4096, 2), xt::all()));
/// @endcode

#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#if defined(__has_include) && __has_include(<xtensor/core/xexpression.hpp>)
#include <xtensor/core/xexpression.hpp>  // xtensor 0.26+
#else
#include <xtensor/xexpression.hpp>  // xtensor <= 0.25 (Debian 12: 0.24)
#endif

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/shape.hpp"
#include "../core/tensor_ref.hpp"
#include "../core/tensor_view.hpp"
#include "../core/view_traits.hpp"

namespace nnprune {
namespace detail {

template <class E>
using xt_data_t = std::remove_reference_t<decltype(*std::declval<E&>().data())>;

/// An xtensor expression whose elements sit at data() + data_offset() + sum(index * stride).
template <class E>
concept xt_strided = xt::is_xexpression<E>::value && requires(E& e) {
    e.data();
    e.data_offset();
    e.strides();
    e.shape();
} && element<xt_data_t<E>>;

template <class E>
concept xt_static_rank = requires {
    std::tuple_size<std::remove_cvref_t<decltype(std::declval<E&>().shape())>>::value;
};

template <class T, std::size_t Rank, class E>
tensor_view<T, Rank> xt_typed_view(E& e) noexcept {
    typename tensor_view<T, Rank>::extents_type ext{};
    typename tensor_view<T, Rank>::strides_type str{};
    for (std::size_t r = 0; r < Rank; ++r) {
        ext[r] = static_cast<std::size_t>(e.shape()[r]);
        str[r] = static_cast<std::ptrdiff_t>(e.strides()[r]);
    }
    return tensor_view<T, Rank>(e.data() + e.data_offset(), ext, str);
}

template <class T, class E, std::size_t... R>
tensor_ref xt_dynamic_ref(E& e, std::index_sequence<R...>) {
    const std::size_t rank = e.shape().size();
    NNPRUNE_CHECK(rank >= 1 && rank <= max_rank, shape_error,
                  detail::str("as_view(xtensor): rank must be 1..", max_rank, ", got ", rank));
    tensor_ref out;
    ((rank == R + 1 ? (void)(out = xt_typed_view<T, R + 1>(e)) : (void)0), ...);
    return out;
}

template <class E>
auto xt_view(E& e) {
    using T = xt_data_t<E>;
    if constexpr (xt_static_rank<E>) {
        constexpr std::size_t rank = std::tuple_size<std::remove_cvref_t<decltype(e.shape())>>::value;
        static_assert(rank >= 1 && rank <= max_rank, "nnprune views have rank 1..4");
        return xt_typed_view<T, rank>(e);
    } else {
        return xt_dynamic_ref<T>(e, std::make_index_sequence<max_rank>{});
    }
}

}  // namespace detail

/// xtensor containers, adaptors and strided views.
/// view(E&) has mutable elements when the expression hands out mutable data.
/// @throws shape_error (dynamic rank only) when the rank is not 1..4.
template <class E>
requires detail::xt_strided<E>

struct view_traits<E> {
    static auto view(E& e) { return detail::xt_view(e); }

    static auto view(const E& e) requires detail::xt_strided<const E> { return detail::xt_view(e); }
};

}  // namespace nnprune

#endif  // NNPRUNE_ADAPTERS_XTENSOR_HPP
