#ifndef NNPRUNE_SELECT_N_OF_M_HPP
#define NNPRUNE_SELECT_N_OF_M_HPP

/// @file n_of_m.hpp
/// N:M semi-structured selection: keep the n highest of every m consecutive scores along each
/// row. Each small group is ranked directly (rank of element i = lower keys + equal keys at lower
/// index; pruned when rank < k), rows in parallel.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/tensor_ref.hpp"
#include "../detail/parallel.hpp"
#include "../masks/mask.hpp"
#include "../simd/bits.hpp"
#include "../simd/n_of_m.hpp"
#include "group.hpp"
#include "groups.hpp"
#include "options.hpp"

namespace nnprune {

/**
 * @brief Keeps the n highest of every m consecutive scores along each row (prunes the m - n
 * lowest, lower index first among ties). Previously pruned elements stay pruned and count
 * towards the group's pruned elements.
 * @throws precondition_error when the row length is not a multiple of m and the tail policy is reject.
 */
inline selection select_mask(const tensor_ref& scores, const n_of_m& g, mask_view out, const select_options& o = {}) {
    constexpr std::string_view fn = "select_mask(n_of_m)";
    NNPRUNE_PRECONDITION(g.m > 0 && g.n <= g.m, detail::str(fn, ": need 0 < m and n <= m, got n=", g.n, " m=", g.m));
    const std::size_t rows = scores.shape().rows(), cols = scores.shape().cols();
    NNPRUNE_PRECONDITION(
        cols % g.m == 0 || g.tail != nm_tail::reject,
        detail::str(fn, ": rows of ", scores.shape(), " have ", cols, " elements, not a multiple of m=", g.m,
                    " (choose nm_tail::keep or nm_tail::pro_rata)"));
    detail::check_out(scores, out, o.previous, fn);
    select_workspace local;
    select_workspace& ws = o.workspace ? *o.workspace : local;
    const detail::staged_words dst(out, o.nans == nan_policy::reject, ws);
    const std::uint64_t* prev = o.previous.size() ? o.previous.words().data() : nullptr;
    const std::size_t tail_len = cols % g.m;
    const std::size_t tail_k =
        tail_len == 0 || g.tail == nm_tail::keep
            ? 0
            : count_to_prune(tail_len, static_cast<double>(g.m - g.n) / static_cast<double>(g.m));
    const unsigned parts = detail::parts_for(
        rows, o.threads, std::max<std::size_t>(1, (std::size_t{1} << 16) / std::max<std::size_t>(cols, 1)));
    std::vector<std::size_t> kept(parts, 0);
    const detail::error_context err{fn, o.name};
    detail::with_type(scores.dtype(), nullptr, [&](auto tp) {
        using T = std::remove_const_t<std::remove_pointer_t<decltype(tp)>>;
        using K = detail::key_of_t<T>;
        detail::parallel_for(rows, parts, [&](std::size_t rb, std::size_t re, unsigned part) {
            std::vector<K> key(g.m);
            std::vector<unsigned char> comp(g.m);
            std::vector<std::size_t> order(g.m);
            std::vector<detail::run> runs;
            for (std::size_t r = rb; r < re; ++r) {
                runs.clear();
                detail::append_runs(scores, r * cols, (r + 1) * cols, prev, dst.words(), 0, runs);
                simd::bit_writer w(dst.words(), r * cols);
                std::size_t c = 0, ri = 0, rj = 0;  // column, run index, index in run
                if constexpr (std::is_same_v<T, float>) {
                    // contiguous f32 row, no previous mask: the SIMD kernel does the whole groups
                    if (!prev && runs.size() == 1 && runs[0].stride == 1 && g.m <= 64 && cols >= g.m) {
                        const std::size_t full = cols - tail_len;
                        const std::size_t got =
                            simd::n_of_m_row(static_cast<const float*>(runs[0].p), full, g.m, g.m - g.n, o.nans, w);
                        if (got != simd::nan_found) {
                            kept[part] += got;
                            c = rj = full;
                        } else {
                            w = simd::bit_writer(dst.words(), r * cols);  // the generic loop reports the NaN
                        }
                    }
                }
                while (c < cols) {
                    const std::size_t len = std::min(g.m, cols - c);
                    const std::size_t k = len < g.m ? tail_k : g.m - g.n;
                    std::size_t already = 0, ncomp = 0;
                    for (std::size_t t = 0; t < len; ++t) {
                        const detail::run& rn = runs[ri];
                        const std::size_t b = rn.bit0 + rj;
                        comp[t] = !prev || ((prev[b >> 6] >> (b & 63)) & 1u);
                        if (comp[t]) {
                            detail::with_type(rn.type, rn.p, [&](auto p) {
                                const auto x = p[static_cast<std::ptrdiff_t>(rj) * rn.stride];
                                if (o.nans == nan_policy::reject && is_nan(x)) detail::throw_nan(err, 0, b);
                                key[t] = detail::key_as<K>(x, o.nans);
                            });
                            ++ncomp;
                        } else {
                            ++already;
                        }
                        if (++rj == rn.n) {
                            ++ri;
                            rj = 0;
                        }
                    }
                    const std::size_t kk = k > already ? std::min(k - already, ncomp) : 0;
                    std::uint64_t bits = 0;
                    if (len <= 16) {
                        for (std::size_t i = 0; i < len; ++i) {
                            if (!comp[i]) continue;
                            std::size_t rank = 0;
                            for (std::size_t j = 0; j < len; ++j)
                                rank += comp[j] && (key[j] < key[i] || (key[j] == key[i] && j < i));
                            bits |= static_cast<std::uint64_t>(rank >= kk) << i;
                        }
                        w.push(bits, static_cast<unsigned>(len));
                        kept[part] += static_cast<std::size_t>(std::popcount(bits));
                    } else {
                        std::size_t no = 0;
                        for (std::size_t i = 0; i < len; ++i)
                            if (comp[i]) order[no++] = i;
                        std::stable_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(no),
                                         [&](std::size_t x, std::size_t y) { return key[x] < key[y]; });
                        std::vector<unsigned char> keep(len, 0);
                        for (std::size_t t = kk; t < no; ++t) keep[order[t]] = 1;
                        for (std::size_t i = 0; i < len; ++i) {
                            w.push(keep[i], 1);
                            kept[part] += keep[i];
                        }
                    }
                    c += len;
                }
                w.finish();
            }
        });
    });
    dst.commit();
    selection sel;
    std::size_t kt = 0;
    for (auto x : kept) kt += x;
    sel.pruned = scores.size() - kt;
    return sel;
}

template <std::size_t N, std::size_t M>
selection select_mask(const tensor_ref& scores, keep_n_of_m<N, M> g, mask_view out, const select_options& o = {}) {
    return select_mask(scores, n_of_m{N, M, g.tail}, out, o);
}

}  // namespace nnprune

#endif  // NNPRUNE_SELECT_N_OF_M_HPP
