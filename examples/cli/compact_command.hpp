#ifndef NNPRUNE_EXAMPLES_CLI_COMPACT_COMMAND_HPP
#define NNPRUNE_EXAMPLES_CLI_COMPACT_COMMAND_HPP

/// @file compact_command.hpp
/// `nnprune compact`: the options and the entry point (structured compaction of a model directory).

#include <string>

namespace nnprune_cli {

struct compact_args {
    std::string model, out;
    std::string heads_keep, kv_keep, channels_keep;  ///< a count ("24") or a ratio ("0.75"); empty: keep all
    std::string method = "magnitude";                ///< magnitude|wanda|flap: scores of the units
    std::string calib;                               ///< STATS.safetensors
    std::string structure, save_structure;           ///< --structure FILE, --save-structure FILE
    bool make_uniform = false;
    std::string bias_compensation = "none";  ///< none|required|where-possible
    bool fsync = false;
};

/// Checks the options that need no file (throws usage_error as run_compact() would).
void check_compact_args(const compact_args& a);

/// Runs the command; throws on errors (main maps them to exit codes).
void run_compact(const compact_args& a);

}  // namespace nnprune_cli

#endif  // NNPRUNE_EXAMPLES_CLI_COMPACT_COMMAND_HPP
