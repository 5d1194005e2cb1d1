#include <vector>

#include <catch2/catch.hpp>

#include <nnprune/core/view_traits.hpp>
#include <nnprune/masks/apply.hpp>

namespace user {
/// A user's own tensor type, handed to nnprune through a view_traits specialization.
struct tensor {
    std::vector<float> data;
    std::size_t rows = 0, cols = 0;
};
}  // namespace user

template <>
struct nnprune::view_traits<user::tensor> {
    static nnprune::matrix_view<float> view(user::tensor& t) { return {t.data.data(), t.rows, t.cols}; }

    static nnprune::matrix_view<const float> view(const user::tensor& t) { return {t.data.data(), t.rows, t.cols}; }
};

TEST_CASE("view_traits: a user type becomes a view and a ref", "[core][view_traits]") {
    user::tensor t{{1, 2, 3, 4, 5, 6}, 2, 3};
    STATIC_REQUIRE(nnprune::viewable<user::tensor>);
    STATIC_REQUIRE(nnprune::viewable<const user::tensor&>);
    STATIC_REQUIRE_FALSE(nnprune::viewable<std::vector<float>>);  // only with <nnprune/adapters/span.hpp>
    const auto v = nnprune::as_view(t);
    STATIC_REQUIRE(std::is_same_v<decltype(v), const nnprune::matrix_view<float>>);
    REQUIRE(v(1, 2) == 6.0f);
    const user::tensor& ct = t;
    STATIC_REQUIRE(std::is_same_v<decltype(nnprune::as_view(ct)), nnprune::matrix_view<const float>>);
    REQUIRE(nnprune::as_ref(ct).readonly());
    const auto r = nnprune::as_ref(t);
    REQUIRE_FALSE(r.readonly());
    REQUIRE(r.shape() == nnprune::shape{2, 3});
    nnprune::mask m(r.shape());
    m.set(4, false);
    nnprune::apply(r, m);
    REQUIRE(t.data == std::vector<float>{1, 2, 3, 4, 0, 6});
    // a tensor_view is its own view
    const auto again = nnprune::as_view(v);
    REQUIRE(again.data_handle() == v.data_handle());
}
