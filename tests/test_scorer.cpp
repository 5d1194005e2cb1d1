#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/scorers/magnitude.hpp>
#include <nnprune/scorers/scorer.hpp>
#include <nnprune/select/select.hpp>

using namespace nnprune;

TEST_CASE("score_tensor: keeps the weights' shape for select, matrix view for scorers", "[scorers][scorer]") {
    std::vector<double> conv(2 * 3 * 2 * 2, 1.0);
    layer l{"conv", tensor_view<double, 4>(conv.data(), 2, 3, 2, 2), {}, {}};
    const auto s = score(magnitude, l);
    REQUIRE(s.shape() == shape{2, 3, 2, 2});
    REQUIRE(s.ref().shape() == shape{2, 3, 2, 2});
    REQUIRE(s.ref().dtype() == dtype::f32);
    score_tensor v(shape{5});
    REQUIRE(v.matrix().extent(0) == 1);
    REQUIRE(v.matrix().extent(1) == 5);
}

TEST_CASE("check_finite: names the layer, the tensor and the first bad index", "[scorers][scorer]") {
    std::vector<float> w{1, 2, INFINITY, NAN};
    const matrix_view<const float> v(w.data(), 2, 2);
    REQUIRE_THROWS_WITH(detail::check_finite(v, "prune", "fc1", "weights"),
                        Catch::Contains("prune: layer 'fc1': weights has Inf at flat index 2"));
    w[2] = 0;
    REQUIRE_THROWS_WITH(detail::check_finite(v, "prune", "fc1", "weights"), Catch::Contains("has NaN at flat index 3"));
}

template <class T>
void check_finite_paths() {
    // contiguous (chunked scan) and strided (element by element) give the same first index
    for (std::size_t n : {1u, 7u, 2047u, 2048u, 2049u, 5000u})
        for (std::size_t at : {std::size_t{0}, n / 2, n - 1})
            for (bool nan : {false, true}) {
                std::vector<T> c(n, T(1.5f)), st(2 * n, T(1.5f));
                const T bad = T(nan ? NAN : -INFINITY);
                c[at] = bad;
                st[2 * at] = bad;
                if (at + 1 < n) {  // a later bad element of the other kind does not win
                    c[n - 1] = T(nan ? INFINITY : NAN);
                    st[2 * (n - 1)] = c[n - 1];
                }
                const std::string msg =
                    std::string("has ") + (nan ? "NaN" : "Inf") + " at flat index " + std::to_string(at);
                INFO("n " << n << " at " << at);
                REQUIRE_THROWS_WITH(detail::check_finite(vector_view<const T>(c.data(), n), "f", "l", "w"),
                                    Catch::Contains(msg));
                const tensor_view<const T, 1> sv(st.data(), {n}, {2});
                REQUIRE_THROWS_WITH(detail::check_finite(sv, "f", "l", "w"), Catch::Contains(msg));
                c[at] = T(0.0f);
                if (at + 1 < n) c[n - 1] = T(-3.0f);
                REQUIRE_NOTHROW(detail::check_finite(vector_view<const T>(c.data(), n), "f", "l", "w"));
            }
    // the largest finite values are finite
    T mx{}, lo{};
    if constexpr (std::is_same_v<T, bfloat16>) {
        mx = bfloat16::from_bits(0x7f7f);
        lo = bfloat16::from_bits(0xff7f);
    } else if constexpr (std::is_same_v<T, float16>) {
        mx = float16::from_bits(0x7bff);
        lo = float16::from_bits(0xfbff);
    } else {
        mx = std::numeric_limits<T>::max();
        lo = std::numeric_limits<T>::lowest();
    }
    std::vector<T> big{T(1.0f), mx, lo};
    REQUIRE_NOTHROW(detail::check_finite(vector_view<const T>(big.data(), big.size()), "f", "l", "w"));
}

TEST_CASE("check_finite: the contiguous scan finds the first bad element of every type", "[scorers][scorer]") {
    check_finite_paths<float>();
    check_finite_paths<double>();
    check_finite_paths<bfloat16>();
    check_finite_paths<float16>();
}

TEST_CASE("taylor + channels{sum}: Torch-Pruning's channel importance sum |w * g|", "[scorers][scorer]") {
    std::vector<float> w{1, -1, 2, 0.5f, 3, 1}, g{1, 1, -1, 4, 0.1f, 0.1f};  // rows: |wg| = {1,1,2}=4, {2,0.3,0.1}=2.4
    auto l = test_util::make_layer("fc", w, 2, 3);
    l.gradient = matrix_view<const float>(g.data(), 2, 3);
    const auto s = score(taylor, l);
    mask m(s.shape());
    select_mask(s.ref(), channels{0, aggregate::sum}, exactly{1}, m.view());
    REQUIRE(m.to_bytes() == std::vector<std::uint8_t>{1, 1, 1, 0, 0, 0});  // output channel 1 is removed
}
