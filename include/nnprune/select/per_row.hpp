#ifndef NNPRUNE_SELECT_PER_ROW_HPP
#define NNPRUNE_SELECT_PER_ROW_HPP

/// @file per_row.hpp
/// Every row (Wanda) or every column of the matrix view as its own comparison group; groups run
/// in parallel, each on one thread with its own workspace. Bits are staged when a later group
/// may still throw (NaN under reject), so a failing call writes nothing.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <limits>
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
#include "row_selector.hpp"

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
    const unsigned parts = parts_for(
        n_groups, o.threads, std::max<std::size_t>(1, (std::size_t{1} << 16) / std::max<std::size_t>(group_len, 1)));
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
                    const auto* q =
                        static_cast<const unsigned char*>(scores.data_handle()) + (g + 1) * group_len * sizeof(T);
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

/**
 * @brief per_column on a contiguous matrix without a previous mask: columns are selected in tiles
 * of 16 (their keys transposed into contiguous scratch, one cache line per row), each by
 * kth_resident; the tie rule becomes a row limit per column (equal keys in rows below it are
 * pruned), so the mask is then written row by row with contiguous bit runs, in parallel, without
 * atomics inside rows. Same result as the generic path.
 */
template <class T>
selection select_columns_tiled(const tensor_ref& scores, const std::vector<std::size_t>& ks, mask_view out,
                               const select_options& o, select_workspace& ws, const error_context& err) {
    using K = key_of_t<T>;
    constexpr std::size_t B = 16;
    const std::size_t rows = scores.shape().rows(), cols = scores.shape().cols();
    const T* base = static_cast<const T*>(scores.data_handle());
    const staged_words dst(out, o.nans == nan_policy::reject, ws);
    std::vector<K> kth(cols, K(0));
    std::vector<std::uint32_t> lim(cols, 0);  // rows < 2^32 (checked by the caller)
    selection sel;
    sel.kth.resize(cols);
    const std::size_t blocks = (cols + B - 1) / B;
    const unsigned parts = parts_for(blocks, o.threads, 1);
    for (unsigned p = 0; p < parts; ++p) (void)ws.part(p);
    parallel_for(blocks, parts, [&](std::size_t bb, std::size_t be, unsigned part) {
        select_workspace& w = ws.part(part);
        const std::size_t words = (rows + 16) * sizeof(K) / 8 + 1;
        K* tile = reinterpret_cast<K*>(w.scratch(2, words * B));
        K* b0 = reinterpret_cast<K*>(w.scratch(0, words));
        K* b1 = reinterpret_cast<K*>(w.scratch(1, words));
        for (std::size_t blk = bb; blk < be; ++blk) {
            const std::size_t c0 = blk * B, nc = std::min(B, cols - c0);
            std::size_t nans = 0;
            for (std::size_t r = 0; r < rows; ++r) {
                const T* q = base + r * cols + c0;
                for (std::size_t c = 0; c < nc; ++c) {
                    nans += is_nan_score(q[c]);
                    tile[c * words * 8 / sizeof(K) + r] = key_as<K>(q[c], o.nans);
                }
            }
            if (nans && o.nans == nan_policy::reject)
                for (std::size_t c = c0; c < c0 + nc; ++c)
                    for (std::size_t r = 0; r < rows; ++r)
                        if (is_nan_score(base[r * cols + c])) throw_nan(err, 0, r * cols + c);
            for (std::size_t c = 0; c < nc; ++c) {
                const std::size_t k = ks[c0 + c];
                sel.kth[c0 + c] = std::numeric_limits<double>::quiet_NaN();
                if (k == 0) continue;  // kth 0 with limit 0 prunes nothing
                const K* col = tile + c * words * 8 / sizeof(K);
                std::size_t eq = 0, nn = 0;
                const auto f = kth_resident<K>(col, rows, k, o.nans, b0, b1, eq, nn);
                const std::size_t ties = k - f.below;
                std::size_t l = rows;
                if (ties < eq) {  // the ties-th equal key (in row order) is the last one pruned
                    std::size_t seen = 0;
                    for (l = 0; seen < ties; ++l) seen += col[l] == f.key;
                }
                kth[c0 + c] = f.key;
                lim[c0 + c] = static_cast<std::uint32_t>(l);
                sel.kth[c0 + c] = reported_kth<T>(k, f.key);
            }
        }
    });
    const unsigned row_parts =
        parts_for(rows, o.threads, std::max<std::size_t>(1, (std::size_t{1} << 16) / std::max<std::size_t>(cols, 1)));
    std::vector<std::size_t> kept(row_parts, 0);
    parallel_for(rows, row_parts, [&](std::size_t rb, std::size_t re, unsigned part) {
        for (std::size_t r = rb; r < re; ++r) {
            simd::bit_writer w(dst.words(), r * cols);
            kept[part] += simd::write_kept_columns<K>(base + r * cols, cols, static_cast<std::uint32_t>(r), kth.data(),
                                                      lim.data(), o.nans, w);
            w.finish();
        }
    });
    dst.commit();
    std::size_t k_total = 0;
    for (auto c : kept) k_total += c;
    sel.pruned = scores.size() - k_total;
    return sel;
}

/// per_row on contiguous rows without a previous mask: each row by a row_selector (one read per
/// row, the next row prefetched meanwhile), its kept words pushed to the mask.
template <class T>
selection select_rows_classified(const tensor_ref& scores, const std::vector<std::size_t>& ks, mask_view out,
                                 const select_options& o, select_workspace& ws, const error_context& err) {
    const std::size_t rows = scores.shape().rows(), cols = scores.shape().cols();
    const T* base = static_cast<const T*>(scores.data_handle());
    const staged_words dst(out, o.nans == nan_policy::reject, ws);
    selection sel;
    sel.kth.resize(rows);
    const unsigned parts = row_parts(rows, cols, o.threads);
    for (unsigned p = 0; p < parts; ++p) (void)ws.part(p);
    parallel_for(rows, parts, [&](std::size_t rb, std::size_t re, unsigned part) {
        row_selector<T> rs(ws.part(part), cols);
        for (std::size_t r = rb; r < re; ++r) {
            const T* row = base + r * cols;
            const auto kth = rs.select(row, ks[r], o.nans, err, r * cols, r + 1 < re ? row + cols : nullptr);
            rs.write(dst.words(), r * cols);
            sel.kth[r] = reported_kth<T>(ks[r], kth);
        }
    });
    dst.commit();
    for (auto k : ks) sel.pruned += k;
    return sel;
}

}  // namespace nnprune::detail

namespace nnprune {

/// Prunes exactly k of the lowest scores of every row (k from the amount and the row's competitors).
inline selection select_mask(const tensor_ref& scores, per_row, const amount& a, mask_view out,
                             const select_options& o = {}) {
    const std::size_t rows = scores.shape().rows(), cols = scores.shape().cols();
    const std::uint64_t* pw = o.previous.size() ? o.previous.words().data() : nullptr;
    if (!pw && scores.is_contiguous() && rows > 0 && cols > 0) {
        constexpr std::string_view fn = "select_mask(per_row)";
        detail::check_out(scores, out, o.previous, fn);
        const std::vector<std::size_t> ks(rows, a.k_for(cols, o.round, fn));  // validate first
        select_workspace local;
        select_workspace& ws = o.workspace ? *o.workspace : local;
        return detail::with_type(scores.dtype(), nullptr, [&](auto tp) {
            using T = std::remove_const_t<std::remove_pointer_t<decltype(tp)>>;
            return detail::select_rows_classified<T>(scores, ks, out, o, ws, detail::error_context{fn, o.name});
        });
    }
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
    if (!pw && scores.is_contiguous() && rows > 0 && cols > 0 && rows < (std::size_t{1} << 32)) {
        constexpr std::string_view fn = "select_mask(per_column)";
        detail::check_out(scores, out, o.previous, fn);
        const std::vector<std::size_t> ks(cols, a.k_for(rows, o.round, fn));  // validate first
        select_workspace local;
        select_workspace& ws = o.workspace ? *o.workspace : local;
        return detail::with_type(scores.dtype(), nullptr, [&](auto tp) {
            using T = std::remove_const_t<std::remove_pointer_t<decltype(tp)>>;
            return detail::select_columns_tiled<T>(scores, ks, out, o, ws, detail::error_context{fn, o.name});
        });
    }
    return detail::select_each(
        scores, cols, rows,
        [&](std::size_t c, const std::uint64_t* prev, std::uint64_t* dst, std::vector<detail::run>& runs) {
            if (rows == 0) return;
            runs.push_back({detail::element_at(scores, detail::offset_of(scores, c)), scores.dtype(), rows, row_stride,
                            c, cols, prev, dst, 0});
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
