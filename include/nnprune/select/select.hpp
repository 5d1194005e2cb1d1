#ifndef NNPRUNE_SELECT_SELECT_HPP
#define NNPRUNE_SELECT_SELECT_HPP

/// @file select.hpp
/// Exact selection: prune exactly k of the lowest scores in each comparison group and write a
/// bit-packed mask (true = kept). Ties: among equal scores the lower flat index is pruned first,
/// for every group kind and thread count. This header gathers the selection headers:
///  - options.hpp     amount, exactly, select_options, select_workspace, selection
///  - kth.hpp         the streaming exact k-th engine and kth_smallest()
///  - resident.hpp    radix select of cache-resident arrays (rows, column tiles, candidates)
///  - per_tensor.hpp  select_mask(..., per_tensor{}, ...)
///  - per_row.hpp     select_mask(..., per_row{} / per_column{}, ...)
///  - n_of_m.hpp      select_mask(..., keep_n_of_m<N, M>{} / n_of_m{...}, ...)
///  - structured.hpp  select_mask(..., blocks{...} / channels{...}, ...)
///  - global.hpp      select_global(...)
///  - global_stream.hpp  global_stream: select_global over tensors seen one at a time
///  - indices.hpp     kept_indices(), pruned_indices()

#include "../config.hpp"
#include "global.hpp"
#include "global_stream.hpp"
#include "groups.hpp"
#include "indices.hpp"
#include "kth.hpp"
#include "n_of_m.hpp"
#include "options.hpp"
#include "per_row.hpp"
#include "per_tensor.hpp"
#include "policy.hpp"
#include "resident.hpp"
#include "structured.hpp"

#endif  // NNPRUNE_SELECT_SELECT_HPP
