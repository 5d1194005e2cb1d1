#ifndef NNPRUNE_EXAMPLES_CLI_TOKENS_COMMAND_HPP
#define NNPRUNE_EXAMPLES_CLI_TOKENS_COMMAND_HPP

/// @file tokens_command.hpp
/// `nnprune tokens METHOD FILE`: the options of every token method and the entry point. Each
/// method reads its input tensors from FILE under the names the spec (docs/tokens.md) gives them
/// and writes `kept` (and the method's other outputs) to a safetensors file.

#include <cstddef>
#include <string>

#include <CLI/CLI.hpp>

namespace nnprune_cli {

/// The options of every `tokens` method (each method's subcommand registers the ones it reads;
/// command_line.hpp). Counts left at their defaults here are the spec's defaults.
struct tokens_args {
    std::string file, tensor, out, mode = "last";
    std::size_t keep = 0, start = 0, len = 0;
    double ratio = -1.0;
    unsigned threads = 1;
    // The methods' parameters: a method reads an option only when it was given, so the library's
    // defaults (the spec's) apply otherwise; the values here only fill the parser.
    std::size_t r = 0;                                ///< ToMe --r
    bool class_token = false, distill_token = false;  ///< ToMe
    std::size_t dominant = 0, contextual = 0;         ///< VisionZip
    std::size_t window = 0, capacity = 0, kernel = 0, kv_heads = 0;
    std::string pooling = "avg";                                        ///< SnapKV avg|max
    std::size_t hh_size = 0, recent_size = 0, steps = 0;                ///< H2O (ThinK: --recent-size)
    std::size_t query_window = 0;                                       ///< ThinK
    std::size_t cls = 0, start_layer = 0;                               ///< [CLS] position; VTC-CLS --start-layer
    std::string layers;                                                 ///< --layers FIRST:LAST
    std::size_t img_start = 0, n_s = 0, n_next = 0, n0 = 0, stage = 0;  ///< PyramidDrop
    std::string layer_list, ratio_list;                                 ///< PyramidDrop schedule
    std::size_t budget = 0, grid_width = 0, crops = 0;                  ///< HiPrune, HoloV
    double alpha = 0.0, eps = 0.0;                                      ///< HiPrune, HoloV
    double similarity = 0.0, temperature = 0.0;                         ///< G-Prune
    std::size_t iterations = 0, rows = 0, cols = 0;
};

/// Runs `tokens <method>` (method: the parsed subcommand of `tokens`); throws on errors (main maps
/// them to exit codes).
void run_tokens(const tokens_args& a, const CLI::App& method);

}  // namespace nnprune_cli

#endif  // NNPRUNE_EXAMPLES_CLI_TOKENS_COMMAND_HPP
