#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

/// The queue of one WebSocket connection (no Beast here, so it is
/// unit-tested alone). A viewer that cannot keep up never slows anyone
/// else: state messages (a key) replace an older one of the same key that
/// was not sent yet, and a connection whose queue grows past `max` or whose
/// oldest message waited past `behind_max` is to be closed.
namespace livemart::http {

/// The header of a WebSocket frame (RFC 6455, section 5.2).
struct ws_frame_head {
  bool fin = false;
  std::uint8_t opcode = 0;
  bool masked = false;
  std::size_t header_bytes = 0; ///< the masking key included
  std::uint64_t payload_bytes = 0;
};

/// The header of the frame that `bytes` starts with; nullopt while they
/// hold less than the whole header.
inline std::optional<ws_frame_head> read_ws_frame_head(std::string_view bytes) {
  if (bytes.size() < 2)
    return std::nullopt;
  auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(bytes[i]); };
  ws_frame_head h;
  h.fin = (byte(0) & 0x80) != 0;
  h.opcode = byte(0) & 0x0f;
  h.masked = (byte(1) & 0x80) != 0;
  unsigned len7 = byte(1) & 0x7fu;
  std::size_t length_bytes = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  h.header_bytes = 2 + length_bytes + (h.masked ? 4 : 0);
  if (bytes.size() < h.header_bytes)
    return std::nullopt;
  h.payload_bytes = len7;
  if (length_bytes != 0) {
    h.payload_bytes = 0;
    for (std::size_t i = 2; i < 2 + length_bytes; ++i)
      h.payload_bytes = (h.payload_bytes << 8) | byte(i);
  }
  return h;
}

/// `text` as the frame a server sends it in: one unfragmented, unmasked
/// text frame (RFC 6455, section 5.2).
inline std::string ws_text_frame(std::string_view text) {
  std::string f;
  f.reserve(text.size() + 10);
  f.push_back(static_cast<char>(0x81)); // FIN, text
  auto n = static_cast<std::uint64_t>(text.size());
  if (n < 126) {
    f.push_back(static_cast<char>(n));
  } else if (n <= 0xffff) {
    f.push_back(static_cast<char>(126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  } else {
    f.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8)
      f.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  f.append(text);
  return f;
}

/// One message, encoded once and shared by every connection it goes to.
struct ws_message {
  std::string key; ///< state messages: "p:<product>", "viewers"; empty: never replaced
  std::string text;
  /// `text` framed once for all (ws_text_frame), for a connection that
  /// sends it itself; empty: it goes through Beast's writer.
  std::string frame = {};
};
using ws_message_ptr = std::shared_ptr<const ws_message>;

class ws_outbox {
public:
  using clock = std::chrono::steady_clock;
  enum class result { queued, replaced, overflow, behind };

  ws_outbox(std::size_t max, std::chrono::milliseconds behind_max) : max_(max), behind_max_(behind_max) {}

  /// Queues `m` (or replaces its older value). `overflow` and `behind`
  /// mean the connection must be closed; nothing was queued then.
  result push(ws_message_ptr m, clock::time_point now) {
    if (!queue_.empty() && now - queue_.front().at > behind_max_)
      return result::behind;
    if (!m->key.empty()) {
      for (auto it = queue_.begin() + (writing_ ? 1 : 0); it != queue_.end(); ++it) {
        if (it->message->key == m->key) {
          // The newer value goes last, after the events queued since the
          // older one: messages never overtake each other.
          auto at = it->at;
          queue_.erase(it);
          queue_.push_back({std::move(m), at});
          return result::replaced;
        }
      }
    }
    if (queue_.size() >= max_)
      return result::overflow;
    queue_.push_back({std::move(m), now});
    return result::queued;
  }

  bool empty() const { return queue_.empty(); }
  std::size_t size() const { return queue_.size(); }
  bool writing() const { return writing_; }

  /// The next message to write; it stays queued (and is never replaced)
  /// until done_writing(). The writer keeps the pointer while it writes.
  ws_message_ptr start_writing() {
    writing_ = true;
    return queue_.front().message;
  }
  void done_writing() {
    writing_ = false;
    queue_.pop_front();
  }
  void clear() {
    queue_.clear();
    writing_ = false;
  }

private:
  struct entry {
    ws_message_ptr message;
    clock::time_point at;
  };
  std::deque<entry> queue_;
  std::size_t max_;
  std::chrono::milliseconds behind_max_;
  bool writing_ = false;
};

} // namespace livemart::http
