#ifndef NNPRUNE_ADAPTERS_TORCH_HPP
#define NNPRUNE_ADAPTERS_TORCH_HPP

/// @file torch.hpp
/// libtorch tensors as nnprune views, with no copy: torch_ref() (read-only) and
/// torch_mutable_ref() (writes go straight into the tensor's storage), and view_traits so that
/// as_ref(t) works as for the Eigen and xtensor adapters (a const Tensor& gives a read-only ref).
/// Accepted: defined CPU tensors with the strided layout, f32/f64/bf16/f16, rank 1..4, any
/// strides (transposed, sliced, as_strided). Anything else is a precondition_error that names the
/// reason, and the tensor is not touched.
/// Masks convert to and from torch: to_torch() gives a bool tensor of the weight's shape (true =
/// kept) and mask_from_torch() reads a bool mask or a 0/1 mask of any dtype (torch.nn.utils.prune
/// keeps its weight_mask as float).
/// nnprune's writes do not bump torch's version counter (autograd's check for tensors modified
/// after a forward): prune between optimizer steps, not between a forward and its backward.
/// Not in the umbrella header: include it yourself, with libtorch on the include path.
///
/// @code
/// torch::Tensor w = torch::randn({4096, 11008});
/// {
///     torch::NoGradGuard no_grad;  // needed only when w requires grad
///     nnprune::layer l{"fc", nnprune::torch_mutable_ref(w), {}, {}};
///     nnprune::prune(std::vector{l}, nnprune::magnitude, nnprune::per_row{}, 0.5, {.apply = true});
/// }
/// @endcode

#include <ATen/ATen.h>
#include <algorithm>
#include <array>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/shape.hpp"
#include "../core/tensor_ref.hpp"
#include "../core/tensor_view.hpp"
#include "../core/view_traits.hpp"
#include "../masks/mask.hpp"

namespace nnprune {

static_assert(sizeof(c10::BFloat16) == sizeof(bfloat16) && alignof(c10::BFloat16) == alignof(bfloat16),
              "c10::BFloat16 must have nnprune::bfloat16's layout (one 16-bit word)");
static_assert(sizeof(c10::Half) == sizeof(float16) && alignof(c10::Half) == alignof(float16),
              "c10::Half must have nnprune::float16's layout (one 16-bit word)");

namespace detail {

/// Why nnprune cannot view t ("" when it can), checked before anything is read or written.
inline std::string torch_unviewable(const at::Tensor& t) {
    if (!t.defined()) return "the tensor is undefined";
    if (!t.device().is_cpu())
        return str("the tensor is on device ", t.device().str(), " (nnprune views CPU memory: call .cpu())");
    if (t.is_quantized()) return "the tensor is quantized (dequantize it first)";
    if (t.layout() != at::kStrided)
        return str("the tensor has layout ", t.layout(), ", not strided (call .to_dense())");
    if (!t.has_storage()) return "the tensor has no storage";
    if (t.is_neg() || t.is_conj()) return "the tensor is a lazy negated or conjugated view (call .resolve_neg())";
    switch (t.scalar_type()) {
        case at::kFloat:
        case at::kDouble:
        case at::kBFloat16:
        case at::kHalf:
            break;
        default:
            return str("its dtype is ", t.scalar_type(), " (nnprune views Float, Double, BFloat16 and Half)");
    }
    if (t.dim() < 1 || t.dim() > static_cast<std::int64_t>(max_rank))
        return str("its rank is ", t.dim(), " (nnprune views rank 1..", max_rank, ")");
    return {};
}

/// Whether two index tuples of t can reach one element (a write would then hit it twice):
/// sorted by stride, each non-unit dimension must step past everything the smaller ones span.
inline bool torch_overlaps(const at::Tensor& t) {
    std::vector<std::pair<std::int64_t, std::int64_t>> dims;  // (stride, extent) of non-unit dims
    for (std::int64_t r = 0; r < t.dim(); ++r) {
        if (t.size(r) == 0) return false;
        if (t.size(r) > 1) dims.emplace_back(t.stride(r), t.size(r));
    }
    std::sort(dims.begin(), dims.end());
    std::int64_t span = 0;  // largest offset reached by the dimensions so far
    for (const auto& [stride, extent] : dims) {
        if (stride <= span) return true;
        span += stride * (extent - 1);
    }
    return false;
}

template <class T>
tensor_ref torch_typed_ref(const at::Tensor& t) {
    std::array<std::size_t, max_rank> e{};
    std::array<std::ptrdiff_t, max_rank> s{};
    const auto rank = static_cast<std::size_t>(t.dim());
    for (std::size_t r = 0; r < rank; ++r) {
        e[r] = static_cast<std::size_t>(t.size(static_cast<std::int64_t>(r)));
        s[r] = static_cast<std::ptrdiff_t>(t.stride(static_cast<std::int64_t>(r)));
    }
    T* p = static_cast<T*>(t.data_ptr());
    switch (rank) {
        case 1:
            return tensor_view<T, 1>(p, {e[0]}, {s[0]});
        case 2:
            return tensor_view<T, 2>(p, {e[0], e[1]}, {s[0], s[1]});
        case 3:
            return tensor_view<T, 3>(p, {e[0], e[1], e[2]}, {s[0], s[1], s[2]});
        default:
            return tensor_view<T, 4>(p, {e[0], e[1], e[2], e[3]}, {s[0], s[1], s[2], s[3]});
    }
}

template <bool Mutable>
tensor_ref torch_ref_impl(const at::Tensor& t, const char* fn) {
    const std::string why = torch_unviewable(t);
    NNPRUNE_PRECONDITION(why.empty(), str(fn, ": cannot view this tensor: ", why));
    if constexpr (Mutable) {
        NNPRUNE_PRECONDITION(!(t.requires_grad() && c10::GradMode::is_enabled()),
                             str(fn,
                                 ": the tensor requires grad and grad mode is on: make writable views under "
                                 "torch::NoGradGuard (or view it read-only with torch_ref)"));
        NNPRUNE_PRECONDITION(!t.is_inference() || c10::InferenceMode::is_enabled(),
                             str(fn, ": the tensor is an inference tensor and inference mode is off"));
        NNPRUNE_PRECONDITION(!torch_overlaps(t),
                             str(fn, ": elements of this tensor share memory (strides ", t.strides(), " for sizes ",
                                 t.sizes(), "): a write would hit them twice"));
    }
    auto typed = [&](auto tag) {
        using T = std::conditional_t<Mutable, decltype(tag), const decltype(tag)>;
        return torch_typed_ref<T>(t);
    };
    switch (t.scalar_type()) {
        case at::kDouble:
            return typed(double{});
        case at::kBFloat16:
            return typed(bfloat16{});
        case at::kHalf:
            return typed(float16{});
        default:
            return typed(float{});
    }
}

}  // namespace detail

/// A read-only view of t's elements (no copy); valid while t's storage lives and is not resized.
/// @throws precondition_error, naming the reason, for tensors nnprune cannot view (see @file).
[[nodiscard]] inline tensor_ref torch_ref(const at::Tensor& t) { return detail::torch_ref_impl<false>(t, "torch_ref"); }

/**
 * @brief A writable view of t's elements: nnprune's writes (apply, pruner) go into t's storage.
 * @throws precondition_error, beyond torch_ref's reasons, when t requires grad while grad mode
 *         is on (make the view under torch::NoGradGuard, as torch's own in-place pruning runs
 *         under torch.no_grad()), when t is an inference tensor outside inference mode, and when
 *         elements share memory (expanded tensors).
 */
[[nodiscard]] inline tensor_ref torch_mutable_ref(const at::Tensor& t) {
    return detail::torch_ref_impl<true>(t, "torch_mutable_ref");
}

/// A typed view (T const: read-only). @throws what torch_ref / torch_mutable_ref and
/// tensor_ref::as throw (a dtype or rank other than T's and Rank).
template <class T, std::size_t Rank>
[[nodiscard]] tensor_view<T, Rank> torch_view(const at::Tensor& t) {
    if constexpr (std::is_const_v<T>)
        return torch_ref(t).as<T, Rank>();
    else
        return torch_mutable_ref(t).as<T, Rank>();
}

/// torch::Tensor as a viewable type: as_ref(t) is torch_mutable_ref(t), as_ref(std::as_const(t))
/// torch_ref(t) (a Tensor is a handle: constness of the handle stands for the elements').
template <>
struct view_traits<at::Tensor> {
    static tensor_ref view(at::Tensor& t) { return torch_mutable_ref(t); }

    static tensor_ref view(const at::Tensor& t) { return torch_ref(t); }
};

/// The mask as a contiguous bool tensor of its shape (true = kept).
[[nodiscard]] inline at::Tensor to_torch(const_mask_view m) {
    std::vector<std::int64_t> sizes;
    for (std::size_t r = 0; r < m.shape().rank(); ++r) sizes.push_back(static_cast<std::int64_t>(m.shape()[r]));
    at::Tensor out = at::empty(sizes, at::TensorOptions().dtype(at::kBool));
    m.to_bytes(std::span<bool>(out.data_ptr<bool>(), m.size()));
    return out;
}

/**
 * @brief A mask from a torch mask of any strides: bool (true = kept), or 0/1 values of another
 * dtype (e.g. torch.nn.utils.prune's float weight_mask).
 * @throws precondition_error for a tensor torch_ref could not view by its device or layout, a
 *         rank outside 1..4; value_error when a non-bool mask holds a value other than 0 and 1.
 */
[[nodiscard]] inline mask mask_from_torch(const at::Tensor& m) {
    constexpr const char* fn = "mask_from_torch";
    NNPRUNE_PRECONDITION(m.defined() && m.device().is_cpu() && m.layout() == at::kStrided && !m.is_quantized(),
                         detail::str(fn, ": the mask must be a defined, dense CPU tensor"));
    NNPRUNE_PRECONDITION(m.dim() >= 1 && m.dim() <= static_cast<std::int64_t>(max_rank),
                         detail::str(fn, ": the mask's rank is ", m.dim(), " (1..", max_rank, ")"));
    at::Tensor b = m;
    if (m.scalar_type() != at::kBool) {
        NNPRUNE_CHECK(m.numel() == 0 || at::logical_or(m == 0, m == 1).all().item<bool>(), value_error,
                      detail::str(fn, ": a ", m.scalar_type(), " mask must hold only 0 and 1"));
        b = m != 0;
    }
    b = b.contiguous();
    std::array<std::size_t, max_rank> ext{};
    for (std::int64_t r = 0; r < m.dim(); ++r) ext[static_cast<std::size_t>(r)] = static_cast<std::size_t>(m.size(r));
    const nnprune::shape s(ext.data(), static_cast<std::size_t>(m.dim()));
    return mask::from_bytes(std::span<const bool>(b.data_ptr<bool>(), s.numel()), s);
}

}  // namespace nnprune

#endif  // NNPRUNE_ADAPTERS_TORCH_HPP
