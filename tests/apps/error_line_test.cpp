// cifar10's error line (apps/cifar10/error_line.h): what a damaged file can put in a message
// must not split the line or reach the terminal as control codes.
#include "apps/cifar10/error_line.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln::app {
namespace {

TEST(ErrorLine, PlainTextAndUtf8PassUnchanged) {
  EXPECT_EQ(error_line("models/best.h5: no layer 'block1_conv1'"),
            "models/best.h5: no layer 'block1_conv1'");
  EXPECT_EQ(error_line("données/modèle.h5: 重み"), "données/modèle.h5: 重み");
  EXPECT_EQ(error_line("\xf0\x9f\x90\x88 cat"), "\xf0\x9f\x90\x88 cat");  // 4-byte sequence
}

TEST(ErrorLine, LineBreaksBecomeSpaces) {
  EXPECT_EQ(error_line("first\nsecond\r\nthird"), "first second  third");
}

TEST(ErrorLine, ControlCharactersAreEscaped) {
  // ESC [ 2 J clears a terminal; BEL, DEL and a NUL too.
  EXPECT_EQ(error_line("layer '\x1b[2J' \a\x7f"), "layer '\\x1b[2J' \\x07\\x7f");
  EXPECT_EQ(error_line(std::string("a\0b", 3)), "a\\x00b");
  // C1 controls in UTF-8 form: U+009B is a one-byte CSI on some terminals.
  EXPECT_EQ(error_line("x\xc2\x9b"
                       "31m"),
            "x\\xc2\\x9b31m");
}

TEST(ErrorLine, BidiOverridesAndLineSeparatorsAreEscaped) {
  // U+202E (right-to-left override) would show "gpj.exe" as "exe.jpg"; U+2028 breaks the line.
  EXPECT_EQ(error_line("a\xe2\x80\xae"
                       "gpj.exe"),
            "a\\xe2\\x80\\xaegpj.exe");
  EXPECT_EQ(error_line("x\xe2\x80\xa8y"), "x\\xe2\\x80\\xa8y");
  EXPECT_EQ(error_line("\xe2\x81\xa6z"), "\\xe2\\x81\\xa6z");
  EXPECT_EQ(error_line("\xe2\x80\x94 dash"), "\xe2\x80\x94 dash");  // U+2014 is text
}

TEST(ErrorLine, BytesThatAreNotUtf8AreEscaped) {
  EXPECT_EQ(error_line("name '\xdf\x41'"), "name '\\xdfA'");  // a lead byte without its follower
  EXPECT_EQ(error_line("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(error_line("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(error_line("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(error_line("end \xe2\x82"), "end \\xe2\\x82");   // cut short
}

}  // namespace
}  // namespace kiln::app
