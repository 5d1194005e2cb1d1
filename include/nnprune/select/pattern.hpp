#ifndef NNPRUNE_SELECT_PATTERN_HPP
#define NNPRUNE_SELECT_PATTERN_HPP

/// @file pattern.hpp
/// What the prune loop (prune(), pruner) needs from a pattern, so that a user's pattern works
/// like the built-in ones:
///  - selection by overload, found by argument-dependent lookup:
///      selection select_mask(const tensor_ref& scores, const P&, const amount&, mask_view, const select_options&)
///    for patterns that take an amount per layer (a ratio or an exact count per comparison group),
///    or select_mask(scores, const P&, mask_view, const select_options&) for those that fix it
///    themselves (N:M);
///  - pattern_traits<P>: row_group (rows one comparison group spans when the groups lie within
///    consecutive rows, 0 otherwise), group_elements(p, shape) (elements per comparison group,
///    what pruner converts a target sparsity with), and check(p, shape, layer) (throws when the
///    pattern cannot apply to a weight shape; prune() calls it before acquiring any layer), and
///    throws_only_on_nan (its select_mask, given a valid shape and amount, throws nothing but a
///    NaN score under nan_policy::reject: prune() may then zero layers while later ones are still
///    selected; default false: masks first, then a separate apply pass).
///    The primary template reads them from P's members when present: `static constexpr
///    std::size_t row_group`, `std::size_t group_elements(const shape&) const` and
///    `void check(const shape&, std::string_view layer) const`.

#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../core/shape.hpp"
#include "../core/tensor_ref.hpp"
#include "../masks/mask.hpp"
#include "groups.hpp"
#include "n_of_m.hpp"
#include "options.hpp"
#include "per_row.hpp"
#include "per_tensor.hpp"
#include "structured.hpp"

namespace nnprune {

/// A pattern whose select_mask takes an amount per layer.
template <class P>
concept amount_pattern = requires(const tensor_ref& r, const P& p, const amount& a, mask_view m, const select_options& o) {
    { select_mask(r, p, a, m, o) } -> std::convertible_to<selection>;
};

/// A pattern that fixes its own amount (N:M).
template <class P>
concept fixed_pattern = requires(const tensor_ref& r, const P& p, mask_view m, const select_options& o) {
    { select_mask(r, p, m, o) } -> std::convertible_to<selection>;
};

template <class P>
concept pattern = amount_pattern<P> || fixed_pattern<P>;

template <class P>
struct pattern_traits {
    static constexpr bool throws_only_on_nan = false;
    static constexpr std::size_t row_group = [] {
        if constexpr (requires { P::row_group; }) return static_cast<std::size_t>(P::row_group);
        else return std::size_t{0};
    }();
    static constexpr bool has_groups = requires(const P& p, const nnprune::shape& s) {
        { p.group_elements(s) } -> std::convertible_to<std::size_t>;
    };
    static std::size_t group_elements(const P& p, const nnprune::shape& s)
        requires has_groups
    {
        return p.group_elements(s);
    }
    static void check(const P& p, const nnprune::shape& s, std::string_view layer) {
        if constexpr (requires { p.check(s, layer); }) p.check(s, layer);
    }
};

namespace detail {
struct whole_tensor_groups {
    static constexpr bool throws_only_on_nan = true;
    static constexpr std::size_t row_group = 0;
    static constexpr bool has_groups = true;
    template <class P>
    static std::size_t group_elements(const P&, const nnprune::shape& s) {
        return s.numel();
    }
    template <class P>
    static void check(const P&, const nnprune::shape&, std::string_view) {}
};
template <class P>
struct n_of_m_groups {
    static constexpr bool throws_only_on_nan = true;
    static constexpr std::size_t row_group = 1;
    static constexpr bool has_groups = true;
    static std::size_t m_of(const P& p) {
        return p.m;  // keep_n_of_m's is static
    }
    static std::size_t group_elements(const P& p, const nnprune::shape&) { return m_of(p); }
    static void check(const P& p, const nnprune::shape& s, std::string_view layer) {
        const std::size_t m = m_of(p), cols = s.cols();
        NNPRUNE_PRECONDITION(m > 0 && (cols % m == 0 || p.tail != nm_tail::reject),
                             detail::str("prune: layer '", layer, "': N:M groups of m=", m, " along rows of ", cols,
                                         " elements (weights ", s, "): not a multiple of m"));
    }
};
}  // namespace detail

template <>
struct pattern_traits<per_tensor> : detail::whole_tensor_groups {};
template <>
struct pattern_traits<per_row> : detail::whole_tensor_groups {
    static constexpr std::size_t row_group = 1;
    static std::size_t group_elements(const per_row&, const nnprune::shape& s) { return s.cols(); }
};
template <>
struct pattern_traits<per_column> : detail::whole_tensor_groups {
    static std::size_t group_elements(const per_column&, const nnprune::shape& s) { return s.rows(); }
};
/// blocks and channels prune whole units; their comparison group is the tensor's units.
template <>
struct pattern_traits<blocks> : detail::whole_tensor_groups {
    static constexpr bool has_groups = false;
};
template <>
struct pattern_traits<channels> : detail::whole_tensor_groups {
    static constexpr bool has_groups = false;
};
template <>
struct pattern_traits<n_of_m> : detail::n_of_m_groups<n_of_m> {};
template <std::size_t N, std::size_t M>
struct pattern_traits<keep_n_of_m<N, M>> : detail::n_of_m_groups<keep_n_of_m<N, M>> {};

static_assert(amount_pattern<per_tensor> && amount_pattern<per_row> && amount_pattern<blocks>);
static_assert(fixed_pattern<n_of_m> && fixed_pattern<keep_n_of_m<2, 4>>);

}  // namespace nnprune

#endif  // NNPRUNE_SELECT_PATTERN_HPP
