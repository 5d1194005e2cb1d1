// Second TU of the ODR check: see test_odr_a.cpp.
#include <vector>

#include <nnprune/nnprune.hpp>

std::size_t nnprune_odr_b(std::vector<float>& w) {
    nnprune::mask m(nnprune::shape{2, 4});
    nnprune::select_mask(nnprune::tensor_ref(nnprune::matrix_view<float>(w.data(), 2, 4)), nnprune::per_row{}, 0.5, m);
    nnprune::apply(nnprune::matrix_view<float>(w.data(), 2, 4), m);
    return m.count();
}
