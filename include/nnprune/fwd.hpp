#ifndef NNPRUNE_FWD_HPP
#define NNPRUNE_FWD_HPP

/// @file fwd.hpp
/// Forward declarations of nnprune's main types, for headers that only name them.

#include <cstddef>
#include <cstdint>

namespace nnprune {

class error;
class precondition_error;
class shape_error;
class value_error;
class format_error;
class io_error;
class internal_error;

struct bfloat16;
struct float16;
enum class dtype : std::uint8_t;

class shape;
template <class T, std::size_t Rank>
class tensor_view;
class tensor_ref;
template <class T>
struct view_traits;

template <class Word>
class basic_mask_view;
class mask;

struct layer;

}  // namespace nnprune

#endif  // NNPRUNE_FWD_HPP
