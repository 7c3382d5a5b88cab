#pragma once
// Reading collected metric families in tests: the sample of a family with exactly the given
// labels, and its value.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "obs/metrics.h"

namespace steerdns::testing {

// The sample of family `name` whose labels are exactly `labels` (in order), or null.
inline const prometheus::ClientMetric* find_sample(const obs::Families& fams,
                                                   const std::string& name,
                                                   const obs::Labels& labels) {
  for (const auto& f : fams) {
    if (f.name != name) {
      continue;
    }
    for (const auto& m : f.metric) {
      bool same = m.label.size() == labels.size();
      for (size_t i = 0; same && i < labels.size(); ++i) {
        same = m.label[i].name == labels[i].first && m.label[i].value == labels[i].second;
      }
      if (same) {
        return &m;
      }
    }
  }
  return nullptr;
}

// A counter's (name ending in _total) or gauge's value; NaN and a test failure when absent.
inline double sample_value(const obs::Families& fams, const std::string& name,
                           const obs::Labels& labels) {
  const prometheus::ClientMetric* m = find_sample(fams, name, labels);
  if (m == nullptr) {
    ADD_FAILURE() << "no sample " << name;
    return std::nan("");
  }
  return name.ends_with("_total") ? m->counter.value : m->gauge.value;
}

}  // namespace steerdns::testing
