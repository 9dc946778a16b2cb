# Shared helpers for livemart targets.

# Warnings for our own code only; third-party headers come in as SYSTEM.
function(livemart_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wno-missing-field-initializers)
endfunction()

# livemart_embed(<out.cpp> <namespace> <symbol> <file>...)
# Turns text files into a std::array of {name, contents} so the binary is
# self-contained: migrations and the common-password list travel inside it.
function(livemart_embed out ns symbol)
  set(inputs ${ARGN})
  # A CMake list would be split into separate shell words (or commands) on
  # ';', so the file names travel joined by '|'.
  string(JOIN "|" joined ${inputs})
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNS=${ns} -DSYMBOL=${symbol} -DINPUTS=${joined}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_files.cmake
    DEPENDS ${inputs} ${PROJECT_SOURCE_DIR}/cmake/embed_files.cmake
    COMMENT "Embedding ${symbol}"
    VERBATIM)
endfunction()
