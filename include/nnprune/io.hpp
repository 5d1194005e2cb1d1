#ifndef NNPRUNE_IO_HPP
#define NNPRUNE_IO_HPP

/// @file io.hpp
/// Umbrella for the file formats (needs nlohmann-json 3.11; link nlohmann_json::nlohmann_json):
/// safetensors reading (mapped, validated, zero-copy views) and writing (atomic), sharded
/// checkpoints, mask files, pruner state files and sparse exports. Not included by <nnprune/nnprune.hpp>.

#include "io/atomic_file.hpp"
#include "io/mapped_file.hpp"
#include "io/mask_file.hpp"
#include "io/pruner_state_file.hpp"
#include "io/safetensors_header.hpp"
#include "io/safetensors_model.hpp"
#include "io/safetensors_reader.hpp"
#include "io/safetensors_writer.hpp"
#include "io/sparse_export.hpp"

#endif  // NNPRUNE_IO_HPP
