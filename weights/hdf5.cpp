#include "weights/hdf5.h"

#include <hdf5.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <type_traits>

#include "base/error.h"
#include "weights/durable_file.h"
#include "weights/hdf5_survey.h"

namespace kiln {

static_assert(std::is_same_v<hid_t, std::int64_t>, "hdf5.h holds hid_t as std::int64_t");

namespace {

// HDF5 prints its whole error stack to stderr on every failure unless told not to; Kiln reports
// failures itself, as one line.
void ensure_hdf5_quiet() {
  static const bool quiet = [] {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)quiet;
}

// The most specific message on HDF5's error stack (where the failure was detected), then clears
// the stack. Empty when HDF5 recorded nothing.
std::string hdf5_reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* err, void* out) -> herr_t {
        if (n == 0 && err->desc != nullptr) *static_cast<std::string*>(out) = err->desc;
        return 0;
      },
      &reason);
  H5Eclear2(H5E_DEFAULT);
  // A failed read or write's description carries a timestamp (with a newline), addresses and
  // sizes; what a reader needs is the operation and the system's reason ("File too large").
  const std::string tag = "error message = '";
  const std::size_t m = reason.find(tag);
  if (m != std::string::npos) {
    const std::size_t start = m + tag.size();
    reason = reason.substr(0, reason.find(':')) + ": " +
             reason.substr(start, reason.find('\'', start) - start);
  }
  std::replace(reason.begin(), reason.end(), '\n', ' ');
  return reason;
}

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  const std::string reason = hdf5_reason();
  KILN_FAIL(where, ": ", what, reason.empty() ? "" : " (HDF5: " + reason + ")");
}

std::string join(const std::string& base, const std::string& rel) {
  if (rel.empty()) return base;
  return base == "/" ? "/" + rel : base + "/" + rel;
}

std::vector<std::string> split_path(const std::string& rel) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= rel.size()) {
    const std::size_t end = std::min(rel.find('/', start), rel.size());
    if (end > start) parts.push_back(rel.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::vector<hsize_t> to_hsize(const std::vector<std::int64_t>& dims) {
  std::vector<hsize_t> out;
  for (std::int64_t d : dims) out.push_back(static_cast<hsize_t>(d));
  return out;
}

std::int64_t product(const std::vector<std::int64_t>& dims) {
  std::int64_t n = 1;
  for (std::int64_t d : dims) n *= d;
  return n;
}

// A dataspace for dims: scalar for {}, simple otherwise (zero extents allowed).
H5Handle make_space(const std::vector<std::int64_t>& dims) {
  if (dims.empty()) return H5Handle(H5Screate(H5S_SCALAR));
  const std::vector<hsize_t> h = to_hsize(dims);
  return H5Handle(H5Screate_simple(static_cast<int>(h.size()), h.data(), nullptr));
}

// Elements in a dataspace (0 for a null dataspace).
std::int64_t space_numel(hid_t space) {
  if (H5Sget_simple_extent_type(space) == H5S_NULL) return 0;
  return static_cast<std::int64_t>(H5Sget_simple_extent_npoints(space));
}

// An attribute's element count, refused before anything is allocated when its dataspace claims
// more than 64 MiB of values (Keras' largest, layer_names, holds a few hundred short strings).
std::int64_t attribute_numel(hid_t space, std::size_t bytes_each, const std::string& where,
                             const std::string& name) {
  const std::int64_t n = space_numel(space);
  const double bytes = static_cast<double>(n) * static_cast<double>(bytes_each);
  if (n < 0 || bytes > 64.0 * (1 << 20)) {
    KILN_FAIL(where, ": attribute '", name, "' claims ", n, " values of ", bytes_each,
              " bytes (damaged or hostile file)");
  }
  return n;
}

std::string class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER:
      return "integer";
    case H5T_FLOAT:
      return "floating-point";
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_ARRAY:
      return "array";
    case H5T_VLEN:
      return "variable-length";
    default:
      return "non-numeric";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// H5Handle

H5Handle& H5Handle::operator=(H5Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    o.id_ = -1;
  }
  return *this;
}

void H5Handle::reset() noexcept {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      break;  // already invalid (e.g. closed with its file)
  }
  H5Eclear2(H5E_DEFAULT);
  id_ = -1;
}

// ---------------------------------------------------------------------------------------------
// H5DatasetView

H5DatasetView::H5DatasetView(H5Handle dataset, std::string file, std::string path)
    : dataset_(std::move(dataset)), file_(std::move(file)), path_(std::move(path)) {}

bool H5DatasetView::stored_in_other_files() const {
  H5Handle dcpl(H5Dget_create_plist(dataset_.id()));
  if (!dcpl.valid()) fail(file_ + ": " + path_, "cannot read how the dataset is stored");
  return H5Pget_external_count(dcpl.id()) > 0 || H5Pget_layout(dcpl.id()) == H5D_VIRTUAL;
}

std::uint64_t H5DatasetView::address() const {
  H5O_info_t info;
  // NOTE: HDF5 1.12 replaced the address by a token (H5Oget_info3); Debian 12 ships 1.10.
  if (H5Oget_info2(dataset_.id(), &info, H5O_INFO_BASIC) < 0) {
    fail(file_ + ": " + path_, "cannot read the dataset's object header");
  }
  return static_cast<std::uint64_t>(info.addr);
}

std::vector<std::int64_t> H5DatasetView::shape() const {
  H5Handle space(H5Dget_space(dataset_.id()));
  if (!space.valid()) fail(file_ + ": " + path_, "cannot read the dataset's shape");
  if (H5Sget_simple_extent_type(space.id()) == H5S_NULL) return {0};
  const int rank = H5Sget_simple_extent_ndims(space.id());
  if (rank < 0) fail(file_ + ": " + path_, "cannot read the dataset's rank");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  return std::vector<std::int64_t>(dims.begin(), dims.end());
}

std::int64_t H5DatasetView::numel() const { return product(shape()); }

std::size_t H5DatasetView::stored_value_bytes() const {
  H5Handle type(H5Dget_type(dataset_.id()));
  if (!type.valid()) fail(file_ + ": " + path_, "cannot read the dataset's type");
  return H5Tget_size(type.id());
}

void H5DatasetView::read_numeric(std::int64_t mem_type, void* out) const {
  const std::string where = file_ + ": " + path_;
  H5Handle type(H5Dget_type(dataset_.id()));
  if (!type.valid()) fail(where, "cannot read the dataset's type");
  const H5T_class_t c = H5Tget_class(type.id());
  if (c != H5T_FLOAT && c != H5T_INTEGER) {
    KILN_FAIL(where, ": holds ", class_name(c), " values, expected numbers");
  }
  if (numel() == 0) return;
  if (H5Dread(dataset_.id(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
    fail(where, "cannot read the dataset's values");
  }
}

// A crafted header may claim 10^12 values in a file of a few kilobytes. Compression can make a
// real file much smaller than its data, so the bound is generous: 1024 times the file's size,
// and at least 64 MiB.
std::size_t H5DatasetView::checked_numel(std::size_t value_bytes) const {
  const std::string where = file_ + ": " + path_;
  const std::vector<std::int64_t> dims = shape();
  double values = 1;  // in double: a product of 64-bit extents overflows any integer
  for (const std::int64_t d : dims) values *= static_cast<double>(d);
  H5Handle file(H5Iget_file_id(dataset_.id()));
  hsize_t file_bytes = 0;
  if (!file.valid() || H5Fget_filesize(file.id(), &file_bytes) < 0) {
    fail(where, "cannot read the file's size");
  }
  const double limit = std::max(64.0 * (1 << 20), 1024.0 * static_cast<double>(file_bytes));
  if (values * static_cast<double>(value_bytes) > limit) {
    KILN_FAIL(where, ": claims ", values, " values, far more than a file of ", file_bytes,
              " bytes can hold (damaged or hostile file)");
  }
  return static_cast<std::size_t>(values);
}

std::vector<float> H5DatasetView::read_floats() const {
  std::vector<float> out(checked_numel(sizeof(float)));
  read_numeric(H5T_NATIVE_FLOAT, out.data());
  return out;
}

std::vector<double> H5DatasetView::read_doubles() const {
  std::vector<double> out(checked_numel(sizeof(double)));
  read_numeric(H5T_NATIVE_DOUBLE, out.data());
  return out;
}

// ---------------------------------------------------------------------------------------------
// H5Group: links and datasets

H5Group::H5Group(H5Handle group, std::string file, std::string path)
    : group_(std::move(group)), file_(std::move(file)), path_(std::move(path)) {}

std::string H5Group::where(const std::string& rel) const { return file_ + ": " + join(path_, rel); }

bool H5Group::exists(const std::string& rel) const {
  const std::vector<std::string> parts = split_path(rel);
  if (parts.empty()) return true;
  std::string prefix;
  for (const std::string& part : parts) {
    prefix = prefix.empty() ? part : prefix + "/" + part;
    // Negative (an error) when a middle component is not a group: then it does not exist either.
    if (H5Lexists(group_.id(), prefix.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
  }
  return true;
}

namespace {
H5I_type_t object_type(hid_t loc, const std::string& rel) {
  H5Handle object(H5Oopen(loc, rel.c_str(), H5P_DEFAULT));
  if (!object.valid()) {
    H5Eclear2(H5E_DEFAULT);
    return H5I_BADID;
  }
  return H5Iget_type(object.id());
}
}  // namespace

bool H5Group::has_group(const std::string& rel) const {
  return exists(rel) && object_type(group_.id(), rel) == H5I_GROUP;
}

bool H5Group::has_dataset(const std::string& rel) const {
  return exists(rel) && object_type(group_.id(), rel) == H5I_DATASET;
}

std::vector<std::string> H5Group::children() const {
  H5G_info_t info;
  if (H5Gget_info(group_.id(), &info) < 0) fail(where(), "cannot list the group");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(group_.id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr,
                                           0, H5P_DEFAULT);
    if (len < 0) fail(where(), "cannot read a link name");
    std::string name(static_cast<std::size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(group_.id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(),
                       H5P_DEFAULT);
    name.resize(static_cast<std::size_t>(len));
    // HDF5 cannot create such a link, so only damage makes one; and every caller opens children
    // by name, where "/" would mean the root (a cycle: a fuzzed Keras 3 file recursed until the
    // stack overflowed) and "a/b" a grandchild the survey never listed.
    if (name.empty() || name == "." || name.find('/') != std::string::npos) {
      KILN_FAIL(where(), ": damaged HDF5 file: a link named '", name,
                "' (a link's name cannot be empty, '.' or hold '/')");
    }
    names.push_back(std::move(name));
  }
  return names;
}

bool H5Group::is_hard_link(const std::string& name) const {
  H5L_info_t info;
  if (H5Lget_info(group_.id(), name.c_str(), &info, H5P_DEFAULT) < 0) {
    fail(where(name), "cannot read the link");
  }
  return info.type == H5L_TYPE_HARD;
}

H5Group H5Group::group(const std::string& rel) const {
  if (!has_group(rel)) KILN_FAIL(where(rel), ": no such group");
  H5Handle g(H5Gopen2(group_.id(), rel.c_str(), H5P_DEFAULT));
  if (!g.valid()) fail(where(rel), "cannot open the group");
  return H5Group(std::move(g), file_, join(path_, rel));
}

H5Group H5Group::create_group(const std::string& rel) {
  H5Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.id(), 1);
  H5Handle g(H5Gcreate2(group_.id(), rel.c_str(), lcpl.id(), H5P_DEFAULT, H5P_DEFAULT));
  if (!g.valid()) fail(where(rel), "cannot create the group");
  return H5Group(std::move(g), file_, join(path_, rel));
}

H5DatasetView H5Group::dataset(const std::string& rel) const {
  if (!has_dataset(rel)) KILN_FAIL(where(rel), ": no such dataset");
  H5Handle d(H5Dopen2(group_.id(), rel.c_str(), H5P_DEFAULT));
  if (!d.valid()) fail(where(rel), "cannot open the dataset");
  return H5DatasetView(std::move(d), file_, join(path_, rel));
}

namespace {
void write_numeric_dataset(hid_t group, const std::string& where, const std::string& rel,
                           const std::vector<std::int64_t>& shape, hid_t file_type, hid_t mem_type,
                           const void* data) {
  H5Handle space = make_space(shape);
  H5Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.id(), 1);
  H5Handle d(
      H5Dcreate2(group, rel.c_str(), file_type, space.id(), lcpl.id(), H5P_DEFAULT, H5P_DEFAULT));
  if (!d.valid()) fail(where, "cannot create the dataset");
  if (product(shape) > 0 && H5Dwrite(d.id(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    fail(where, "cannot write the dataset");
  }
}
}  // namespace

void H5Group::write_dataset(const std::string& rel, const std::vector<std::int64_t>& shape,
                            const float* data) {
  write_numeric_dataset(group_.id(), where(rel), rel, shape, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                        data);
}

void H5Group::write_dataset(const std::string& rel, const std::vector<std::int64_t>& shape,
                            const double* data) {
  write_numeric_dataset(group_.id(), where(rel), rel, shape, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                        data);
}

// ---------------------------------------------------------------------------------------------
// H5Group: attributes

bool H5Group::has_attribute(const std::string& name) const {
  const htri_t r = H5Aexists(group_.id(), name.c_str());
  if (r < 0) fail(where(), "cannot look up attribute '" + name + "'");
  return r > 0;
}

std::vector<std::string> H5Group::attribute_names() const {
  std::vector<std::string> names;
  hsize_t idx = 0;
  const herr_t r = H5Aiterate2(
      group_.id(), H5_INDEX_NAME, H5_ITER_INC, &idx,
      [](hid_t, const char* name, const H5A_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->emplace_back(name);
        return 0;
      },
      &names);
  if (r < 0) fail(where(), "cannot list the attributes");
  return names;
}

H5Handle H5Group::open_attribute(const std::string& name) const {
  if (!has_attribute(name)) KILN_FAIL(where(), ": no attribute '", name, "'");
  H5Handle a(H5Aopen(group_.id(), name.c_str(), H5P_DEFAULT));
  if (!a.valid()) fail(where(), "cannot open attribute '" + name + "'");
  return a;
}

std::vector<std::string> H5Group::read_string_array_attribute(const std::string& name) const {
  const std::string what = "attribute '" + name + "'";
  H5Handle attr = open_attribute(name);
  H5Handle space(H5Aget_space(attr.id()));
  H5Handle type(H5Aget_type(attr.id()));
  if (!space.valid() || !type.valid()) fail(where(), "cannot inspect " + what);
  const std::size_t each = std::max<std::size_t>(H5Tget_size(type.id()), sizeof(char*));
  const std::int64_t n = attribute_numel(space.id(), each, where(), name);
  if (n == 0) return {};  // h5py writes [] as an empty float64 array
  const H5T_class_t c = H5Tget_class(type.id());
  if (c != H5T_STRING)
    KILN_FAIL(where(), ": ", what, " holds ", class_name(c), " values, not strings");

  std::vector<std::string> out;
  if (H5Tis_variable_str(type.id()) > 0) {
    H5Handle mem(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.id(), H5T_VARIABLE);
    H5Tset_cset(mem.id(), H5Tget_cset(type.id()));  // HDF5 converts no ASCII <-> UTF-8
    std::vector<char*> ptrs(static_cast<std::size_t>(n), nullptr);
    if (H5Aread(attr.id(), mem.id(), ptrs.data()) < 0) fail(where(), "cannot read " + what);
    for (char* p : ptrs) out.emplace_back(p != nullptr ? p : "");
    // H5Treclaim is declared but not exported by Debian's 1.10 build; this one is in every 1.x.
    H5Dvlen_reclaim(mem.id(), space.id(), H5P_DEFAULT, ptrs.data());
    return out;
  }
  // Fixed-length: read with the file's own type (same size and padding), so that HDF5 converts
  // nothing; a NUL-terminated conversion would cut the last character of a full-length string.
  const std::size_t size = H5Tget_size(type.id());
  const H5T_str_t pad = H5Tget_strpad(type.id());
  std::vector<char> buf(size * static_cast<std::size_t>(n));
  if (H5Aread(attr.id(), type.id(), buf.data()) < 0) fail(where(), "cannot read " + what);
  for (std::int64_t i = 0; i < n; ++i) {
    const char* s = buf.data() + static_cast<std::size_t>(i) * size;
    std::size_t len = std::find(s, s + size, '\0') - s;
    if (pad == H5T_STR_SPACEPAD) {
      while (len > 0 && s[len - 1] == ' ') --len;
    }
    out.emplace_back(s, len);
  }
  return out;
}

std::string H5Group::read_string_attribute(const std::string& name) const {
  const std::vector<std::string> v = read_string_array_attribute(name);
  if (v.size() != 1)
    KILN_FAIL(where(), ": attribute '", name, "' holds ", v.size(), " strings, expected one");
  return v[0];
}

namespace {
// Reads a numeric attribute of n elements as mem_type, checking it has exactly `expect` (or any
// number when expect < 0).
template <typename T>
std::vector<T> read_numeric_attribute(hid_t attr, hid_t mem_type, bool integer_only,
                                      const std::string& where, const std::string& name,
                                      std::int64_t expect) {
  H5Handle space(H5Aget_space(attr));
  H5Handle type(H5Aget_type(attr));
  if (!space.valid() || !type.valid()) fail(where, "cannot inspect attribute '" + name + "'");
  const H5T_class_t c = H5Tget_class(type.id());
  if (c != H5T_INTEGER && (integer_only || c != H5T_FLOAT)) {
    KILN_FAIL(where, ": attribute '", name, "' holds ", class_name(c), " values, expected ",
              integer_only ? "integers" : "numbers");
  }
  const std::int64_t n = attribute_numel(space.id(), sizeof(T), where, name);
  if (expect >= 0 && n != expect) {
    KILN_FAIL(where, ": attribute '", name, "' holds ", n, " values, expected ", expect);
  }
  std::vector<T> out(static_cast<std::size_t>(n));
  if (n > 0 && H5Aread(attr, mem_type, out.data()) < 0) {
    fail(where, "cannot read attribute '" + name + "'");
  }
  return out;
}
}  // namespace

double H5Group::read_double_attribute(const std::string& name) const {
  H5Handle a = open_attribute(name);
  return read_numeric_attribute<double>(a.id(), H5T_NATIVE_DOUBLE, false, where(), name, 1)[0];
}

std::int64_t H5Group::read_int64_attribute(const std::string& name) const {
  H5Handle a = open_attribute(name);
  return read_numeric_attribute<std::int64_t>(a.id(), H5T_NATIVE_INT64, true, where(), name, 1)[0];
}

std::vector<std::uint64_t> H5Group::read_uint64_array_attribute(const std::string& name) const {
  H5Handle a = open_attribute(name);
  return read_numeric_attribute<std::uint64_t>(a.id(), H5T_NATIVE_UINT64, true, where(), name, -1);
}

void H5Group::write_attribute(const std::string& name, std::int64_t file_type,
                              std::int64_t mem_type, const std::vector<std::int64_t>& dims,
                              const void* data) {
  if (has_attribute(name) && H5Adelete(group_.id(), name.c_str()) < 0) {
    fail(where(), "cannot replace attribute '" + name + "'");
  }
  H5Handle space = make_space(dims);
  H5Handle a(
      H5Acreate2(group_.id(), name.c_str(), file_type, space.id(), H5P_DEFAULT, H5P_DEFAULT));
  if (!a.valid()) fail(where(), "cannot create attribute '" + name + "'");
  if (product(dims) > 0 && H5Awrite(a.id(), mem_type, data) < 0) {
    fail(where(), "cannot write attribute '" + name + "'");
  }
}

void H5Group::write_string_array_attribute(const std::string& name,
                                           const std::vector<std::string>& v) {
  const std::int64_t n = static_cast<std::int64_t>(v.size());
  if (v.empty()) {
    write_attribute(name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {0}, nullptr);
    return;
  }
  std::size_t size = 1;  // numpy gives all-empty strings dtype 'S1'
  for (const std::string& s : v) size = std::max(size, s.size());
  std::vector<char> buf(size * v.size(), '\0');
  for (std::size_t i = 0; i < v.size(); ++i) std::memcpy(&buf[i * size], v[i].data(), v[i].size());
  H5Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.id(), size);
  H5Tset_strpad(type.id(), H5T_STR_NULLPAD);
  write_attribute(name, type.id(), type.id(), {n}, buf.data());
}

void H5Group::write_string_attribute(const std::string& name, const std::string& value) {
  H5Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.id(), H5T_VARIABLE);
  const char* p = value.c_str();
  write_attribute(name, type.id(), type.id(), {}, &p);
}

void H5Group::write_double_attribute(const std::string& name, double value) {
  write_attribute(name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {}, &value);
}

void H5Group::write_int64_attribute(const std::string& name, std::int64_t value) {
  write_attribute(name, H5T_STD_I64LE, H5T_NATIVE_INT64, {}, &value);
}

void H5Group::write_uint64_array_attribute(const std::string& name,
                                           const std::vector<std::uint64_t>& v) {
  write_attribute(name, H5T_STD_U64LE, H5T_NATIVE_UINT64, {static_cast<std::int64_t>(v.size())},
                  v.data());
}

// ---------------------------------------------------------------------------------------------
// H5File

H5File H5File::open_read(const std::string& path) {
  ensure_hdf5_quiet();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) KILN_FAIL(path, ": no such file");
  if (std::filesystem::is_directory(path, ec)) KILN_FAIL(path, ": is a directory, not a file");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    char magic[4] = {};
    std::ifstream(path, std::ios::binary).read(magic, sizeof magic);
    if (std::memcmp(magic, "PK\x03\x04", 4) == 0) {
      KILN_FAIL(path, ": not an HDF5 file but a zip archive (a Keras 3 .keras model?); Kiln ",
                "reads those when the file's name ends in .keras");
    }
    KILN_FAIL(path, ": not an HDF5 file");
  }
  survey_hdf5_in_child(path, [&path] { return open_read_surveyed(path); });
  return open_read_surveyed(path);
}

H5File H5File::open_read_surveyed(const std::string& path) {
  ensure_hdf5_quiet();
  H5Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!f.valid()) fail(path, "cannot open the HDF5 file (truncated or damaged?)");
  return H5File(std::move(f), path);
}

H5File H5File::create(const std::string& path) {
  ensure_hdf5_quiet();
  // "Semi" close: closing the file fails while anything in it is still open, rather than
  // silently leaving it open, so close() really means written and closed.
  H5Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_fclose_degree(fapl.id(), H5F_CLOSE_SEMI);
  H5Handle f(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id()));
  if (!f.valid()) fail(path, "cannot create the file");
  return H5File(std::move(f), path);
}

H5File H5File::open_image(const std::vector<char>& image, const std::string& name) {
  // The child inherits the image: an archive's weights are surveyed as a file on disk is.
  survey_hdf5_in_child(
      name, [&] { return open_image_surveyed(image, name); },
      static_cast<std::int64_t>(image.size()));
  return open_image_surveyed(image, name);
}

H5File H5File::open_image_surveyed(const std::vector<char>& image, const std::string& name) {
  ensure_hdf5_quiet();
  H5Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
  if (H5Pset_fapl_core(fapl.id(), 1 << 20, 0) < 0 ||
      H5Pset_file_image(fapl.id(), const_cast<char*>(image.data()), image.size()) < 0) {
    fail(name, "cannot hand the file's image to HDF5");
  }
  // NOTE: H5Fis_hdf5 cannot look at an image, so "not HDF5" is the signature check here.
  static const char kSignature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  if (image.size() < sizeof kSignature || std::memcmp(image.data(), kSignature, 8) != 0) {
    KILN_FAIL(name, ": not an HDF5 file");
  }
  // NOTE: HDF5 takes an in-memory file of the same name as one still open for that file, so
  // each image gets a name of its own; `name` is only for messages.
  static std::uint64_t images = 0;
  const std::string internal = "kiln-image-" + std::to_string(++images);
  H5Handle f(H5Fopen(internal.c_str(), H5F_ACC_RDONLY, fapl.id()));
  if (!f.valid()) fail(name, "cannot open the HDF5 file (truncated or damaged?)");
  return H5File(std::move(f), name);
}

H5File H5File::create_in_memory(const std::string& name) {
  ensure_hdf5_quiet();
  H5Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_fclose_degree(fapl.id(), H5F_CLOSE_SEMI);
  if (H5Pset_fapl_core(fapl.id(), 1 << 20, 0) < 0) fail(name, "cannot set up an in-memory file");
  static std::uint64_t files = 0;  // unique, as in open_image
  const std::string internal = "kiln-memory-" + std::to_string(++files);
  H5Handle f(H5Fcreate(internal.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id()));
  if (!f.valid()) fail(name, "cannot create the in-memory file");
  return H5File(std::move(f), name);
}

std::vector<char> H5File::image() const {
  KILN_CHECK(file_.valid(), path_, ": the file is closed");
  if (H5Fflush(file_.id(), H5F_SCOPE_GLOBAL) < 0) fail(path_, "cannot flush the file");
  const ssize_t size = H5Fget_file_image(file_.id(), nullptr, 0);
  if (size < 0) fail(path_, "cannot get the file's image");
  std::vector<char> out(static_cast<std::size_t>(size));
  if (H5Fget_file_image(file_.id(), out.data(), out.size()) != size) {
    fail(path_, "cannot copy the file's image");
  }
  return out;
}

H5Group H5File::root() const {
  KILN_CHECK(file_.valid(), path_, ": the file is closed");
  H5Handle g(H5Gopen2(file_.id(), "/", H5P_DEFAULT));
  if (!g.valid()) fail(path_, "cannot open the root group");
  return H5Group(std::move(g), path_, "/");
}

void H5File::close() {
  if (!file_.valid()) return;
  const hid_t id = file_.id();
  const bool flushed = H5Fflush(id, H5F_SCOPE_LOCAL) >= 0;
  const bool closed = H5Fclose(id) >= 0;
  if (closed) file_.release();  // closed: the destructor must not close it again
  if (!flushed || !closed) fail(path_, closed ? "cannot flush the file" : "cannot close the file");
}

// ---------------------------------------------------------------------------------------------

void write_h5_atomically(const std::string& path, const std::function<void(H5Group& root)>& fill) {
  std::vector<char> bytes;
  {
    H5File file = H5File::create_in_memory(path);
    {
      H5Group root = file.root();
      fill(root);
    }
    bytes = file.image();
    file.close();
  }
  write_file_atomically(path, bytes.data(), bytes.size());
}

}  // namespace kiln
