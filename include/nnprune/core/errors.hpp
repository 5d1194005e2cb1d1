#ifndef NNPRUNE_CORE_ERRORS_HPP
#define NNPRUNE_CORE_ERRORS_HPP

/// @file errors.hpp
/// The exception hierarchy. Every public entry point validates its arguments before it writes
/// anything, so a thrown error leaves the caller's tensors and masks exactly as they were.
/// Messages start with the function name and give the offending values.

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "../config.hpp"

namespace nnprune {

/// Root of every exception nnprune throws.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// An argument is outside what the function accepts (sparsity outside [0, 1], k > n, ...).
class precondition_error : public error {
public:
    using error::error;
};

/// Shapes that must agree do not (mask vs tensor, statistic vs weight columns, ...).
class shape_error : public precondition_error {
public:
    using precondition_error::precondition_error;
};

/// A value in the data is not acceptable (NaN under nan_policy::reject, Inf where finite is required).
class value_error : public precondition_error {
public:
    using precondition_error::precondition_error;
};

/// A file or buffer does not follow its format (malformed safetensors, mask file, ...).
class format_error : public error {
public:
    using error::error;
};

/// The operating system refused a file operation (open, map, write, rename).
class io_error : public error {
public:
    using error::error;
};

/// An internal invariant failed (only with NNPRUNE_ENABLE_ASSERT): a bug in nnprune.
class internal_error : public error {
public:
    using error::error;
};

namespace detail {

/// Concatenates its arguments with operator<< into one message string.
template <class... Args>
[[nodiscard]] std::string str(Args&&... args) {
    std::ostringstream os;
    os.precision(17);
    (os << ... << std::forward<Args>(args));
    return os.str();
}

}  // namespace detail
}  // namespace nnprune

#endif  // NNPRUNE_CORE_ERRORS_HPP
