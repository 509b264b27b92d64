// The one line cifar10 prints for an error. Messages quote what files hold (layer and attribute
// names, CSV cells, archive member names), and a damaged or hostile file can hold anything: a
// newline that would split the line, terminal escape sequences, bytes that are not text.
#pragma once

#include <string>
#include <string_view>

namespace kiln::app {

// `message` as one printable line: line breaks become spaces; other control characters (C0, DEL
// and C1), Unicode's bidirectional overrides and line separators, and bytes that are not part of
// valid UTF-8 become \xNN (each byte); other valid UTF-8 text (a file name in any script) passes
// unchanged. A backslash stays as it is, so "\x1b" in a name reads like an escaped ESC: the
// point is what reaches the terminal, not a reversible encoding.
std::string error_line(std::string_view message);

}  // namespace kiln::app
