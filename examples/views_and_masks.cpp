// Views over Eigen and xtensor tensors (contiguous and strided), one mask type for all of them.
// Prunes the 50% smallest-magnitude weights of each row of an Eigen block and of an xtensor
// strided view, applies the masks in place and prints what happened.
#include <cmath>
#include <cstdio>
#include <random>

#include <Eigen/Core>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include <nnprune/adapters/eigen.hpp>
#include <nnprune/adapters/xtensor.hpp>
#include <nnprune/nnprune.hpp>

namespace {

/// |w| as scores, row-major, in a plain vector (a scorer will do this later).
template <class V>
std::vector<float> magnitudes(const V& v) {
    std::vector<float> s(v.size());
    nnprune::for_each_indexed(v, [&](std::size_t i, auto x) { s[i] = std::fabs(nnprune::to_float(x)); });
    return s;
}

template <class V>
void report(const char* what, const V& v, const nnprune::mask& m) {
    double sum_abs = 0;
    nnprune::for_each_indexed(v, [&](std::size_t, auto x) { sum_abs += std::fabs(nnprune::to_double(x)); });
    std::printf("%-44s shape %-7s strides (%td, %td)  kept %zu/%zu (sparsity %.2f)  sum|w| after %.4f\n", what,
                v.shape().to_string().c_str(), v.stride(0), v.stride(1), m.count(), m.size(), m.sparsity(), sum_abs);
}

template <class V>
nnprune::mask prune_rows(const V& v) {
    const auto scores = magnitudes(v);
    nnprune::mask m(v.shape());
    nnprune::select_mask(
        nnprune::tensor_ref(nnprune::matrix_view<const float>(scores.data(), v.extent(0), v.extent(1))),
        nnprune::per_row{}, 0.5, m);
    nnprune::apply(v, m);
    return m;
}

}  // namespace

int main() {
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.0f, 1.0f);

    Eigen::MatrixXf e(8, 12);  // column-major
    for (Eigen::Index j = 0; j < e.cols(); ++j)
        for (Eigen::Index i = 0; i < e.rows(); ++i) e(i, j) = normal(rng);
    xt::xtensor<float, 2> x({8, 12});
    for (auto& w : x) w = normal(rng);

    const auto e_block = nnprune::as_view(e.block(2, 3, 4, 6));  // strided, column-major block
    const auto m1 = prune_rows(e_block);
    report("Eigen block(2,3,4,6) of a 8x12 MatrixXf", e_block, m1);

    const auto x_view = nnprune::as_view(xt::view(x, xt::range(0, 8, 2), xt::range(1, 12, 2)));  // every other
    const auto m2 = prune_rows(x_view);
    report("xtensor view(x, range(0,8,2), range(1,12,2))", x_view, m2);

    const auto whole = nnprune::as_view(e);
    const auto m3 = prune_rows(whole);
    report("Eigen 8x12 MatrixXf (whole)", whole, m3);

    // masks from different views combine and convert to byte masks
    const auto both = m1 & m2;
    std::printf("m1 & m2 keeps %zu of %zu; row 0 of m1 as bytes:", both.count(), both.size());
    const auto bytes = m1.to_bytes();
    for (std::size_t j = 0; j < 6; ++j) std::printf(" %d", bytes[j]);
    std::printf("\n");

    // the element types for 16-bit weights round to nearest even, exactly
    const nnprune::bfloat16 b(1.00390625f);  // halfway between 1 and 1 + 2^-7: ties to even -> 1
    std::printf("bfloat16(1.00390625f) = %g, float16(65520.f) = %g (overflow)\n", nnprune::to_double(b),
                nnprune::to_double(nnprune::float16(65520.0f)));

    const bool ok = m1.pruned() == 12 && m2.pruned() == 12 && m3.pruned() == 48 && nnprune::to_double(b) == 1.0;
    std::printf("%s\n", ok ? "views_and_masks: ok" : "views_and_masks: FAILED");
    return ok ? 0 : 1;
}
