#include "weights/checkpoint.h"

#include <set>

#include "base/error.h"
#include "weights/hdf5.h"
#include "weights/model_weights.h"

namespace kiln {

namespace {

constexpr std::int64_t kFormat = 1;  // bump when the layout of kiln_training changes

// The model's name for each of the optimiser's parameters, in the optimiser's order.
std::vector<std::string> parameter_names(const Module& model, const Optimizer& optimizer,
                                         const std::string& source) {
  const auto named = model.named_parameters();
  std::vector<std::string> out;
  for (std::size_t i = 0; i < optimizer.params().size(); ++i) {
    const Tensor& p = optimizer.params()[i];
    std::string name;
    for (const auto& [n, t] : named) {
      if (t.same(p)) name = n;
    }
    KILN_CHECK(!name.empty(), source, ": the optimiser's parameter ", i, " ", p.shape(),
               " is not a parameter of the model");
    out.push_back(name);
  }
  return out;
}

void write_tensor(H5Group& g, const std::string& rel, const Tensor& t) {
  if (t.dtype() == DType::Float64) {
    const std::vector<double> v = t.to_vector<double>();
    g.write_dataset(rel, t.shape().dims(), v.data());
  } else {
    const std::vector<float> v = t.dtype() == DType::Float32
                                     ? t.to_vector<float>()
                                     : t.to(DType::Float32).to_vector<float>();
    g.write_dataset(rel, t.shape().dims(), v.data());
  }
}

// A saved slot for a parameter like `param`, on the CPU in its dtype; undefined when absent.
Tensor read_tensor(const H5Group& g, const std::string& rel, const Tensor& param) {
  if (!g.has_dataset(rel)) return Tensor();
  const H5DatasetView ds = g.dataset(rel);
  KILN_CHECK(ds.shape() == param.shape().dims(), g.file(), ": ", ds.path(), " has shape ",
             Shape(ds.shape()), " but the parameter has ", param.shape());
  if (param.dtype() == DType::Float64) return Tensor::from_vector(param.shape(), ds.read_doubles());
  return Tensor::from_vector(param.shape(), ds.read_floats()).to(param.dtype());
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
  return out.empty() ? "none" : out;
}

}  // namespace

void save_checkpoint(const std::string& path, const Module& model, const Optimizer& optimizer,
                     const TrainingState& state) {
  const std::vector<std::string> slot_names = optimizer.slot_names();
  const std::vector<std::string> names = parameter_names(model, optimizer, path);
  std::vector<std::string> rng_names;
  std::vector<std::uint64_t> rng_values;
  for (const auto& [name, seed_offset] : state.rng_states) {
    for (const std::string& seen : rng_names) {
      KILN_CHECK(seen != name, path, ": two random streams are named '", name, "'");
    }
    rng_names.push_back(name);
    rng_values.push_back(seed_offset.first);
    rng_values.push_back(seed_offset.second);
  }
  std::vector<std::string> note_keys, note_values;
  for (const auto& [key, value] : state.notes) {
    note_keys.push_back(key);
    note_values.push_back(value);
  }
  const KerasWeights weights = model_to_keras_weights(model);

  write_h5_atomically(path, [&](H5Group& root) {
    write_keras_weights(root, weights);
    H5Group training = root.create_group("kiln_training");
    training.write_int64_attribute("format", kFormat);
    training.write_int64_attribute("epoch", state.epoch);
    training.write_double_attribute("best_metric", state.best_metric);
    training.write_int64_attribute("epochs_without_improvement", state.epochs_without_improvement);
    training.write_string_array_attribute("rng_names", rng_names);
    training.write_uint64_array_attribute("rng_states", rng_values);
    training.write_string_array_attribute("note_keys", note_keys);
    training.write_string_array_attribute("note_values", note_values);

    H5Group opt = training.create_group("optimizer");
    opt.write_string_attribute("name", optimizer.kind());
    opt.write_int64_attribute("step_count", optimizer.step_count());
    opt.write_double_attribute("learning_rate", optimizer.learning_rate());
    for (const auto& [key, value] : optimizer.resume_options())
      opt.write_double_attribute(key, value);
    opt.write_string_array_attribute("parameters", names);
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::vector<Tensor> slots = optimizer.slots(i);
      for (std::size_t s = 0; s < slots.size(); ++s) {
        if (slots[s].defined()) write_tensor(opt, slot_names[s] + "/" + names[i], slots[s]);
      }
    }
  });
}

TrainingState load_checkpoint(const std::string& path, Module& model, Optimizer& optimizer) {
  const H5File file = H5File::open_read(path);
  const H5Group root = file.root();
  KILN_CHECK(root.has_group("kiln_training"), path, ": not a Kiln checkpoint (no kiln_training ",
             "group); a plain weights file loads with load_weights");
  const H5Group training = root.group("kiln_training");
  const std::int64_t format = training.read_int64_attribute("format");
  KILN_CHECK(format == kFormat, path, ": checkpoint format ", format, ", this Kiln reads ",
             kFormat);

  TrainingState state;
  state.epoch = training.read_int64_attribute("epoch");
  state.best_metric = training.read_double_attribute("best_metric");
  state.epochs_without_improvement = training.read_int64_attribute("epochs_without_improvement");
  const std::vector<std::string> rng_names = training.read_string_array_attribute("rng_names");
  const std::vector<std::uint64_t> rng_values = training.read_uint64_array_attribute("rng_states");
  KILN_CHECK(rng_values.size() == 2 * rng_names.size(), path, ": ", rng_names.size(),
             " random streams but ", rng_values.size(), " state values (2 each)");
  for (std::size_t i = 0; i < rng_names.size(); ++i) {
    state.rng_states.push_back({rng_names[i], {rng_values[2 * i], rng_values[2 * i + 1]}});
  }
  const std::vector<std::string> note_keys = training.read_string_array_attribute("note_keys");
  const std::vector<std::string> note_values = training.read_string_array_attribute("note_values");
  KILN_CHECK(note_keys.size() == note_values.size(), path, ": ", note_keys.size(),
             " note keys but ", note_values.size(), " values");
  for (std::size_t i = 0; i < note_keys.size(); ++i)
    state.notes.emplace_back(note_keys[i], note_values[i]);

  // The optimiser: same kind, same options, same parameters.
  KILN_CHECK(training.has_group("optimizer"), path, ": kiln_training has no optimizer group");
  const H5Group opt = training.group("optimizer");
  const std::string kind = optimizer.kind();
  const std::string saved_kind = opt.read_string_attribute("name");
  KILN_CHECK(saved_kind == kind, path, ": the checkpoint's optimiser is ", saved_kind, ", not ",
             kind);
  for (const auto& [key, value] : optimizer.resume_options()) {
    const double saved = opt.read_double_attribute(key);
    KILN_CHECK(saved == value, path, ": the checkpoint's ", kind, " has ", key, " = ", saved,
               " but this optimiser has ", value, " (build it with the saved options to resume)");
  }
  const std::vector<std::string> names = parameter_names(model, optimizer, path);
  const std::vector<std::string> saved_names = opt.read_string_array_attribute("parameters");
  const std::set<std::string> current(names.begin(), names.end()),
      saved(saved_names.begin(), saved_names.end());
  std::vector<std::string> not_saved, not_current;
  for (const std::string& n : names) {
    if (!saved.count(n)) not_saved.push_back(n);
  }
  for (const std::string& n : saved_names) {
    if (!current.count(n)) not_current.push_back(n);
  }
  KILN_CHECK(not_saved.empty(), path, ": no optimiser state for parameter(s) ",
             join_names(not_saved), " (the checkpoint's optimiser updated ",
             join_names(saved_names), ")");
  KILN_CHECK(not_current.empty(), path, ": the checkpoint's optimiser also updated ",
             join_names(not_current), ", which this optimiser does not");
  const std::vector<std::string> slot_names = optimizer.slot_names();
  std::vector<std::vector<Tensor>> slots(names.size());  // [parameter][slot]
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::size_t present = 0;
    for (const std::string& slot : slot_names) {
      slots[i].push_back(read_tensor(opt, slot + "/" + names[i], optimizer.params()[i]));
      present += slots[i].back().defined() ? 1 : 0;
    }
    // A parameter's slots are created together, at its first update: some without the others is
    // a damaged file.
    KILN_CHECK(present == 0 || present == slot_names.size(), path, ": parameter '", names[i],
               "' has only ", present, " of its ", kind, " slots (", join_names(slot_names), ")");
  }
  const std::int64_t step_count = opt.read_int64_attribute("step_count");
  const double learning_rate = opt.read_double_attribute("learning_rate");
  KILN_CHECK(step_count >= 0 && learning_rate >= 0, path, ": step count ", step_count,
             " and learning rate ", learning_rate, " must be non-negative");

  // Everything is read and checked; the weights go in all or nothing, then the optimiser.
  LoadOptions strict;
  strict.allow_unused = false;
  assign_keras_weights(read_keras_weights(root), model, strict, path);
  optimizer.set_step_count(step_count);
  optimizer.set_learning_rate(learning_rate);
  for (std::size_t i = 0; i < names.size(); ++i) optimizer.set_slots(i, slots[i]);
  return state;
}

}  // namespace kiln
