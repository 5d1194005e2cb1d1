#ifndef NNPRUNE_SELECT_GROUPS_HPP
#define NNPRUNE_SELECT_GROUPS_HPP

/// @file groups.hpp
/// Comparison groups: the sets of scores inside which exactly k are pruned. Tag types pick the
/// overload at compile time and read as a sentence at the call site:
///   nnprune::select_mask(scores, nnprune::per_row{}, 0.5, mask);
///   nnprune::select_mask(scores, nnprune::keep_n_of_m<2, 4>{}, mask);
/// A tensor of rank > 2 is seen as a matrix [extent 0, product of the rest] (see shape::rows/cols).

#include <cstddef>
#include <cstdint>

#include "../config.hpp"

namespace nnprune {

/// The whole tensor is one group (torch l1_unstructured).
struct per_tensor {};

/// Each row (output neuron) is a group (Wanda).
struct per_row {};

/// Each column (input feature) is a group.
struct per_column {};

/// What to do with the last short group when the row length is not a multiple of M.
enum class nm_tail : std::uint8_t {
    reject,    ///< error (the default): the caller must decide
    keep,      ///< the short tail group is kept whole
    pro_rata,  ///< prune round_half_even(len * (M - N) / M) of the tail's len elements
};

/// Keep N of every M consecutive elements along a row (the input dimension). N:M names what is
/// KEPT: keep_n_of_m<2, 4> is NVIDIA's 2:4 (Wanda's "2:4" prunes 2 of 4: the same only when N = M/2).
template <std::size_t N, std::size_t M>
struct keep_n_of_m {
    static_assert(M > 0 && N <= M, "keep_n_of_m<N, M>: need N <= M (e.g. keep_n_of_m<2, 4>)");
    static constexpr std::size_t n = N, m = M;
    nm_tail tail = nm_tail::reject;
};

/// keep_n_of_m with N and M chosen at run time (command lines, configs).
struct n_of_m {
    std::size_t n = 2, m = 4;
    nm_tail tail = nm_tail::reject;
};

/// How a block or channel of scores becomes one score.
enum class aggregate : std::uint8_t { sum, mean, max, l1, l2 };

/// rows x cols blocks tile the matrix (edge blocks may be smaller); each block is scored by an
/// aggregate and blocks are pruned whole, exactly k of them over the tensor.
struct blocks {
    std::size_t rows = 1, cols = 1;
    aggregate by = aggregate::l2;
};

/// Whole rows (output channels, axis 0) or whole columns (input channels, axis 1) scored by an
/// aggregate and pruned whole.
struct channels {
    std::size_t axis = 0;
    aggregate by = aggregate::l2;
};

}  // namespace nnprune

#endif  // NNPRUNE_SELECT_GROUPS_HPP
