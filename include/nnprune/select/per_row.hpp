#ifndef NNPRUNE_SELECT_PER_ROW_HPP
#define NNPRUNE_SELECT_PER_ROW_HPP

/// @file per_row.hpp
/// Every row (Wanda) or every column of the matrix view as its own comparison group; groups run
/// in parallel, each on one thread with its own workspace. Bits are staged when a later group
/// may still throw (NaN under reject), so a failing call writes nothing.

#include <cstddef>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/tensor_ref.hpp"
#include "../detail/parallel.hpp"
#include "../masks/mask.hpp"
#include "../simd/bits.hpp"
#include "group.hpp"
#include "groups.hpp"
#include "options.hpp"

namespace nnprune::detail {

/// Shared body: groups g in [0, n_groups), runs_of(g, prev, out, runs) appends group g's runs,
/// comp_of(g) counts its competitors.
template <class RunsOf, class CompOf>
selection select_each(const tensor_ref& scores, std::size_t n_groups, std::size_t group_len, RunsOf runs_of,
                      CompOf comp_of, const amount& a, mask_view out, const select_options& o, std::string_view fn,
                      bool prefetch_rows = false) {
    check_out(scores, out, o.previous, fn);
    std::vector<std::size_t> ks(n_groups);
    for (std::size_t g = 0; g < n_groups; ++g) ks[g] = a.k_for(comp_of(g), o.round, fn);  // validate first
    select_workspace local;
    select_workspace& ws = o.workspace ? *o.workspace : local;
    const staged_words dst(out, o.nans == nan_policy::reject, ws);
    const std::uint64_t* prev = o.previous.size() ? o.previous.words().data() : nullptr;
    const unsigned parts = parts_for(n_groups, o.threads, std::max<std::size_t>(1, (std::size_t{1} << 16) / std::max<std::size_t>(group_len, 1)));
    for (unsigned p = 0; p < parts; ++p) (void)ws.part(p);  // create children before the threads start
    selection sel;
    sel.kth.resize(n_groups);
    std::vector<std::size_t> kept(parts, 0);
    const error_context err{fn, o.name};
    with_type(scores.dtype(), nullptr, [&](auto tp) {
        using T = std::remove_const_t<std::remove_pointer_t<decltype(tp)>>;
        using K = key_of_t<T>;
        parallel_for(n_groups, parts, [&](std::size_t b, std::size_t e, unsigned part) {
            select_workspace& w = ws.part(part);
            std::vector<std::vector<run>> one(1);
            const bool rows = prefetch_rows && scores.is_contiguous();
            for (std::size_t g = b; g < e; ++g) {
                if (rows && g + 1 < e) {  // the next row streams into cache while this one is selected
                    const auto* q = static_cast<const unsigned char*>(scores.data_handle()) + (g + 1) * group_len * sizeof(T);
                    for (std::size_t off = 0; off < group_len * sizeof(T); off += 64) __builtin_prefetch(q + off, 0, 3);
                }
                one[0].clear();
                runs_of(g, prev, dst.words(), one[0]);
                const auto d = select_group<K>(one, group_len, comp_of(g), ks[g], o.nans, w, err);
                kept[part] += d.kept;
                sel.kth[g] = reported_kth<T>(ks[g], d.kth);
            }
        });
    });
    dst.commit();
    std::size_t k_total = 0;
    for (auto c : kept) k_total += c;
    sel.pruned = scores.size() - k_total;
    return sel;
}

}  // namespace nnprune::detail

namespace nnprune {

/// Prunes exactly k of the lowest scores of every row (k from the amount and the row's competitors).
inline selection select_mask(const tensor_ref& scores, per_row, const amount& a, mask_view out,
                             const select_options& o = {}) {
    const std::size_t rows = scores.shape().rows(), cols = scores.shape().cols();
    const std::uint64_t* pw = o.previous.size() ? o.previous.words().data() : nullptr;
    return detail::select_each(
        scores, rows, cols,
        [&](std::size_t r, const std::uint64_t* prev, std::uint64_t* dst, std::vector<detail::run>& runs) {
            detail::append_runs(scores, r * cols, (r + 1) * cols, prev, dst, 0, runs);
        },
        [&](std::size_t r) { return pw ? simd::count_bits(pw, r * cols, (r + 1) * cols) : cols; }, a, out, o,
        "select_mask(per_row)", true);
}

/// Prunes exactly k of the lowest scores of every column.
inline selection select_mask(const tensor_ref& scores, per_column, const amount& a, mask_view out,
                             const select_options& o = {}) {
    const std::size_t rows = scores.shape().rows(), cols = scores.shape().cols();
    const std::uint64_t* pw = o.previous.size() ? o.previous.words().data() : nullptr;
    const std::ptrdiff_t row_stride = scores.rank() == 1 ? 0 : scores.stride(0);
    return detail::select_each(
        scores, cols, rows,
        [&](std::size_t c, const std::uint64_t* prev, std::uint64_t* dst, std::vector<detail::run>& runs) {
            if (rows == 0) return;
            runs.push_back({detail::element_at(scores, detail::offset_of(scores, c)), scores.dtype(), rows, row_stride, c,
                            cols, prev, dst, 0});
        },
        [&](std::size_t c) {
            if (!pw) return rows;
            std::size_t n = 0;
            for (std::size_t r = 0; r < rows; ++r) n += (pw[(r * cols + c) >> 6] >> ((r * cols + c) & 63)) & 1u;
            return n;
        },
        a, out, o, "select_mask(per_column)");
}

}  // namespace nnprune

#endif  // NNPRUNE_SELECT_PER_ROW_HPP
