#ifndef NNPRUNE_EXAMPLES_DEMO_METHODS_HPP
#define NNPRUNE_EXAMPLES_DEMO_METHODS_HPP

/// @file methods.hpp
/// The pruning methods the demo compares, by name. The scores themselves are nnprune's scorers
/// (nnprune::magnitude, wanda, lamp, taylor, gblm, random_scorer), called by nnprune::prune() in
/// main.cpp.

#include <array>
#include <string_view>

namespace demo {

enum class method { magnitude, wanda, lamp, taylor, gblm, random };

inline constexpr std::array<method, 6> all_methods{method::magnitude, method::wanda, method::lamp,
                                                   method::taylor,    method::gblm,  method::random};

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
    }
    return "?";
}

}  // namespace demo

#endif  // NNPRUNE_EXAMPLES_DEMO_METHODS_HPP
