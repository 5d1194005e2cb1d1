#ifndef NNPRUNE_CORE_TENSOR_VIEW_HPP
#define NNPRUNE_CORE_TENSOR_VIEW_HPP

/// @file tensor_view.hpp
/// tensor_view<T, Rank>: a non-owning view of user memory in mdspan's vocabulary (extent(r),
/// stride(r), data_handle()). Extents and indices are 64-bit; strides are in elements, signed,
/// and arbitrary (0 broadcasts, negative walks backwards). Row-major contiguous views take the
/// fast paths.

#include <array>
#include <cstddef>
#include <type_traits>

#include "../config.hpp"
#include "errors.hpp"
#include "shape.hpp"

namespace nnprune {

template <class T, std::size_t Rank>
class tensor_view {
    static_assert(Rank >= 1 && Rank <= max_rank, "tensor_view<T, Rank>: Rank must be 1..4");

public:
    using element_type = T;
    using value_type = std::remove_cv_t<T>;
    using index_type = std::size_t;
    using stride_type = std::ptrdiff_t;
    using data_handle_type = T*;
    using reference = T&;
    using extents_type = std::array<index_type, Rank>;
    using strides_type = std::array<stride_type, Rank>;

    constexpr tensor_view() noexcept = default;

    /// Row-major contiguous view.
    constexpr tensor_view(T* data, const extents_type& extents) noexcept
        : m_data(data), m_ext(extents), m_str(row_major_strides(extents)) {}

    /// Row-major contiguous view from Rank extents: tensor_view<float, 2>(p, rows, cols).
    template <class... I>

    requires(sizeof...(I) == Rank && (std::is_integral_v<I> && ...)) constexpr tensor_view(T* data,
                                                                                           I... extents) noexcept
        : tensor_view(data, extents_type{static_cast<index_type>(extents)...}) {}

    /// View with explicit strides (in elements).
    constexpr tensor_view(T* data, const extents_type& extents, const strides_type& strides) noexcept
        : m_data(data), m_ext(extents), m_str(strides) {}

    /// A view of T converts to a view of const T.
    template <class U>

    requires(!std::is_same_v<U, T> &&
             std::is_convertible_v<U (*)[], T (*)[]>) constexpr tensor_view(const tensor_view<U, Rank>& other) noexcept
        : m_data(other.data_handle()), m_ext(other.extents()), m_str(other.strides()) {}

    [[nodiscard]] static constexpr std::size_t rank() noexcept { return Rank; }

    [[nodiscard]] constexpr index_type extent(std::size_t r) const noexcept { return m_ext[r]; }

    [[nodiscard]] constexpr stride_type stride(std::size_t r) const noexcept { return m_str[r]; }

    [[nodiscard]] constexpr const extents_type& extents() const noexcept { return m_ext; }

    [[nodiscard]] constexpr const strides_type& strides() const noexcept { return m_str; }

    [[nodiscard]] constexpr T* data_handle() const noexcept { return m_data; }

    [[nodiscard]] constexpr index_type size() const noexcept {
        index_type n = 1;
        for (auto e : m_ext) n *= e;
        return n;
    }

    [[nodiscard]] constexpr bool empty() const noexcept { return size() == 0; }

    [[nodiscard]] nnprune::shape shape() const { return nnprune::shape(m_ext); }

    /// True when the elements are laid out row-major without gaps (then data_handle()[i] is flat i).
    [[nodiscard]] constexpr bool is_contiguous() const noexcept {
        stride_type expect = 1;
        for (std::size_t r = Rank; r-- > 0;) {
            if (m_ext[r] != 1 && m_str[r] != expect) return false;
            expect *= static_cast<stride_type>(m_ext[r]);
        }
        return true;
    }

    /// Element at a multi-index.
    template <class... I>

    requires(sizeof...(I) == Rank && (std::is_integral_v<I> && ...)) [[nodiscard]] constexpr T& operator()(
        I... idx) const noexcept {
        const std::array<index_type, Rank> i{static_cast<index_type>(idx)...};
        stride_type off = 0;
        for (std::size_t r = 0; r < Rank; ++r) off += static_cast<stride_type>(i[r]) * m_str[r];
        return m_data[off];
    }

    /// Offset (in elements, from data_handle()) of the element at row-major flat index `flat`.
    [[nodiscard]] constexpr stride_type offset_of(index_type flat) const noexcept {
        stride_type off = 0;
        for (std::size_t r = Rank; r-- > 0;) {
            const index_type e = m_ext[r];
            off += static_cast<stride_type>(flat % e) * m_str[r];
            flat /= e;
        }
        return off;
    }

    /// Element at row-major flat index `flat` (any strides).
    [[nodiscard]] constexpr T& flat(index_type i) const noexcept { return m_data[offset_of(i)]; }

    [[nodiscard]] static constexpr strides_type row_major_strides(const extents_type& ext) noexcept {
        strides_type s{};
        stride_type acc = 1;
        for (std::size_t r = Rank; r-- > 0;) {
            s[r] = acc;
            acc *= static_cast<stride_type>(ext[r]);
        }
        return s;
    }

private:
    T* m_data = nullptr;
    extents_type m_ext{};
    strides_type m_str{};
};

template <class T>
using vector_view = tensor_view<T, 1>;
template <class T>
using matrix_view = tensor_view<T, 2>;

/**
 * @brief Calls f(flat_index, element&) for every element of v in row-major order.
 * Contiguous views run as a plain loop; others walk the strides without divisions.
 */
template <class T, std::size_t Rank, class F>
constexpr void for_each_indexed(const tensor_view<T, Rank>& v, F&& f) {
    const std::size_t n = v.size();
    if (n == 0) return;
    T* p = v.data_handle();
    if (v.is_contiguous()) {
        for (std::size_t i = 0; i < n; ++i) f(i, p[i]);
        return;
    }
    std::array<std::size_t, Rank> idx{};
    std::ptrdiff_t off = 0;
    const std::size_t inner = v.extent(Rank - 1);
    const std::ptrdiff_t inner_stride = v.stride(Rank - 1);
    for (std::size_t flat = 0; flat < n; flat += inner) {
        std::ptrdiff_t o = off;
        for (std::size_t j = 0; j < inner; ++j, o += inner_stride) f(flat + j, p[o]);
        // advance the outer multi-index (odometer)
        for (std::size_t r = Rank - 1; r-- > 0;) {
            off += v.stride(r);
            if (++idx[r] < v.extent(r)) break;
            off -= v.stride(r) * static_cast<std::ptrdiff_t>(v.extent(r));
            idx[r] = 0;
        }
    }
}

/// Calls f(row_index, pointer_to_row_start, element_stride) for each row of a matrix view.
template <class T, class F>
constexpr void for_each_row(const matrix_view<T>& v, F&& f) {
    for (std::size_t i = 0; i < v.extent(0); ++i)
        f(i, v.data_handle() + static_cast<std::ptrdiff_t>(i) * v.stride(0), v.stride(1));
}

}  // namespace nnprune

#endif  // NNPRUNE_CORE_TENSOR_VIEW_HPP
