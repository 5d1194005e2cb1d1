#ifndef NNPRUNE_TESTS_VIEW_CHECKS_HPP
#define NNPRUNE_TESTS_VIEW_CHECKS_HPP

// Shared by the adapter tests: a view of foreign (possibly strided) memory must behave exactly
// like a view of a contiguous copy of the same elements.

#include <cstddef>
#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/nnprune.hpp>

namespace nnprune_test {

/// Values in row-major flat order, through for_each_indexed.
template <class V>
std::vector<double> flat_values(const V& v) {
    std::vector<double> out;
    nnprune::for_each_indexed(v, [&](std::size_t i, auto x) {
        REQUIRE(i == out.size());
        out.push_back(nnprune::to_double(x));
    });
    return out;
}

/// Compares a view `v` of foreign memory against a contiguous copy: flat order, per-row
/// reference selection, and apply(); afterwards the foreign elements equal the masked copy.
template <class T, std::size_t Rank>
void check_same_as_contiguous_copy(const nnprune::tensor_view<T, Rank>& v) {
    using U = std::remove_cv_t<T>;
    const auto vals = flat_values(v);
    REQUIRE(vals.size() == v.size());
    std::vector<U> copy(v.size());
    for (std::size_t i = 0; i < copy.size(); ++i) copy[i] = nnprune::from_double<U>(vals[i]);
    const nnprune::tensor_view<U, Rank> c(copy.data(), v.extents());
    REQUIRE(c.is_contiguous());
    REQUIRE(flat_values(c) == vals);
    for (std::size_t i = 0; i < v.size(); i += 7) REQUIRE(nnprune::to_double(v.flat(i)) == vals[i]);

    nnprune::mask mv(v.shape()), mc(c.shape());
    const auto sv = nnprune::select_mask(nnprune::tensor_ref(v), nnprune::per_row{}, 0.5, mv);
    const auto sc = nnprune::select_mask(nnprune::tensor_ref(c), nnprune::per_row{}, 0.5, mc);
    REQUIRE(mv == mc);
    REQUIRE(sv.pruned == sc.pruned);
    REQUIRE(sv.pruned > 0);

    if constexpr (!std::is_const_v<T>) {
        nnprune::apply(v, mv);
        nnprune::apply(c, mc);
        REQUIRE(flat_values(v) == flat_values(c));
        for (std::size_t i = 0; i < v.size(); ++i)
            REQUIRE((nnprune::to_double(v.flat(i)) == 0.0) == (!mc.test(i) || vals[i] == 0.0));
    }
}

}  // namespace nnprune_test

#endif
