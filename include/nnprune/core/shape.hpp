#ifndef NNPRUNE_CORE_SHAPE_HPP
#define NNPRUNE_CORE_SHAPE_HPP

/// @file shape.hpp
/// A tensor shape of rank 1 to 4 with 64-bit extents; prints as "4096x11008".

#include <array>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <ostream>
#include <string>

#include "../config.hpp"
#include "errors.hpp"

namespace nnprune {

/// Largest rank a view, mask or shape may have.
inline constexpr std::size_t max_rank = 4;

class shape {
public:
    constexpr shape() noexcept = default;

    /// @throws precondition_error when the rank is not 1..4 or the element count overflows 64 bits.
    shape(std::initializer_list<std::size_t> extents) { assign(extents.begin(), extents.size()); }

    shape(const std::size_t* extents, std::size_t rank) { assign(extents, rank); }

    template <std::size_t Rank>
    explicit shape(const std::array<std::size_t, Rank>& extents) {
        assign(extents.data(), Rank);
    }

    [[nodiscard]] constexpr std::size_t rank() const noexcept { return m_rank; }

    [[nodiscard]] constexpr std::size_t extent(std::size_t r) const noexcept { return m_ext[r]; }

    [[nodiscard]] constexpr std::size_t operator[](std::size_t r) const noexcept { return m_ext[r]; }

    [[nodiscard]] constexpr const std::size_t* data() const noexcept { return m_ext.data(); }

    /// Number of elements (0 for the default, rank-0 "no shape").
    [[nodiscard]] constexpr std::size_t numel() const noexcept {
        if (m_rank == 0) return 0;
        std::size_t n = 1;
        for (std::size_t r = 0; r < m_rank; ++r) n *= m_ext[r];
        return n;
    }

    /// Rows of the matrix interpretation: extent 0 (1 for a vector).
    [[nodiscard]] constexpr std::size_t rows() const noexcept { return m_rank == 0 ? 0 : m_rank == 1 ? 1 : m_ext[0]; }

    /// Columns of the matrix interpretation: the product of the extents after the first.
    [[nodiscard]] constexpr std::size_t cols() const noexcept {
        if (m_rank == 0) return 0;
        if (m_rank == 1) return m_ext[0];
        std::size_t n = 1;
        for (std::size_t r = 1; r < m_rank; ++r) n *= m_ext[r];
        return n;
    }

    friend constexpr bool operator==(const shape& a, const shape& b) noexcept {
        if (a.m_rank != b.m_rank) return false;
        for (std::size_t r = 0; r < a.m_rank; ++r)
            if (a.m_ext[r] != b.m_ext[r]) return false;
        return true;
    }

    /// "4096x11008"; "()" for the default shape.
    [[nodiscard]] std::string to_string() const {
        if (m_rank == 0) return "()";
        std::string s;
        for (std::size_t r = 0; r < m_rank; ++r) {
            if (r) s += 'x';
            s += std::to_string(m_ext[r]);
        }
        return s;
    }

    friend std::ostream& operator<<(std::ostream& os, const shape& s) { return os << s.to_string(); }

private:
    void assign(const std::size_t* extents, std::size_t rank) {
        NNPRUNE_PRECONDITION(rank >= 1 && rank <= max_rank,
                             detail::str("shape: rank must be 1..", max_rank, ", got ", rank));
        std::size_t n = 1;
        for (std::size_t r = 0; r < rank; ++r) {
            NNPRUNE_PRECONDITION(extents[r] == 0 || n <= std::numeric_limits<std::size_t>::max() / extents[r],
                                 "shape: element count overflows 64 bits");
            n *= extents[r];
            m_ext[r] = extents[r];
        }
        m_rank = rank;
    }

    std::array<std::size_t, max_rank> m_ext{};
    std::size_t m_rank = 0;
};

}  // namespace nnprune

#endif  // NNPRUNE_CORE_SHAPE_HPP
