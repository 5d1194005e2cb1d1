#ifndef NNPRUNE_CORE_LAYER_HPP
#define NNPRUNE_CORE_LAYER_HPP

/// @file layer.hpp
/// layer: what the prune loop needs from one user layer: a name, its weights and, for the
/// scorers that use them, a per-input-column activation statistic and a gradient.

#include <optional>
#include <string>

#include "../config.hpp"
#include "errors.hpp"
#include "tensor_ref.hpp"

namespace nnprune {

/**
 * @brief One prunable tensor of a model, by reference (nnprune never copies or owns it).
 * - weights: [out, in] (PyTorch nn.Linear layout) or any rank; rows = extent 0, columns = the rest.
 * - input_stat: optional, one value per input column (length = weights' columns), e.g. Wanda's
 *   per-column mean squared activation (see calibration accumulators).
 * - gradient: optional, the shape of weights (accumulated gradient, for Taylor / GBLM).
 * - hessian: optional, [in, in], the Hessian of the layer's inputs (hessian_accumulator), for
 *   SparseGPT's reconstruction; layers that read the same input may share one.
 */
struct layer {
    std::string name;
    tensor_ref weights;
    std::optional<tensor_ref> input_stat;
    std::optional<tensor_ref> gradient;
    std::optional<tensor_ref> hessian = std::nullopt;
};

/// Checks that a layer's optional tensors agree with its weights.
/// @throws shape_error naming the layer and both shapes.
inline void validate(const layer& l) {
    if (l.input_stat) {
        NNPRUNE_CHECK(
            l.input_stat->size() == l.weights.shape().cols(), shape_error,
            detail::str("layer '", l.name, "': input statistic has ", l.input_stat->shape(), " elements, weights ",
                        l.weights.shape(), " have ", l.weights.shape().cols(), " input columns"));
    }
    if (l.gradient) {
        NNPRUNE_CHECK(l.gradient->shape() == l.weights.shape(), shape_error,
                      detail::str("layer '", l.name, "': gradient has shape ", l.gradient->shape(), ", weights have ",
                                  l.weights.shape()));
    }
    if (l.hessian) {
        const std::size_t in = l.weights.shape().cols();
        NNPRUNE_CHECK(l.hessian->rank() == 2 && l.hessian->extent(0) == in && l.hessian->extent(1) == in, shape_error,
                      detail::str("layer '", l.name, "': Hessian has shape ", l.hessian->shape(), ", weights ",
                                  l.weights.shape(), " need [", in, ", ", in, "]"));
    }
}

}  // namespace nnprune

#endif  // NNPRUNE_CORE_LAYER_HPP
