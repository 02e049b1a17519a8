// The line structure of a chunked body, checked strictly as its bytes arrive (RFC 9112 section
// 7.1): every chunk-size line, the CRLF after each chunk's data and every trailer line ends in
// CRLF. Beast's parser looks for CRLF only and waits on past a bare LF, so a chunk line ending in
// LF alone would hang a body until its timeout instead of being refused. Pure, no allocation;
// shared by the session (requests and responses) and the fuzz targets.
#pragma once

#include <cstdint>
#include <string_view>

namespace bgp {

class ChunkLines {
 public:
  // Checks the next bytes of the body (the same stream Beast's parser reads, in order); false
  // once a line is malformed (and from then on). Bytes after the body's end are not looked at.
  bool feed(std::string_view bytes) noexcept;

  bool failed() const noexcept { return state_ == State::failed; }
  bool done() const noexcept { return state_ == State::done; }

 private:
  enum class State {
    size,       // hex digits of a chunk size
    extension,  // after the size: `;ext` or whitespace, up to the CR
    size_lf,    // the LF after a chunk-size line's CR
    data,       // `remaining_` bytes of chunk data
    data_cr,    // the CRLF after a chunk's data
    data_lf,
    trailer_line,  // the first byte of a trailer line (CR: the empty line that ends the body)
    trailer,       // the rest of a trailer line, up to its CR
    trailer_lf,
    last_lf,  // the LF of the empty line that ends the body
    done,
    failed,
  };

  bool step(char c) noexcept;  // one byte outside chunk data

  State state_ = State::size;
  std::uint64_t size_ = 0;       // of the chunk whose size line is being read
  unsigned digits_ = 0;          // hex digits read of that size
  std::uint64_t remaining_ = 0;  // data bytes left in the current chunk
};

}  // namespace bgp
