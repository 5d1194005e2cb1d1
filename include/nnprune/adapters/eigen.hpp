#ifndef NNPRUNE_ADAPTERS_EIGEN_HPP
#define NNPRUNE_ADAPTERS_EIGEN_HPP

/// @file eigen.hpp
/// view_traits for Eigen dense objects with direct memory access: Matrix, Array, Map, Ref and
/// Block (strided blocks included), row- and column-major, const and mutable. Vectors (one
/// compile-time dimension equal to 1) become rank-1 views; everything else a rank-2 view whose
/// logical index is (row, col) whatever the storage order. Eigen::bfloat16 and Eigen::half map
/// to nnprune::bfloat16 and nnprune::float16 (same 16-bit layout, checked below).
/// Not in the umbrella header: include it yourself, with Eigen on the include path.
///
/// @code
/// Eigen::MatrixXf w(4096, 11008);
/// nnprune::matrix_view<float> v = nnprune::as_view(w);
/// nnprune::apply(nnprune::as_view(w.block(0, 0, 64, 64)), m);   // a strided block
/// @endcode

#include <cstddef>
#include <type_traits>

#include <Eigen/Core>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/tensor_view.hpp"
#include "../core/view_traits.hpp"

namespace nnprune {

static_assert(sizeof(Eigen::bfloat16) == sizeof(bfloat16) && alignof(Eigen::bfloat16) == alignof(bfloat16) &&
                  std::is_standard_layout_v<Eigen::bfloat16>,
              "Eigen::bfloat16 must have nnprune::bfloat16's layout (one 16-bit word)");
static_assert(sizeof(Eigen::half) == sizeof(float16) && alignof(Eigen::half) == alignof(float16) &&
                  std::is_standard_layout_v<Eigen::half>,
              "Eigen::half must have nnprune::float16's layout (one 16-bit word)");

namespace detail {

/// The nnprune element type for an Eigen scalar (cv kept); void when there is none.
template <class S>
struct eigen_element {
    using type = void;
};
template <class S>
requires element<S>

struct eigen_element<S> {
    using type = S;
};

template <>
struct eigen_element<Eigen::bfloat16> {
    using type = bfloat16;
};

template <>
struct eigen_element<const Eigen::bfloat16> {
    using type = const bfloat16;
};

template <>
struct eigen_element<Eigen::half> {
    using type = float16;
};

template <>
struct eigen_element<const Eigen::half> {
    using type = const float16;
};

/// The element pointer type an Eigen object hands out through data() (const for read-only ones).
template <class E>
using eigen_data_t = std::remove_pointer_t<decltype(std::declval<E&>().data())>;

template <class D>
void eigen_dense_probe(const Eigen::DenseBase<D>*);  // declared only: matches any dense expression

template <class E>
concept eigen_direct = requires(const E* p) {
    eigen_dense_probe(p);
}

&&((E::Flags & Eigen::DirectAccessBit) != 0) && !std::is_void_v<typename eigen_element<eigen_data_t<E>>::type>;

template <class E>
inline constexpr bool eigen_is_vector = E::RowsAtCompileTime == 1 || E::ColsAtCompileTime == 1;

template <class Elem, class E>
auto eigen_view(E& e) noexcept {
    using T = std::conditional_t<std::is_const_v<E>, std::add_const_t<Elem>, Elem>;
    using D = std::remove_reference_t<decltype(*e.data())>;
    static_assert(sizeof(D) == sizeof(std::remove_cv_t<T>));
    T* p = reinterpret_cast<T*>(const_cast<std::remove_cv_t<D>*>(e.data()));
    const auto inner = static_cast<std::ptrdiff_t>(e.innerStride());
    const auto outer = static_cast<std::ptrdiff_t>(e.outerStride());
    const auto rows = static_cast<std::size_t>(e.rows());
    const auto cols = static_cast<std::size_t>(e.cols());
    if constexpr (eigen_is_vector<std::remove_const_t<E>>) {
        // a vector's elements are inner-stride apart, whatever its storage order
        return vector_view<T>(p, {rows * cols}, {inner});
    } else if constexpr (std::remove_const_t<E>::IsRowMajor) {
        return matrix_view<T>(p, {rows, cols}, {outer, inner});
    } else {
        return matrix_view<T>(p, {rows, cols}, {inner, outer});
    }
}

}  // namespace detail

/// Every Eigen dense object with direct access (Matrix, Array, Map, Ref, Block of those).
template <class E>
requires detail::eigen_direct<E>

struct view_traits<E> {
    using element_type = typename detail::eigen_element<detail::eigen_data_t<E>>::type;

    /// Mutable elements when the object hands out mutable data (a Map of const is read-only).
    static auto view(E& e) noexcept { return detail::eigen_view<element_type>(e); }

    static auto view(const E& e) noexcept { return detail::eigen_view<std::add_const_t<element_type>>(e); }
};

}  // namespace nnprune

#endif  // NNPRUNE_ADAPTERS_EIGEN_HPP
