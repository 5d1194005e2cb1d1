#ifndef NNPRUNE_CORE_TENSOR_REF_HPP
#define NNPRUNE_CORE_TENSOR_REF_HPP

/// @file tensor_ref.hpp
/// tensor_ref: a type-erased tensor view (element type, rank 1..4, extents, strides chosen at run
/// time), so lists of layers with mixed element types and shapes can be handled together.
/// visit() turns it back into a typed tensor_view.

#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "../config.hpp"
#include "element.hpp"
#include "errors.hpp"
#include "shape.hpp"
#include "tensor_view.hpp"

namespace nnprune {

class tensor_ref {
public:
    constexpr tensor_ref() noexcept = default;

    /// From any typed view of an element type; a view of const elements makes a read-only ref.
    template <element T, std::size_t Rank>
    tensor_ref(const tensor_view<T, Rank>& v)  // NOLINT(google-explicit-constructor): a view is a ref
        : m_data(const_cast<std::remove_cv_t<T>*>(v.data_handle())),
          m_shape(v.extents()),
          m_dtype(dtype_of<T>),
          m_readonly(std::is_const_v<T>) {
        for (std::size_t r = 0; r < Rank; ++r) m_str[r] = v.stride(r);
    }

    [[nodiscard]] constexpr nnprune::dtype dtype() const noexcept { return m_dtype; }

    [[nodiscard]] constexpr const nnprune::shape& shape() const noexcept { return m_shape; }

    [[nodiscard]] constexpr std::size_t rank() const noexcept { return m_shape.rank(); }

    [[nodiscard]] constexpr std::size_t extent(std::size_t r) const noexcept { return m_shape[r]; }

    [[nodiscard]] constexpr std::ptrdiff_t stride(std::size_t r) const noexcept { return m_str[r]; }

    [[nodiscard]] constexpr std::size_t size() const noexcept { return m_shape.numel(); }

    [[nodiscard]] constexpr bool empty() const noexcept { return size() == 0; }

    [[nodiscard]] constexpr bool readonly() const noexcept { return m_readonly; }

    [[nodiscard]] constexpr const void* data_handle() const noexcept { return m_data; }

    [[nodiscard]] constexpr bool is_contiguous() const noexcept {
        std::ptrdiff_t expect = 1;
        for (std::size_t r = m_shape.rank(); r-- > 0;) {
            if (m_shape[r] != 1 && m_str[r] != expect) return false;
            expect *= static_cast<std::ptrdiff_t>(m_shape[r]);
        }
        return true;
    }

    /// The typed view, rank 1..4; @throws precondition_error on a dtype or rank mismatch, or when
    /// asking for mutable elements of a read-only ref.
    template <class T, std::size_t Rank>
    [[nodiscard]] tensor_view<T, Rank> as() const {
        using U = std::remove_cv_t<T>;
        NNPRUNE_CHECK(
            dtype_of<U> == m_dtype, precondition_error,
            detail::str("tensor_ref::as: tensor holds ", name_of(m_dtype), ", asked for ", name_of(dtype_of<U>)));
        NNPRUNE_CHECK(Rank == m_shape.rank(), shape_error,
                      detail::str("tensor_ref::as: tensor has rank ", m_shape.rank(), ", asked for rank ", Rank));
        NNPRUNE_CHECK(std::is_const_v<T> || !m_readonly, precondition_error,
                      "tensor_ref::as: tensor is read-only, asked for mutable elements");
        typename tensor_view<T, Rank>::extents_type ext{};
        typename tensor_view<T, Rank>::strides_type str{};
        for (std::size_t r = 0; r < Rank; ++r) {
            ext[r] = m_shape[r];
            str[r] = m_str[r];
        }
        return tensor_view<T, Rank>(static_cast<T*>(m_data), ext, str);
    }

    /// Whether the trailing dimensions merge under the strides (as_matrix succeeds): each
    /// non-unit dim's stride equals the stride times the extent of the next non-unit dim (unit
    /// dims in between do not take part: their stride is arbitrary).
    [[nodiscard]] constexpr bool has_matrix() const noexcept {
        if (m_shape.rank() <= 1 || m_shape.numel() == 0) return true;
        std::size_t next = 0;  // the next non-unit trailing dim seen so far (0: none yet)
        for (std::size_t r = m_shape.rank(); r-- > 1;) {
            if (m_shape[r] == 1) continue;
            if (next != 0 && m_str[r] != m_str[next] * static_cast<std::ptrdiff_t>(m_shape[next])) return false;
            next = r;
        }
        return true;
    }

    /// The matrix interpretation [rows, cols] (rows = extent 0, cols = the rest; a vector is one
    /// row), as a typed view. @throws shape_error when the trailing dimensions cannot be merged
    /// under the ref's strides (only possible for non-contiguous refs of rank 3 or 4).
    template <class T>
    [[nodiscard]] matrix_view<T> as_matrix() const {
        using U = std::remove_cv_t<T>;
        NNPRUNE_CHECK(dtype_of<U> == m_dtype, precondition_error,
                      detail::str("tensor_ref::as_matrix: tensor holds ", name_of(m_dtype), ", asked for ",
                                  name_of(dtype_of<U>)));
        NNPRUNE_CHECK(std::is_const_v<T> || !m_readonly, precondition_error,
                      "tensor_ref::as_matrix: tensor is read-only, asked for mutable elements");
        if (m_shape.rank() == 1) return matrix_view<T>(static_cast<T*>(m_data), {1, m_shape[0]}, {0, m_str[0]});
        NNPRUNE_CHECK(has_matrix(), shape_error,
                      detail::str("tensor_ref::as_matrix: the trailing dimensions of a ", m_shape,
                                  " tensor cannot be merged under its strides"));
        return matrix_view<T>(static_cast<T*>(m_data), {m_shape.rows(), m_shape.cols()}, {m_str[0], inner_stride()});
    }

private:
    // element stride of the merged trailing dimensions: the stride of the last non-unit one
    [[nodiscard]] constexpr std::ptrdiff_t inner_stride() const noexcept {
        for (std::size_t r = m_shape.rank(); r-- > 1;)
            if (m_shape[r] > 1) return m_str[r];
        return 1;
    }

    void* m_data = nullptr;
    nnprune::shape m_shape{};
    std::array<std::ptrdiff_t, max_rank> m_str{};
    nnprune::dtype m_dtype = nnprune::dtype::f32;
    bool m_readonly = true;
};

namespace detail {

template <bool Mutable, class F>
decltype(auto) visit_impl(const tensor_ref& ref, F&& f) {
    auto call = [&](auto tag) -> decltype(auto) {
        using T = std::conditional_t<Mutable, decltype(tag), const decltype(tag)>;
        std::array<std::size_t, max_rank> ext{1, 1, 1, 1};
        std::array<std::ptrdiff_t, max_rank> str{0, 0, 0, 0};
        for (std::size_t r = 0; r < ref.rank(); ++r) {
            ext[r] = ref.extent(r);
            str[r] = ref.stride(r);
        }
        return f(tensor_view<T, max_rank>(static_cast<T*>(const_cast<void*>(ref.data_handle())), ext, str));
    };
    switch (ref.dtype()) {
        case dtype::f64:
            return call(double{});
        case dtype::bf16:
            return call(bfloat16{});
        case dtype::f16:
            return call(float16{});
        case dtype::f32:
            break;
    }
    return call(float{});
}

}  // namespace detail

/**
 * @brief Calls f(tensor_view<const T, 4>) with the ref's elements (T its element type), padded
 * with trailing unit dimensions, and returns what f returns.
 * @code
 * double total = nnprune::visit(ref, [](auto v) {
 *     double s = 0;
 *     nnprune::for_each_indexed(v, [&](std::size_t, auto x) { s += nnprune::to_double(x); });
 *     return s;
 * });
 * @endcode
 */
template <class F>
decltype(auto) visit(const tensor_ref& ref, F&& f) {
    return detail::visit_impl<false>(ref, std::forward<F>(f));
}

/// As visit(), with mutable elements. @throws precondition_error when the ref is read-only.
template <class F>
decltype(auto) visit_mutable(const tensor_ref& ref, F&& f) {
    NNPRUNE_PRECONDITION(!ref.readonly(), "visit_mutable: tensor is read-only");
    return detail::visit_impl<true>(ref, std::forward<F>(f));
}

}  // namespace nnprune

#endif  // NNPRUNE_CORE_TENSOR_REF_HPP
