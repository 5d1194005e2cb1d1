#ifndef NNPRUNE_NNPRUNE_HPP
#define NNPRUNE_NNPRUNE_HPP

/// @file nnprune.hpp
/// Umbrella header: everything except the adapters (<nnprune/adapters/...>), which need their
/// own dependencies, and the file formats (<nnprune/io.hpp>), which need nlohmann-json.

#include "config.hpp"

// core vocabulary: element types, shapes, views, layers, errors
#include "core/element.hpp"
#include "core/errors.hpp"
#include "core/layer.hpp"
#include "core/shape.hpp"
#include "core/tensor_ref.hpp"
#include "core/tensor_view.hpp"
#include "core/view_traits.hpp"

// masks and exact selection
#include "masks/apply.hpp"
#include "masks/mask.hpp"
#include "select/groups.hpp"
#include "select/policy.hpp"
#include "select/select.hpp"
#include "sparse/compressed.hpp"

// weight scorers, calibration statistics, allocation, schedules and the prune loop
#include "allocation/allocation.hpp"
#include "allocation/lamp_global.hpp"
#include "allocation/layer_filter.hpp"
#include "allocation/owl.hpp"
#include "calibration/dsnot_accumulator.hpp"
#include "calibration/flap_accumulator.hpp"
#include "calibration/gradient_accumulator.hpp"
#include "calibration/hessian_accumulator.hpp"
#include "calibration/wanda_accumulator.hpp"
#include "prune/prune.hpp"
#include "prune/pruner.hpp"
#include "prune/report.hpp"
#include "reconstruct/dsnot.hpp"
#include "reconstruct/reconstructor.hpp"
#include "reconstruct/sparsegpt.hpp"
#include "schedules/curves.hpp"
#include "schedules/imp.hpp"
#include "schedules/polynomial.hpp"
#include "schedules/schedule.hpp"
#include "scorers/flap.hpp"
#include "scorers/flap_structure.hpp"
#include "scorers/lamp.hpp"
#include "scorers/magnitude.hpp"
#include "scorers/precomputed.hpp"
#include "scorers/random.hpp"
#include "scorers/scorer.hpp"
#include "scorers/wanda.hpp"
#include "scorers/wanda_variant.hpp"

// token selection
#include "tokens/attention_scores.hpp"
#include "tokens/batch.hpp"
#include "tokens/cls_attention.hpp"
#include "tokens/divprune.hpp"
#include "tokens/dpp.hpp"
#include "tokens/features.hpp"
#include "tokens/gprune.hpp"
#include "tokens/h2o.hpp"
#include "tokens/hiprune.hpp"
#include "tokens/holov.hpp"
#include "tokens/hybrid.hpp"
#include "tokens/items.hpp"
#include "tokens/keep.hpp"
#include "tokens/pyramid_drop.hpp"
#include "tokens/rank.hpp"
#include "tokens/snapkv.hpp"
#include "tokens/think.hpp"
#include "tokens/tome.hpp"
#include "tokens/top_tokens.hpp"
#include "tokens/visionzip.hpp"

#endif  // NNPRUNE_NNPRUNE_HPP
