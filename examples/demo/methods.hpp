#ifndef NNPRUNE_EXAMPLES_DEMO_METHODS_HPP
#define NNPRUNE_EXAMPLES_DEMO_METHODS_HPP

/// @file methods.hpp
/// The pruning methods the demo compares, by name. The scores themselves are nnprune's scorers
/// (nnprune::magnitude, wanda, lamp, taylor, gblm, random_scorer), called by nnprune::prune() in
/// main.cpp; sparsegpt is nnprune::sparsegpt_step (its own masks and the weight update) and
/// wanda+dsnot Wanda's masks refined by nnprune::dsnot_step.

#include <array>
#include <string_view>

namespace demo {

enum class method { magnitude, wanda, lamp, taylor, gblm, random, sparsegpt, wanda_dsnot };

inline constexpr std::array<method, 8> all_methods{method::magnitude, method::wanda,      method::lamp,
                                                   method::taylor,    method::gblm,       method::random,
                                                   method::sparsegpt, method::wanda_dsnot};

[[nodiscard]] constexpr std::string_view name_of(method m) {
    switch (m) {
        case method::magnitude:
            return "magnitude";
        case method::wanda:
            return "wanda";
        case method::lamp:
            return "lamp";
        case method::taylor:
            return "taylor";
        case method::gblm:
            return "gblm";
        case method::random:
            return "random";
        case method::sparsegpt:
            return "sparsegpt";
        case method::wanda_dsnot:
            return "wanda+dsnot";
    }
    return "?";
}

}  // namespace demo

#endif  // NNPRUNE_EXAMPLES_DEMO_METHODS_HPP
