#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

/// Small cryptographic building blocks (OpenSSL underneath): randomness,
/// digests, MACs and the encodings tokens travel in.
namespace livemart::crypto {

/// `count` bytes from the operating system's CSPRNG. Aborts if it fails:
/// running without randomness is a programmer or platform error.
std::string random_bytes(std::size_t count);

std::string sha256(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);

/// Compares in time independent of where the inputs differ.
bool equal_constant_time(std::string_view a, std::string_view b);

std::string to_hex(std::string_view bytes);
std::optional<std::string> from_hex(std::string_view hex);

/// application/x-www-form-urlencoded decoding (query strings): '+' is a
/// space, %XX a byte; a malformed escape is kept as it is.
std::string percent_decode(std::string_view text);

/// The first parameter called `name` (after decoding) of a query string
/// (`a=1&b=2`, no '?'), percent-decoded; "" when it has no '='.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

/// RFC 4648 §5, without padding.
std::string base64url_encode(std::string_view bytes);
/// Rejects padding, white space and characters outside the alphabet.
std::optional<std::string> base64url_decode(std::string_view text);

} // namespace livemart::crypto
