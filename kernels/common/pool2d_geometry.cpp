#include <cstdint>
#include <limits>

#include "base/error.h"
#include "kernels/pool2d.h"

namespace kiln::kernels {

void check_pool2d_geometry(const Pool2dGeometry& g, const char* op) {
  KILN_CHECK(g.n >= 0 && g.c >= 0 && g.h >= 0 && g.w >= 0 && g.kh > 0 && g.kw > 0 &&
                 g.stride_h > 0 && g.stride_w > 0 && g.pad_h >= 0 && g.pad_w >= 0,
             op, ": bad geometry (input ", g.n, "x", g.c, "x", g.h, "x", g.w, ", window ", g.kh,
             "x", g.kw, ", stride ", g.stride_h, "x", g.stride_w, ", padding ", g.pad_h, "x",
             g.pad_w, "): sizes must be >= 0, window and stride > 0, padding >= 0");
  KILN_CHECK(g.pad_h < g.kh && g.pad_w < g.kw, op, ": padding (", g.pad_h, ",", g.pad_w,
             ") must be smaller than the window (", g.kh, ",", g.kw, ")");
  KILN_CHECK(g.h + 2 * g.pad_h >= g.kh && g.w + 2 * g.pad_w >= g.kw, op, ": window ", g.kh, "x",
             g.kw, " is larger than the padded input ", g.h + 2 * g.pad_h, "x", g.w + 2 * g.pad_w);
  KILN_CHECK(g.h * g.w <= std::numeric_limits<std::int32_t>::max(), op, ": a ", g.h, "x", g.w,
             " plane is too large for int32 argmax indices");
}

}  // namespace kiln::kernels
