#ifndef NNPRUNE_ADAPTERS_TORCH_MODULE_HPP
#define NNPRUNE_ADAPTERS_TORCH_MODULE_HPP

/// @file torch_module.hpp
/// A torch::nn::Module's parameters as nnprune layers: torch_layers(module) gives one layer per
/// prunable weight, named as in the module's state_dict, in named_parameters() order, viewing
/// the parameter's storage (writable: prune() with apply = true and pruner zero the module's
/// weights in place). By default the weights of every Linear (2-D) and Conv2d (4-D) submodule;
/// a filter chooses among all parameters instead. A parameter's .grad(), when defined, becomes
/// the layer's gradient (Taylor, GBLM). Wanda's statistic comes from each Linear's inputs, which
/// the user's forward code hands to a wanda_accumulator (libtorch has no forward hooks):
///
/// @code
/// std::map<std::string, nnprune::wanda_accumulator> stats;   // filled in forward():
///     stats.at("fc1.weight").add(nnprune::torch_ref(x.detach()));  // x: fc1's input [B, in]
/// torch::NoGradGuard no_grad;                                  // writable views of parameters
/// auto layers = nnprune::torch_layers(*model);
/// for (auto& l : layers) l.input_stat = stats.at(l.name).stat();
/// nnprune::prune(layers, nnprune::wanda, nnprune::per_row{}, 0.5, {.apply = true});
/// @endcode
///
/// The layers are views: they stay valid while the parameters keep their storage (optimizer
/// steps update it in place; model->to(...) or load of a differently shaped state replaces it:
/// build the layers again then). Not in the umbrella header; needs libtorch.

#include <functional>
#include <set>
#include <string>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../core/layer.hpp"
#include "torch.hpp"

namespace nnprune {

struct torch_layer_options {
    /// Which parameters become layers, by state_dict name and tensor. Empty: the `weight` of every
    /// Linear and Conv2d submodule.
    std::function<bool(const std::string& name, const at::Tensor& parameter)> filter;
    /// Writable weight views (needs grad mode off: torch::NoGradGuard). false: read-only views,
    /// for scoring and masks without apply.
    bool writable = true;
    /// Attach each parameter's .grad() as the layer's gradient when it is defined.
    bool gradients = true;
};

/**
 * @brief The module's prunable parameters as layers (see @file).
 * @throws precondition_error, before any layer is made, naming the parameter: one nnprune cannot
 *         view (torch_ref's reasons), a writable view while grad mode is on, a gradient whose
 *         shape or device differs from its parameter's; when the filter selects nothing.
 */
[[nodiscard]] inline std::vector<layer> torch_layers(const torch::nn::Module& module,
                                                     const torch_layer_options& o = {}) {
    constexpr const char* fn = "torch_layers";
    std::set<const c10::TensorImpl*> default_weights;
    if (!o.filter) {
        for (const auto& m : module.modules(/*include_self=*/true)) {
            if (const auto* lin = m->as<torch::nn::Linear>()) default_weights.insert(lin->weight.unsafeGetTensorImpl());
            if (const auto* conv = m->as<torch::nn::Conv2d>())
                default_weights.insert(conv->weight.unsafeGetTensorImpl());
        }
    }
    std::vector<layer> out;
    for (const auto& item : module.named_parameters(/*recurse=*/true)) {
        const std::string& name = item.key();
        const at::Tensor& p = item.value();
        if (o.filter ? !o.filter(name, p) : default_weights.count(p.unsafeGetTensorImpl()) == 0) continue;
        layer l;
        l.name = name;
        try {
            l.weights = o.writable ? torch_mutable_ref(p) : torch_ref(p);
            const at::Tensor& g = p.grad();
            if (o.gradients && g.defined()) {
                NNPRUNE_PRECONDITION(g.sizes() == p.sizes(),
                                     detail::str("its gradient has sizes ", g.sizes(), ", the parameter ", p.sizes()));
                l.gradient = torch_ref(g);
            }
        } catch (const precondition_error& e) {
            throw precondition_error(detail::str(fn, ": parameter '", name, "': ", e.what()));
        }
        out.push_back(std::move(l));
    }
    NNPRUNE_PRECONDITION(!out.empty(), detail::str(fn, ": no parameter of the module was selected",
                                                   o.filter ? " by the filter" : " (it has no Linear or Conv2d)"));
    return out;
}

}  // namespace nnprune

#endif  // NNPRUNE_ADAPTERS_TORCH_MODULE_HPP
