#ifndef NNPRUNE_EXAMPLES_CLI_PRUNE_COMMAND_HPP
#define NNPRUNE_EXAMPLES_CLI_PRUNE_COMMAND_HPP

/// @file prune_command.hpp
/// `nnprune prune`: the options and the entry point.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nnprune_cli {

struct prune_args {
    std::string model, out;
    std::string method = "magnitude";
    std::string pattern = "unstructured";
    std::string scope = "layer";
    std::string allocation = "uniform";
    std::string rounding = "half-even";
    double sparsity = 0.5;
    double min_keep = 0.0;
    double owl_m = 5.0, owl_lambda = 0.08;
    std::vector<std::string> include, exclude;
    std::string calib, masks, report;
    std::string sparsegpt_mask = "block";  ///< --method sparsegpt: block|row|upstream
    std::size_t blocksize = 128;
    double percdamp = 0.01;
    std::string refine;        ///< "" or dsnot
    std::string update_masks;  ///< MASKS: the OBS update for these masks
    unsigned threads = 1;
    std::uint64_t seed = 0;
    bool quiet = false;
    bool fsync = false;
};

/// Checks the options that need no file (values, conflicts, regular expressions): throws
/// usage_error as run_prune() would, before it opens anything.
void check_prune_args(const prune_args& a);

/// Runs the command; throws on errors (main maps them to exit codes).
void run_prune(const prune_args& a);

}  // namespace nnprune_cli

#endif  // NNPRUNE_EXAMPLES_CLI_PRUNE_COMMAND_HPP
