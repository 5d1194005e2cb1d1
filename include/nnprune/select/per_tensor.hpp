#ifndef NNPRUNE_SELECT_PER_TENSOR_HPP
#define NNPRUNE_SELECT_PER_TENSOR_HPP

/// @file per_tensor.hpp
/// The whole tensor as one comparison group (torch l1_unstructured), split over threads.

#include <cstddef>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/tensor_ref.hpp"
#include "../masks/mask.hpp"
#include "group.hpp"
#include "groups.hpp"
#include "options.hpp"

namespace nnprune {

/**
 * @brief Prunes exactly k of the lowest scores of the whole tensor (k from the amount).
 * @throws shape_error (mask or previous mask shape), value_error (NaN under reject),
 *         precondition_error (sparsity outside [0, 1], exact count too large). Nothing is written then.
 */
inline selection select_mask(const tensor_ref& scores, per_tensor, const amount& a, mask_view out,
                             const select_options& o = {}) {
    constexpr std::string_view fn = "select_mask(per_tensor)";
    detail::check_out(scores, out, o.previous, fn);
    const std::size_t n = scores.size();
    const std::uint64_t* prev = o.previous.size() ? o.previous.words().data() : nullptr;
    const std::size_t n_comp = prev ? o.previous.count() : n;
    const std::size_t k = a.k_for(n_comp, o.round, fn);
    std::vector<detail::run> runs;
    detail::append_runs(scores, 0, n, prev, out.words().data(), 0, runs);
    const auto parts = detail::split_runs(runs, detail::parts_for(n, o.threads, std::size_t{1} << 18));
    select_workspace local;
    select_workspace& ws = o.workspace ? *o.workspace : local;
    const detail::error_context err{fn, o.name};
    return detail::with_type(scores.dtype(), nullptr, [&](auto tp) {
        using T = std::remove_const_t<std::remove_pointer_t<decltype(tp)>>;
        using K = detail::key_of_t<T>;
        const auto d = detail::select_group<K>(parts, n, n_comp, k, o.nans, ws, err, o.one_pass);
        selection sel;
        sel.pruned = n - d.kept;
        sel.kth.push_back(detail::reported_kth<T>(k, d.kth));
        return sel;
    });
}

}  // namespace nnprune

#endif  // NNPRUNE_SELECT_PER_TENSOR_HPP
