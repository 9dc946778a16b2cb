#pragma once

#include <string>
#include <string_view>

/// Structured JSON log lines on standard output, written by one background
/// thread so that no Asio or CAF thread ever blocks on the terminal or a pipe.
/// The queue is bounded; lines beyond it are counted and dropped.
namespace livemart::log {

enum class level { debug, info, warn, error };

/// Starts the writer thread. Without it, lines are written synchronously
/// (command-line tools and tests).
void start(std::size_t queue_lines_max = 65'536);

/// Flushes what is queued and stops the writer thread.
void stop();

/// Queues one complete line (a JSON object without the trailing newline).
void line(std::string text);

/// {"ts":...,"level":...,"msg":...} plus `fields_json`, a sequence of
/// `"key":value` pairs already encoded (may be empty).
void message(level lvl, std::string_view msg, std::string_view fields_json = {});

inline void info(std::string_view msg, std::string_view fields_json = {}) { message(level::info, msg, fields_json); }
inline void warn(std::string_view msg, std::string_view fields_json = {}) { message(level::warn, msg, fields_json); }
inline void error(std::string_view msg, std::string_view fields_json = {}) { message(level::error, msg, fields_json); }

/// ISO 8601 UTC timestamp with milliseconds.
std::string timestamp();

/// Lines dropped because the queue was full.
std::size_t dropped();

} // namespace livemart::log
