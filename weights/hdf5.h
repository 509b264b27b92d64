// A small RAII layer over the HDF5 C API: what Keras weight files and Kiln checkpoints need, no
// more. Every failure throws kiln::Error naming the file and the object path ("model.h5:
// /block1_conv1: ..."), with HDF5's own innermost reason appended; HDF5's automatic printing of
// its error stack is switched off once, on first use. Handles close in destructors, which never
// throw (an explicit H5File::close() reports a failed close).
//
// This header includes nothing from HDF5: handles are held as std::int64_t (hid_t in HDF5 1.10+,
// checked where they are used). Not thread-safe: the serial HDF5 library is used from one thread
// at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kiln {

// One open HDF5 identifier of any kind, closed with the call that matches its kind.
class H5Handle {
 public:
  H5Handle() = default;
  explicit H5Handle(std::int64_t id) : id_(id) {}
  ~H5Handle() { reset(); }
  H5Handle(H5Handle&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  H5Handle& operator=(H5Handle&& o) noexcept;
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;

  std::int64_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() noexcept;  // closes; errors are ignored (destructor path)
  // Gives up ownership without closing (after an explicit, checked close).
  std::int64_t release() noexcept {
    const std::int64_t id = id_;
    id_ = -1;
    return id;
  }

 private:
  std::int64_t id_ = -1;
};

// An open dataset: its shape and its values, converted by HDF5 to the type asked for.
class H5DatasetView {
 public:
  H5DatasetView(H5Handle dataset, std::string file, std::string path);

  const std::string& path() const { return path_; }
  std::vector<std::int64_t> shape() const;  // dims as stored; {} for a scalar
  std::int64_t numel() const;
  std::size_t stored_value_bytes() const;  // bytes per value in the file (8 for float64)
  // Whether its values live in other files: external raw storage (H5Pset_external) or a
  // virtual dataset's sources. Keras writes neither.
  bool stored_in_other_files() const;
  // Where the dataset's object header is in the file: one object under two hard links has one
  // address (the survey reads each dataset's values once).
  std::uint64_t address() const;
  // Any integer or floating-point dataset, converted; throws for other types (strings, ...), and
  // before allocating when the shape claims far more values than the file could hold.
  std::vector<float> read_floats() const;
  std::vector<double> read_doubles() const;

 private:
  void read_numeric(std::int64_t mem_type, void* out) const;
  std::size_t checked_numel(std::size_t value_bytes) const;

  H5Handle dataset_;
  std::string file_, path_;
};

// An open group (the root group of a file included). `rel` arguments are paths relative to this
// group, with '/' between components ("block1_conv1/kernel:0").
class H5Group {
 public:
  H5Group(H5Handle group, std::string file, std::string path);

  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }  // "/" or "/model_weights/dense"

  // Whether every component of rel exists (a missing middle component is not an error).
  bool exists(const std::string& rel) const;
  bool has_group(const std::string& rel) const;
  bool has_dataset(const std::string& rel) const;
  std::vector<std::string> children() const;  // names of the links here, in name order
  // Whether the link `name` here is a hard link (what h5py and Keras write), not a soft link or
  // an external link into another file; asking never follows the link.
  bool is_hard_link(const std::string& name) const;

  H5Group group(const std::string& rel) const;
  H5Group create_group(const std::string& rel);  // makes missing intermediate groups too
  H5DatasetView dataset(const std::string& rel) const;
  // A contiguous dataset of `shape` (row-major, `data` holds its product of values); intermediate
  // groups in rel are created, as h5py does for a name with '/' in it.
  void write_dataset(const std::string& rel, const std::vector<std::int64_t>& shape,
                     const float* data);
  void write_dataset(const std::string& rel, const std::vector<std::int64_t>& shape,
                     const double* data);

  // Attributes of this group.
  bool has_attribute(const std::string& name) const;
  std::vector<std::string> attribute_names() const;
  // Strings of a 1-D (or scalar) string attribute, fixed-length (as Keras writes them, NUL
  // padding stripped) or variable-length. An attribute of any type with no elements (h5py writes
  // an empty list as a float64 array of shape (0,)) reads as {}.
  std::vector<std::string> read_string_array_attribute(const std::string& name) const;
  std::string read_string_attribute(const std::string& name) const;  // exactly one string
  double read_double_attribute(const std::string& name) const;       // one number
  std::int64_t read_int64_attribute(const std::string& name) const;  // one integer
  std::vector<std::uint64_t> read_uint64_array_attribute(const std::string& name) const;

  // Writers replace an attribute of the same name.
  // Fixed-length, NUL-padded ASCII strings of the longest one's length: numpy's 'S<n>', what
  // Keras writes for layer_names and weight_names. An empty list is written as h5py writes
  // np.asarray([]): a float64 array of shape (0,).
  void write_string_array_attribute(const std::string& name, const std::vector<std::string>& v);
  // A variable-length scalar string: what h5py 3 writes for a Python bytes value.
  void write_string_attribute(const std::string& name, const std::string& value);
  void write_double_attribute(const std::string& name, double value);
  void write_int64_attribute(const std::string& name, std::int64_t value);
  void write_uint64_array_attribute(const std::string& name, const std::vector<std::uint64_t>& v);

  std::int64_t id() const { return group_.id(); }

 private:
  std::string where(const std::string& rel = "") const;  // "file: /path/rel"
  H5Handle open_attribute(const std::string& name) const;
  void write_attribute(const std::string& name, std::int64_t file_type, std::int64_t mem_type,
                       const std::vector<std::int64_t>& dims, const void* data);

  H5Handle group_;
  std::string file_, path_;
};

class H5File {
 public:
  // Read-only. Throws a one-line error naming the file when it is missing, not HDF5 (with a hint
  // for a Keras .keras zip archive), truncated or otherwise unreadable, or when reading it crashes
  // the HDF5 library in a child process first (weights/hdf5_survey.h).
  static H5File open_read(const std::string& path);
  // The same without that survey: for the survey's child itself.
  static H5File open_read_surveyed(const std::string& path);
  // Creates (truncating) a file to write. Prefer write_h5_atomically.
  static H5File create(const std::string& path);
  // The same in memory (the core driver, no backing store), for a file inside an archive:
  // `image` is the whole file (copied), `name` is what errors call it ("m.keras/model.weights.h5").
  // Surveyed as open_read is.
  static H5File open_image(const std::vector<char>& image, const std::string& name);
  static H5File open_image_surveyed(const std::vector<char>& image, const std::string& name);
  // A file in memory only, named `name` in errors; image() gives its bytes. write_h5_atomically
  // builds files this way so that HDF5 never meets a disk error: after a failed write HDF5 can
  // neither close the file nor exit cleanly (its atexit handler crashed on such a file, found by
  // tests/apps/hard_stop_test.cpp).
  static H5File create_in_memory(const std::string& name);

  ~H5File() = default;  // the handle closes itself; errors then are ignored
  H5File(H5File&&) noexcept = default;
  H5File& operator=(H5File&&) noexcept = default;

  const std::string& path() const { return path_; }
  H5Group root() const;
  // Flushes and closes, throwing on failure (a file being written must be closed this way before
  // anyone trusts it). Every group and dataset opened from it must be closed already.
  void close();
  // The bytes of a file made by create_in_memory, as they would be on disk (flushed first).
  std::vector<char> image() const;

 private:
  H5File(H5Handle file, std::string path) : file_(std::move(file)), path_(std::move(path)) {}

  H5Handle file_;
  std::string path_;
};

// Writes a new HDF5 file at `path` so that no failure leaves a half-written or clobbered file:
// fill() builds it in memory, then write_file_atomically (weights/durable_file.h) puts it in
// place: temporary, fsync, rename, fsync of the directory. On any failure an existing file at
// `path` is untouched, no temporary is left, and the error is rethrown.
void write_h5_atomically(const std::string& path, const std::function<void(H5Group& root)>& fill);

}  // namespace kiln
