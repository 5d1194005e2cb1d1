#ifndef NNPRUNE_CORE_VIEW_TRAITS_HPP
#define NNPRUNE_CORE_VIEW_TRAITS_HPP

/// @file view_traits.hpp
/// view_traits<T>: the customization point that turns a foreign tensor type into a tensor_view.
/// Specialize it with a static `view(T&)` (and `view(const T&)` returning a view of const
/// elements) to hand your own tensors to nnprune. The primary template is undefined, so an
/// unsupported type is a clear compile error. Adapters for std::span, Eigen and xtensor live in
/// <nnprune/adapters/...> (not in the umbrella header).
///
/// @code
/// template <> struct nnprune::view_traits<my::tensor> {
///     static nnprune::matrix_view<float> view(my::tensor& t) { return {t.data(), t.rows(), t.cols()}; }
///     static nnprune::matrix_view<const float> view(const my::tensor& t) { return {t.data(), t.rows(), t.cols()}; }
/// };
/// @endcode

#include <cstddef>
#include <type_traits>
#include <utility>

#include "tensor_ref.hpp"
#include "tensor_view.hpp"

namespace nnprune {

template <class T>
struct view_traits;  // undefined: "T is not a tensor nnprune knows"

template <class T, std::size_t Rank>
struct view_traits<tensor_view<T, Rank>> {
    static constexpr tensor_view<T, Rank> view(const tensor_view<T, Rank>& v) noexcept { return v; }
};

/// Satisfied by every type with a view_traits specialization.
template <class T>
concept viewable = requires(T& t) {
    view_traits<std::remove_cvref_t<T>>::view(t);
};

/// The tensor_view of a foreign tensor (the one place view_traits is looked up).
template <viewable T>
[[nodiscard]] constexpr auto as_view(T&& t) {
    return view_traits<std::remove_cvref_t<T>>::view(t);
}

/// The type-erased ref of a foreign tensor.
template <viewable T>
[[nodiscard]] tensor_ref as_ref(T&& t) {
    return tensor_ref(as_view(t));
}

}  // namespace nnprune

#endif  // NNPRUNE_CORE_VIEW_TRAITS_HPP
