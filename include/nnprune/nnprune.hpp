#ifndef NNPRUNE_NNPRUNE_HPP
#define NNPRUNE_NNPRUNE_HPP

/// @file nnprune.hpp
/// Umbrella header: everything except the adapters (<nnprune/adapters/...>), which need their
/// own dependencies, and the file formats (<nnprune/io/...>), which need nlohmann-json.

#include "config.hpp"
#include "core/element.hpp"
#include "core/errors.hpp"
#include "core/layer.hpp"
#include "core/shape.hpp"
#include "core/tensor_ref.hpp"
#include "core/tensor_view.hpp"
#include "core/view_traits.hpp"
#include "masks/apply.hpp"
#include "masks/mask.hpp"
#include "select/groups.hpp"
#include "select/policy.hpp"
#include "select/select.hpp"

#endif  // NNPRUNE_NNPRUNE_HPP
