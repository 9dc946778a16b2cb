#pragma once

#include <string_view>

namespace livemart {

/// A text file compiled into the binary (see cmake/embed_files.cmake).
struct embedded_file {
  std::string_view name;
  std::string_view contents;
};

} // namespace livemart
