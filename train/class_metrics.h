// Per-class accuracy and the confusion matrix of an evaluation (nkd_eval --metrics
// per_class,confusion), with the data set's class names where it has them, written as CSV; the
// confusion matrix also as a PNG heat map through tools/plot_curves.py.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "train/run_config.h"

namespace nkd::train {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t classes);
  void add(int64_t label, int64_t predicted);  // one image: its label and its top-1 class
  int64_t count(int64_t label, int64_t predicted) const { return counts_[size_t(label * classes_ + predicted)]; }
  int64_t images_of(int64_t label) const;
  int64_t classes() const { return classes_; }

 private:
  int64_t classes_;
  std::vector<int64_t> counts_;  // row: the label, column: the prediction
};

// Fashion-MNIST's ten names; an ImageNet-layout set's class folder names (of a folder scan, or of
// root/<train split> when the val set is a list); else the class indices.
std::vector<std::string> class_names(const DataConfig& data, const data::Dataset& dataset, int64_t classes);

// class,name,images,correct,accuracy (accuracy in %, empty for a class without images).
std::string per_class_csv(const ConfusionMatrix& m, const std::vector<std::string>& names);
// A header row "true\predicted,<names>", then one row per true class: its name and the counts.
std::string confusion_csv(const ConfusionMatrix& m, const std::vector<std::string>& names);
// The per-class accuracies as a table for the terminal.
std::string per_class_table(const ConfusionMatrix& m, const std::vector<std::string>& names);

// Writes <dir>/<stem>_per_class.csv and/or <dir>/<stem>_confusion.csv (+ _confusion.png drawn by
// the plot tool when it and matplotlib are found; else says how to draw it) and reports on out.
void write_class_metrics(const ConfusionMatrix& m, const std::vector<std::string>& names, bool per_class,
                         bool confusion, const std::string& dir, const std::string& stem, std::ostream& out);

}  // namespace nkd::train
