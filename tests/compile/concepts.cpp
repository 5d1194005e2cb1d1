// Compile-only: models and non-models of nnprune's concepts (mdspan compilation_tests, Eigen failtest).
#include <array>
#include <complex>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include <nnprune/adapters/eigen.hpp>
#include <nnprune/adapters/span.hpp>
#include <nnprune/adapters/xtensor.hpp>
#include <nnprune/nnprune.hpp>

namespace {

using namespace nnprune;

// element: the four element types, cv-qualified too
static_assert(element<float>);
static_assert(element<double>);
static_assert(element<bfloat16>);
static_assert(element<float16>);
static_assert(element<const float>);
static_assert(element<volatile double>);
static_assert(!element<int>);
static_assert(!element<long double>);
static_assert(!element<std::uint16_t>);
static_assert(!element<float&>);
static_assert(!element<float*>);
static_assert(!element<std::complex<float>>);
static_assert(!element<Eigen::bfloat16>);  // only through the Eigen adapter's mapping
static_assert(!element<void>);

// viewable: types with a view_traits specialization
static_assert(viewable<tensor_view<float, 2>>);
static_assert(viewable<const tensor_view<const double, 4>&>);
static_assert(viewable<std::vector<float>>);
static_assert(viewable<const std::vector<bfloat16>>);
static_assert(viewable<std::span<float16>>);
static_assert(viewable<std::array<double, 3>>);
static_assert(viewable<Eigen::MatrixXf>);
static_assert(viewable<Eigen::Matrix<Eigen::half, 4, 4>>);
static_assert(viewable<Eigen::Map<const Eigen::MatrixXd>>);
static_assert(viewable<xt::xtensor<float, 3>>);
static_assert(viewable<xt::xarray<double>>);
static_assert(!viewable<int>);
static_assert(!viewable<std::vector<int>>);
static_assert(!viewable<std::string>);
static_assert(!viewable<tensor_ref>);  // already type-erased: pass it directly
static_assert(!viewable<Eigen::MatrixXi>);
static_assert(!viewable<xt::xtensor<std::int32_t, 2>>);

// the views' types
static_assert(std::is_same_v<decltype(as_view(std::declval<std::vector<float>&>())), vector_view<float>>);
static_assert(std::is_same_v<decltype(as_view(std::declval<const Eigen::MatrixXf&>())), matrix_view<const float>>);
static_assert(std::is_same_v<decltype(as_view(std::declval<xt::xtensor<double, 3>&>())), tensor_view<double, 3>>);
static_assert(std::is_same_v<decltype(as_view(std::declval<xt::xarray<double>&>())), tensor_ref>);

// views convert to const, never back
static_assert(std::is_convertible_v<tensor_view<float, 2>, tensor_view<const float, 2>>);
static_assert(!std::is_convertible_v<tensor_view<const float, 2>, tensor_view<float, 2>>);
static_assert(!std::is_convertible_v<tensor_view<float, 2>, tensor_view<double, 2>>);
static_assert(std::is_convertible_v<mask_view, const_mask_view>);
static_assert(!std::is_convertible_v<const_mask_view, mask_view>);

// storage types are 2 trivially copyable bytes
static_assert(sizeof(bfloat16) == 2 && std::is_trivially_copyable_v<bfloat16>);
static_assert(sizeof(float16) == 2 && std::is_trivially_copyable_v<float16>);

// the version macro agrees with its parts
static_assert(NNPRUNE_VERSION == NNPRUNE_VERSION_MAJOR * 10000 + NNPRUNE_VERSION_MINOR * 100 + NNPRUNE_VERSION_PATCH);

}  // namespace
